/* Config engine: YAML (libyaml document API) into table-described structs. */
#include "libcommon/cfg.h"

#include "libcommon/buf.h"
#include "libcommon/log.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define PATH_MAX_ 256
#define REDACTED "[redacted]"

struct line_rec {
	char *path; /* owned display path */
	int line;   /* 1-based */
};

struct lc_cfg_ctx {
	const char *file;       /* borrowed, for messages */
	char *err;              /* caller's buffer */
	size_t errlen;
	bool failed;            /* err holds the first error */
	bool in_default;        /* parsing a default: no line numbers */
	const void *user;       /* borrowed, see lc_cfg_user() */
	struct line_rec *lines; /* where each path appeared, owned */
	size_t nlines, caplines;
};

static int set_value(struct lc_cfg_ctx *c, const struct lc_cfg_key *k,
		     void *obj, yaml_document_t *doc, yaml_node_t *node,
		     const char *path);
static int walk_map(struct lc_cfg_ctx *c, const struct lc_cfg_table *t,
		    void *obj, yaml_document_t *doc, yaml_node_t *map,
		    const char *rel, const char *disp, bool *seen);

/* ---- errors and line bookkeeping ---- */

__attribute__((format(printf, 4, 0))) static int
vfail_at(struct lc_cfg_ctx *c, int line, const char *path, const char *fmt,
	 va_list ap)
{
	if (c->failed || !c->err || c->errlen == 0)
		return -1;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	char where[64] = "";
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	if (path && *path)
		snprintf(c->err, c->errlen, "%s%s: %s: %s", c->file, where,
			 path, msg);
	else
		snprintf(c->err, c->errlen, "%s%s: %s", c->file, where, msg);
	c->failed = true;
	return -1;
}

__attribute__((format(printf, 4, 5))) static void
fail_at_(struct lc_cfg_ctx *c, int line, const char *path, const char *fmt,
	 ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_at(c, line, path, fmt, ap);
	va_end(ap);
}

/* Record the error; -1 (visibly, for the static analyzer). */
#define fail_at(...) (fail_at_(__VA_ARGS__), -1)

static int find_line(const struct lc_cfg_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->nlines; i++)
		if (strcmp(c->lines[i].path, path) == 0)
			return c->lines[i].line;
	return 0;
}

int lc_cfg_fail(struct lc_cfg_ctx *ctx, const char *path, const char *fmt,
		...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_at(ctx, find_line(ctx, path), path, fmt, ap);
	va_end(ap);
	return -1;
}

const void *lc_cfg_user(const struct lc_cfg_ctx *ctx)
{
	return ctx->user;
}

static int record_line(struct lc_cfg_ctx *c, const char *path, int line)
{
	if (c->in_default)
		return 0;
	if (c->nlines == c->caplines) {
		size_t cap = c->caplines ? c->caplines * 2 : 64;
		struct line_rec *n = realloc(c->lines, cap * sizeof(*n));
		if (!n)
			return fail_at(c, line, path, "out of memory");
		c->lines = n;
		c->caplines = cap;
	}
	char *p = strdup(path);
	if (!p)
		return fail_at(c, line, path, "out of memory");
	c->lines[c->nlines++] = (struct line_rec){ p, line };
	return 0;
}

static void ctx_release(struct lc_cfg_ctx *c)
{
	for (size_t i = 0; i < c->nlines; i++)
		free(c->lines[i].path);
	free(c->lines);
	c->lines = NULL;
	c->nlines = c->caplines = 0;
}

static int node_line(const struct lc_cfg_ctx *c, const yaml_node_t *n)
{
	return c->in_default ? 0 : (int)n->start_mark.line + 1;
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* An empty value ("key:"), "~" or "null", unquoted. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	return !*s || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0;
}

static int join_path(struct lc_cfg_ctx *c, char *out, const char *prefix,
		     const char *name, int line)
{
	int n = *prefix ? snprintf(out, PATH_MAX_, "%s.%s", prefix, name)
			: snprintf(out, PATH_MAX_, "%s", name);
	if (n < 0 || n >= PATH_MAX_)
		return fail_at(c, line, prefix, "key too long");
	return 0;
}

static int index_path(struct lc_cfg_ctx *c, char *out, const char *path,
		      size_t i, int line)
{
	int n = snprintf(out, PATH_MAX_, "%s[%zu]", path, i);
	if (n < 0 || n >= PATH_MAX_)
		return fail_at(c, line, path, "key too long");
	return 0;
}

/* ---- environment expansion ---- */

/* Expand ${NAME} and ${NAME:-text}; "$$" is "$". *out is malloc'd. */
static int expand_env(struct lc_cfg_ctx *c, const char *in, const char *path,
		      int line, char **out)
{
	static const char name_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "abcdefghijklmnopqrstuvwxyz"
					 "0123456789_";
	struct lc_buf b;
	lc_buf_init(&b, LC_CFG_FILE_MAX);
	const char *p = in;
	while (*p) {
		const char *d = strchr(p, '$');
		if (!d) {
			if (lc_buf_append_str(&b, p) != 0)
				goto too_long;
			break;
		}
		if (lc_buf_append(&b, p, (size_t)(d - p)) != 0)
			goto too_long;
		if (d[1] != '{') {
			if (lc_buf_append_str(&b, "$") != 0)
				goto too_long;
			p = d + (d[1] == '$' ? 2 : 1);
			continue;
		}
		const char *name = d + 2;
		size_t nlen = strspn(name, name_chars);
		const char *q = name + nlen, *def = NULL;
		if (q[0] == ':' && q[1] == '-') {
			def = q + 2;
			q = strchr(def, '}');
		}
		if (!q || *q != '}' || nlen == 0 || nlen > 200 ||
		    isdigit((unsigned char)name[0])) {
			lc_buf_release(&b);
			return fail_at(c, line, path,
				       "bad ${NAME} or ${NAME:-default}");
		}
		char var[256];
		memcpy(var, name, nlen);
		var[nlen] = '\0';
		const char *v = getenv(var);
		int rv;
		if (def && (!v || !*v)) {
			rv = lc_buf_append(&b, def, (size_t)(q - def));
		} else if (!v) {
			lc_buf_release(&b);
			return fail_at(c, line, path,
				       "environment variable '%s' is not set",
				       var);
		} else {
			rv = lc_buf_append_str(&b, v);
		}
		if (rv != 0)
			goto too_long;
		p = q + 1;
	}
	*out = lc_buf_detach(&b, NULL);
	if (!*out)
		goto too_long;
	return 0;
too_long:
	lc_buf_release(&b);
	return fail_at(c, line, path, "value too long");
}

/* The scalar's text, NUL-checked and env-expanded (caller frees). */
static int scalar_text(struct lc_cfg_ctx *c, const yaml_node_t *n,
		       const char *path, char **out)
{
	const char *s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length)
		return fail_at(c, node_line(c, n), path,
			       "value contains a NUL byte");
	return expand_env(c, s, path, node_line(c, n), out);
}

/* ---- scalars ---- */

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!isdigit((unsigned char)s[0]) && s[0] != '-' && s[0] != '+')
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	if (!*s || s[strspn(s, "0123456789+-.eE")] ||
	    !strpbrk(s, "0123456789"))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool parse_time(const char *s, int *out)
{
	if (strlen(s) != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return false;
	int h = (s[0] - '0') * 10 + s[1] - '0';
	int m = (s[3] - '0') * 10 + s[4] - '0';
	if (h > 23 || m > 59)
		return false;
	*out = h * 60 + m;
	return true;
}

char *lc_cfg_time_str(int minutes, char out[6])
{
	if (minutes < 0 || minutes > 24 * 60 - 1)
		minutes = 0;
	snprintf(out, 6, "%02d:%02d", minutes / 60, minutes % 60);
	return out;
}

static int find_value(const char *const *values, const char *s)
{
	for (int i = 0; values && values[i]; i++)
		if (strcmp(values[i], s) == 0)
			return i;
	return -1;
}

static int fail_not_in(struct lc_cfg_ctx *c, int line, const char *path,
		       const char *const *values, const char *got)
{
	struct lc_buf b;
	lc_buf_init(&b, 400);
	for (int i = 0; values[i]; i++)
		if (lc_buf_printf(&b, "%s%s", i ? ", " : "", values[i]) != 0)
			break;
	fail_at_(c, line, path, "expected one of %s; got \"%.60s\"",
		b.data ? b.data : "", got);
	lc_buf_release(&b);
	return -1;
}

static const char *int_kind(const struct lc_cfg_key *k)
{
	if (k->imin >= 1)
		return "a positive integer";
	return k->imin == 0 ? "a non-negative integer" : "an integer";
}

/* Parse s (taken: freed or stored) into the field of scalar key k. */
static int parse_scalar(struct lc_cfg_ctx *c, const struct lc_cfg_key *k,
			void *f, char *s, const char *path, int line)
{
	int rv = 0, idx;
	int64_t i;
	double d;
	switch (k->type) {
	case LC_CFG_BOOL:
		if (!parse_bool(s, f))
			rv = fail_at(c, line, path,
				     "expected true or false, got \"%.60s\"",
				     s);
		break;
	case LC_CFG_INT:
		if (!parse_i64(s, &i))
			rv = fail_at(c, line, path,
				     "expected %s, got \"%.60s\"", int_kind(k),
				     s);
		else if (i < k->imin || i > k->imax)
			rv = fail_at(c, line, path,
				     "must be between %lld and %lld, got %lld",
				     (long long)k->imin, (long long)k->imax,
				     (long long)i);
		else
			*(int64_t *)f = i;
		break;
	case LC_CFG_DOUBLE:
		if (!parse_double(s, &d))
			rv = fail_at(c, line, path,
				     "expected a number, got \"%.60s\"", s);
		else if (d < k->dmin || d > k->dmax)
			rv = fail_at(c, line, path,
				     "must be between %g and %g, got %g",
				     k->dmin, k->dmax, d);
		else
			*(double *)f = d;
		break;
	case LC_CFG_STRING:
		free(*(char **)f);
		*(char **)f = s;
		return 0;
	case LC_CFG_ENUM:
		idx = find_value(k->values, s);
		if (idx < 0)
			rv = fail_not_in(c, line, path, k->values, s);
		else
			*(int *)f = idx;
		break;
	case LC_CFG_TIME:
		if (!parse_time(s, f))
			rv = fail_at(c, line, path,
				     "expected a time \"HH:MM\" from 00:00 to "
				     "23:59, got \"%.60s\"",
				     s);
		break;
	default:
		rv = fail_at(c, line, path, "not a scalar type");
	}
	free(s);
	return rv;
}

/* ---- lists ---- */

static void strlist_release(struct lc_cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void list_release(const struct lc_cfg_table *sub,
			 struct lc_cfg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		lc_cfg_release(sub, (char *)l->items + i * sub->size);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top -
			n->data.sequence.items.start);
}

static int set_strlist(struct lc_cfg_ctx *c, const struct lc_cfg_key *k,
		       struct lc_cfg_strlist *out, yaml_document_t *doc,
		       yaml_node_t *node, const char *path)
{
	struct lc_cfg_strlist l = { NULL, 0 };
	size_t n = seq_len(node);
	l.v = calloc(n ? n : 1, sizeof(char *));
	if (!l.v)
		return fail_at(c, 0, path, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(
			doc, node->data.sequence.items.start[i]);
		char ipath[PATH_MAX_];
		int line = node_line(c, it);
		if (index_path(c, ipath, path, i, line) != 0 ||
		    record_line(c, ipath, line) != 0)
			goto fail;
		if (it->type != YAML_SCALAR_NODE) {
			fail_at_(c, line, ipath, "expected a scalar, got %s",
				kind_name(it));
			goto fail;
		}
		if (scalar_text(c, it, ipath, &l.v[l.n]) != 0)
			goto fail;
		const char *s = l.v[l.n++];
		if (k->values && find_value(k->values, s) < 0) {
			fail_not_in(c, line, ipath, k->values, s);
			goto fail;
		}
		for (size_t j = 0; (k->flags & LC_CFG_UNIQUE) && j + 1 < l.n;
		     j++) {
			if (strcmp(l.v[j], s) == 0) {
				fail_at_(c, line, ipath,
					"\"%.60s\" is listed twice", s);
				goto fail;
			}
		}
	}
	strlist_release(out);
	*out = l;
	return 0;
fail:
	strlist_release(&l);
	return -1;
}

static int apply_defaults(struct lc_cfg_ctx *c, const struct lc_cfg_table *t,
			  void *obj, const char *prefix);

/* One list element: defaults, then its mapping, then required keys. */
static int set_item(struct lc_cfg_ctx *c, const struct lc_cfg_table *sub,
		    void *item, yaml_document_t *doc, yaml_node_t *it,
		    const char *ipath)
{
	int line = node_line(c, it);
	if (it->type != YAML_MAPPING_NODE)
		return fail_at(c, line, ipath, "expected a mapping, got %s",
			       kind_name(it));
	bool *seen = calloc(sub->nkeys ? sub->nkeys : 1, sizeof(bool));
	if (!seen)
		return fail_at(c, line, ipath, "out of memory");
	int rv = apply_defaults(c, sub, item, ipath);
	if (rv == 0)
		rv = walk_map(c, sub, item, doc, it, "", ipath, seen);
	for (size_t i = 0; rv == 0 && i < sub->nkeys; i++)
		if ((sub->keys[i].flags & LC_CFG_REQUIRED) && !seen[i])
			rv = fail_at(c, line, ipath,
				     "missing required key '%s'",
				     sub->keys[i].path);
	free(seen);
	return rv;
}

static int set_list(struct lc_cfg_ctx *c, const struct lc_cfg_key *k,
		    struct lc_cfg_list *out, yaml_document_t *doc,
		    yaml_node_t *node, const char *path)
{
	const struct lc_cfg_table *sub = k->sub;
	struct lc_cfg_list l = { NULL, 0 };
	size_t n = seq_len(node);
	l.items = calloc(n ? n : 1, sub->size);
	if (!l.items)
		return fail_at(c, 0, path, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(
			doc, node->data.sequence.items.start[i]);
		char ipath[PATH_MAX_];
		l.n++; /* so a failure releases this item too */
		if (index_path(c, ipath, path, i, node_line(c, it)) != 0 ||
		    record_line(c, ipath, node_line(c, it)) != 0 ||
		    set_item(c, sub, (char *)l.items + i * sub->size, doc, it,
			     ipath) != 0) {
			list_release(sub, &l);
			return -1;
		}
	}
	list_release(sub, out);
	*out = l;
	return 0;
}

/* ---- values and mappings ---- */

static int set_value(struct lc_cfg_ctx *c, const struct lc_cfg_key *k,
		     void *obj, yaml_document_t *doc, yaml_node_t *node,
		     const char *path)
{
	void *f = (char *)obj + k->offset;
	int line = node_line(c, node);
	if (k->type == LC_CFG_STRLIST || k->type == LC_CFG_LIST) {
		if (is_null(node)) { /* "key:", an empty list */
			if (k->type == LC_CFG_LIST)
				list_release(k->sub, f);
			else
				strlist_release(f);
			return 0;
		}
		if (node->type != YAML_SEQUENCE_NODE)
			return fail_at(c, line, path,
				       "expected a list, got %s",
				       kind_name(node));
		return k->type == LC_CFG_LIST
			       ? set_list(c, k, f, doc, node, path)
			       : set_strlist(c, k, f, doc, node, path);
	}
	if (node->type != YAML_SCALAR_NODE)
		return fail_at(c, line, path, "expected a scalar, got %s",
			       kind_name(node));
	char *s;
	if (scalar_text(c, node, path, &s) != 0)
		return -1;
	return parse_scalar(c, k, f, s, path, line);
}

static const struct lc_cfg_key *find_key(const struct lc_cfg_table *t,
					 const char *rel)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i].path, rel) == 0)
			return &t->keys[i];
	return NULL;
}

static bool is_section(const struct lc_cfg_table *t, const char *rel)
{
	size_t n = strlen(rel);
	for (size_t i = 0; i < t->nkeys; i++)
		if (strncmp(t->keys[i].path, rel, n) == 0 &&
		    t->keys[i].path[n] == '.')
			return true;
	return false;
}

/* The first earlier key of the mapping equal to pairs[i]'s, or NULL. */
static yaml_node_t *earlier_key(yaml_document_t *doc, yaml_node_t *map,
				yaml_node_pair_t *p, const char *key)
{
	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p;
	     q++) {
		yaml_node_t *kn = yaml_document_get_node(doc, q->key);
		if (kn->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)kn->data.scalar.value, key) == 0)
			return kn;
	}
	return NULL;
}

/*
 * Walk a mapping at table-relative path rel (shown as disp): keys of t
 * are set, prefixes of keys are sections walked in turn, anything else
 * is an error. seen (may be NULL) marks the keys that were given.
 */
static int walk_map(struct lc_cfg_ctx *c, const struct lc_cfg_table *t,
		    void *obj, yaml_document_t *doc, yaml_node_t *map,
		    const char *rel, const char *disp, bool *seen)
{
	if (is_null(map))
		return 0; /* an empty section */
	if (map->type != YAML_MAPPING_NODE)
		return fail_at(c, node_line(c, map), disp,
			       "expected a mapping, got %s", kind_name(map));
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(doc, p->value);
		int line = node_line(c, kn);
		if (kn->type != YAML_SCALAR_NODE)
			return fail_at(c, line, disp,
				       "expected a scalar key, got %s",
				       kind_name(kn));
		const char *key = (const char *)kn->data.scalar.value;
		char rpath[PATH_MAX_], dpath[PATH_MAX_];
		if (join_path(c, rpath, rel, key, line) != 0 ||
		    join_path(c, dpath, disp, key, line) != 0)
			return -1;
		yaml_node_t *first = earlier_key(doc, map, p, key);
		if (first)
			return fail_at(c, line, dpath,
				       "duplicate key (first at line %d)",
				       node_line(c, first));
		if (record_line(c, dpath, line) != 0)
			return -1;
		const struct lc_cfg_key *k = NULL;
		/* "a.b: 1" must not pass for "a: {b: 1}" */
		if (*key && !strchr(key, '.'))
			k = find_key(t, rpath);
		int rv;
		if (k) {
			if (seen)
				seen[k - t->keys] = true;
			rv = set_value(c, k, obj, doc, vn, dpath);
		} else if (*key && !strchr(key, '.') && is_section(t, rpath)) {
			rv = walk_map(c, t, obj, doc, vn, rpath, dpath, seen);
		} else {
			rv = fail_at(c, line, dpath, "unknown key");
		}
		if (rv != 0)
			return -1;
	}
	return 0;
}

/* ---- documents, defaults, validation ---- */

/* Parse one YAML document; a second one in the same text is an error. */
static int parse_doc(struct lc_cfg_ctx *c, const char *text, size_t len,
		     yaml_document_t *doc)
{
	yaml_parser_t p;
	yaml_document_t extra;
	int rv = 0;
	if (!yaml_parser_initialize(&p))
		return fail_at(c, 0, NULL, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, doc))
		goto syntax;
	if (!yaml_parser_load(&p, &extra)) {
		yaml_document_delete(doc);
		goto syntax;
	}
	if (yaml_document_get_root_node(&extra)) {
		rv = fail_at(c, (int)extra.start_mark.line + 1, NULL,
			     "only one YAML document is allowed");
		yaml_document_delete(doc);
	}
	yaml_document_delete(&extra);
	yaml_parser_delete(&p);
	return rv;
syntax:
	if (p.context)
		fail_at_(c, (int)p.problem_mark.line + 1, NULL,
			"yaml syntax error: %s (%s at line %d)",
			p.problem ? p.problem : "?", p.context,
			(int)p.context_mark.line + 1);
	else
		fail_at_(c, (int)p.problem_mark.line + 1, NULL,
			"yaml syntax error: %s", p.problem ? p.problem : "?");
	yaml_parser_delete(&p);
	return -1;
}

static int set_default(struct lc_cfg_ctx *c, const struct lc_cfg_key *k,
		       void *obj, const char *path)
{
	void *f = (char *)obj + k->offset;
	char *s;
	if (!k->def && k->type != LC_CFG_STRING)
		return 0; /* zero, or an empty list */
	if (k->type != LC_CFG_STRLIST && k->type != LC_CFG_LIST) {
		if (expand_env(c, k->def ? k->def : "", path, 0, &s) != 0)
			return -1;
		return parse_scalar(c, k, f, s, path, 0);
	}
	yaml_document_t doc;
	if (parse_doc(c, k->def, strlen(k->def), &doc) != 0)
		return -1;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	int rv = root ? set_value(c, k, obj, &doc, root, path) : 0;
	yaml_document_delete(&doc);
	return rv;
}

static int apply_defaults(struct lc_cfg_ctx *c, const struct lc_cfg_table *t,
			  void *obj, const char *prefix)
{
	bool saved = c->in_default;
	int rv = 0;
	c->in_default = true;
	for (size_t i = 0; rv == 0 && i < t->nkeys; i++) {
		char path[PATH_MAX_];
		rv = join_path(c, path, prefix, t->keys[i].path, 0);
		if (rv == 0)
			rv = set_default(c, &t->keys[i], obj, path);
	}
	c->in_default = saved;
	return rv;
}

static int validate_obj(struct lc_cfg_ctx *c, const struct lc_cfg_table *t,
			const void *obj, const char *prefix)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct lc_cfg_key *k = &t->keys[i];
		const char *f = (const char *)obj + k->offset;
		char path[PATH_MAX_];
		if (join_path(c, path, prefix, k->path, 0) != 0)
			return -1;
		bool empty =
			(k->type == LC_CFG_STRING && !**(char *const *)f) ||
			(k->type == LC_CFG_STRLIST &&
			 ((const struct lc_cfg_strlist *)f)->n == 0) ||
			(k->type == LC_CFG_LIST &&
			 ((const struct lc_cfg_list *)f)->n == 0);
		if ((k->flags & LC_CFG_NONEMPTY) && empty)
			return lc_cfg_fail(c, path, "must not be empty");
		if (k->type == LC_CFG_LIST) {
			const struct lc_cfg_list *l = (const void *)f;
			for (size_t j = 0; j < l->n; j++) {
				char ipath[PATH_MAX_];
				if (index_path(c, ipath, path, j, 0) != 0 ||
				    validate_obj(c, k->sub,
						 (const char *)l->items +
							 j * k->sub->size,
						 ipath) != 0)
					return -1;
			}
		}
		if (k->validate && k->validate(c, path, f) != 0)
			return -1;
	}
	return t->check ? t->check(c, prefix, obj) : 0;
}

/* ---- secrets ---- */

/* The user:password part of scheme://user:password@host, or NULL. */
static const char *userinfo(const char *url, size_t *len)
{
	const char *p = strstr(url, "://");
	if (!p)
		return NULL;
	p += 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memrchr(p, '@', n);
	if (!at)
		return NULL;
	*len = (size_t)(at - p);
	return p;
}

static void redact_userinfo(const char *url)
{
	size_t n;
	const char *u = userinfo(url, &n);
	if (!u)
		return;
	const char *colon = memchr(u, ':', n);
	char secret[512];
	size_t start = colon ? (size_t)(colon + 1 - u) : 0;
	if (n - start >= sizeof(secret))
		return;
	memcpy(secret, u + start, n - start);
	secret[n - start] = '\0';
	lc_log_redact(secret);
}

static void register_secrets(const struct lc_cfg_table *t, const void *obj)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct lc_cfg_key *k = &t->keys[i];
		const char *f = (const char *)obj + k->offset;
		if (k->type == LC_CFG_STRING && (k->flags & LC_CFG_SECRET))
			lc_log_redact(*(char *const *)f);
		if (k->type == LC_CFG_STRING &&
		    (k->flags & LC_CFG_SECRET_USERINFO))
			redact_userinfo(*(char *const *)f);
		if (k->type == LC_CFG_STRLIST && (k->flags & LC_CFG_SECRET)) {
			const struct lc_cfg_strlist *l = (const void *)f;
			for (size_t j = 0; j < l->n; j++)
				lc_log_redact(l->v[j]);
		}
		if (k->type == LC_CFG_LIST) {
			const struct lc_cfg_list *l = (const void *)f;
			for (size_t j = 0; j < l->n; j++)
				register_secrets(k->sub,
						 (const char *)l->items +
							 j * k->sub->size);
		}
	}
}

/* ---- loading ---- */

static int load(const struct lc_cfg_table *t, struct lc_cfg_ctx *c,
		const char *text, size_t len, void *obj)
{
	memset(obj, 0, t->size);
	int rv = apply_defaults(c, t, obj, "");
	if (rv == 0 && text) {
		yaml_document_t doc;
		rv = parse_doc(c, text, len, &doc);
		if (rv == 0) {
			yaml_node_t *root = yaml_document_get_root_node(&doc);
			if (root && !is_null(root) &&
			    root->type != YAML_MAPPING_NODE)
				rv = fail_at(c, node_line(c, root), NULL,
					     "expected a mapping at the top "
					     "level, got %s",
					     kind_name(root));
			else if (root)
				rv = walk_map(c, t, obj, &doc, root, "", "",
					      NULL);
			yaml_document_delete(&doc);
		}
	}
	if (rv == 0)
		rv = validate_obj(c, t, obj, "");
	if (rv == 0)
		register_secrets(t, obj);
	else
		lc_cfg_release(t, obj);
	ctx_release(c);
	return rv;
}

static void ctx_init(struct lc_cfg_ctx *c, const char *file, const void *user,
		     char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->file = file;
	c->user = user;
	c->err = err;
	c->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
}

int lc_cfg_load_string(const struct lc_cfg_table *t, const char *name,
		       const char *yaml, void *obj, const void *user,
		       char *err, size_t errlen)
{
	struct lc_cfg_ctx c;
	ctx_init(&c, name, user, err, errlen);
	return load(t, &c, yaml, yaml ? strlen(yaml) : 0, obj);
}

int lc_cfg_load_file(const struct lc_cfg_table *t, const char *path,
		     void *obj, const void *user, char *err, size_t errlen)
{
	struct lc_cfg_ctx c;
	ctx_init(&c, path, user, err, errlen);
	memset(obj, 0, t->size);
	FILE *fp = fopen(path, "rb");
	if (!fp && errno == ENOENT) {
		log_warn("config.missing", LF_S("file", path),
			 LF_S("detail", "using the built-in defaults"));
		return load(t, &c, NULL, 0, obj);
	}
	if (!fp) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	struct lc_buf b;
	lc_buf_init(&b, LC_CFG_FILE_MAX);
	char chunk[8192];
	int rv = 0;
	for (;;) {
		size_t n = fread(chunk, 1, sizeof(chunk), fp);
		if (n == 0)
			break;
		rv = lc_buf_append(&b, chunk, n);
		if (rv != 0)
			break;
	}
	if (rv != 0) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
			 LC_CFG_FILE_MAX);
	} else if (ferror(fp)) {
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 strerror(errno));
		rv = -1;
	} else {
		rv = load(t, &c, b.data ? b.data : "", b.len, obj);
	}
	fclose(fp);
	lc_buf_release(&b);
	return rv;
}

void lc_cfg_release(const struct lc_cfg_table *t, void *obj)
{
	if (!obj)
		return;
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct lc_cfg_key *k = &t->keys[i];
		void *f = (char *)obj + k->offset;
		if (k->type == LC_CFG_STRING)
			free(*(char **)f);
		else if (k->type == LC_CFG_STRLIST)
			strlist_release(f);
		else if (k->type == LC_CFG_LIST)
			list_release(k->sub, f);
	}
	memset(obj, 0, t->size);
}

/* ---- diff ---- */

static bool obj_equal(const struct lc_cfg_table *t, const void *a,
		      const void *b);

static bool str_equal(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool field_equal(const struct lc_cfg_key *k, const void *fa,
			const void *fb)
{
	const struct lc_cfg_strlist *sa = fa, *sb = fb;
	const struct lc_cfg_list *la = fa, *lb = fb;
	switch (k->type) {
	case LC_CFG_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case LC_CFG_INT:
		return *(const int64_t *)fa == *(const int64_t *)fb;
	case LC_CFG_DOUBLE:
		return memcmp(fa, fb, sizeof(double)) == 0;
	case LC_CFG_STRING:
		return str_equal(*(char *const *)fa, *(char *const *)fb);
	case LC_CFG_ENUM:
	case LC_CFG_TIME:
		return *(const int *)fa == *(const int *)fb;
	case LC_CFG_STRLIST:
		if (sa->n != sb->n)
			return false;
		for (size_t i = 0; i < sa->n; i++)
			if (!str_equal(sa->v[i], sb->v[i]))
				return false;
		return true;
	case LC_CFG_LIST:
		if (la->n != lb->n)
			return false;
		for (size_t i = 0; i < la->n; i++)
			if (!obj_equal(k->sub,
				       (const char *)la->items +
					       i * k->sub->size,
				       (const char *)lb->items +
					       i * k->sub->size))
				return false;
		return true;
	}
	return false;
}

static bool obj_equal(const struct lc_cfg_table *t, const void *a,
		      const void *b)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (!field_equal(&t->keys[i],
				 (const char *)a + t->keys[i].offset,
				 (const char *)b + t->keys[i].offset))
			return false;
	return true;
}

int lc_cfg_diff(const struct lc_cfg_table *t, const void *old_obj,
		const void *new_obj, unsigned mask, lc_cfg_diff_fn fn,
		void *arg)
{
	int count = 0;
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct lc_cfg_key *k = &t->keys[i];
		if (mask && !(k->flags & mask))
			continue;
		if (field_equal(k, (const char *)old_obj + k->offset,
				(const char *)new_obj + k->offset))
			continue;
		count++;
		if (fn)
			fn(k->path, k->flags, arg);
	}
	return count;
}

/* ---- dump ---- */

/* The object that holds path's last part (created as needed). */
static cJSON *parent_for(cJSON *root, const char *path, const char **leaf)
{
	cJSON *cur = root;
	for (const char *p = path;;) {
		const char *dot = strchr(p, '.');
		if (!dot) {
			*leaf = p;
			return cur;
		}
		char part[PATH_MAX_];
		size_t n = (size_t)(dot - p);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, part);
		if (!next)
			next = cJSON_AddObjectToObject(cur, part);
		if (!next || !cJSON_IsObject(next))
			return NULL;
		cur = next;
		p = dot + 1;
	}
}

static cJSON *string_json(const struct lc_cfg_key *k, const char *s)
{
	size_t n = 0;
	if (!s || !*s)
		return cJSON_CreateString("");
	if (k->flags & LC_CFG_SECRET)
		return cJSON_CreateString(REDACTED);
	const char *u = (k->flags & LC_CFG_SECRET_USERINFO) ? userinfo(s, &n)
							    : NULL;
	if (u) {
		struct lc_buf b;
		lc_buf_init(&b, strlen(s) + sizeof(REDACTED));
		cJSON *j = NULL;
		if (lc_buf_append(&b, s, (size_t)(u - s)) == 0 &&
		    lc_buf_append_str(&b, REDACTED) == 0 &&
		    lc_buf_append_str(&b, u + n) == 0)
			j = cJSON_CreateString(b.data);
		lc_buf_release(&b);
		return j;
	}
	return cJSON_CreateString(s);
}

static cJSON *value_json(const struct lc_cfg_key *k, const void *f)
{
	const struct lc_cfg_strlist *sl = f;
	const struct lc_cfg_list *l = f;
	char hhmm[6];
	cJSON *arr;
	switch (k->type) {
	case LC_CFG_BOOL:
		return cJSON_CreateBool(*(const bool *)f);
	case LC_CFG_INT:
		return cJSON_CreateNumber((double)*(const int64_t *)f);
	case LC_CFG_DOUBLE:
		return cJSON_CreateNumber(*(const double *)f);
	case LC_CFG_STRING:
		return string_json(k, *(char *const *)f);
	case LC_CFG_ENUM:
		return cJSON_CreateString(k->values[*(const int *)f]);
	case LC_CFG_TIME:
		return cJSON_CreateString(
			lc_cfg_time_str(*(const int *)f, hhmm));
	case LC_CFG_STRLIST:
		arr = cJSON_CreateArray();
		for (size_t i = 0; arr && i < sl->n; i++) {
			cJSON *s = string_json(k, sl->v[i]);
			if (!s || !cJSON_AddItemToArray(arr, s)) {
				cJSON_Delete(s);
				cJSON_Delete(arr);
				return NULL;
			}
		}
		return arr;
	case LC_CFG_LIST:
		arr = cJSON_CreateArray();
		for (size_t i = 0; arr && i < l->n; i++) {
			cJSON *o = cJSON_CreateObject();
			if (o && !cJSON_AddItemToArray(arr, o)) {
				cJSON_Delete(o);
				o = NULL;
			}
			if (!o || lc_cfg_dump(k->sub,
					      (const char *)l->items +
						      i * k->sub->size,
					      o) != 0) {
				cJSON_Delete(arr); /* and o with it */
				return NULL;
			}
		}
		return arr;
	}
	return NULL;
}

int lc_cfg_dump(const struct lc_cfg_table *t, const void *obj,
		struct cJSON *root)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct lc_cfg_key *k = &t->keys[i];
		const char *leaf;
		cJSON *parent = parent_for(root, k->path, &leaf);
		if (!parent)
			return -1;
		cJSON *v = value_json(k, (const char *)obj + k->offset);
		if (!v || !cJSON_AddItemToObject(parent, leaf, v)) {
			cJSON_Delete(v);
			return -1;
		}
	}
	return 0;
}
