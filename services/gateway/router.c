/* Route matching: patterns with {param} and {rest*} segments. */
#include "services/gateway/router.h"

#include <stdio.h>
#include <string.h>

static bool is_param(const char *s, size_t n)
{
	return n >= 3 && s[0] == '{' && s[n - 1] == '}';
}

static bool is_rest(const char *s, size_t n)
{
	return is_param(s, n) && n >= 4 && s[n - 2] == '*';
}

/* A path tail (after a '/') made of non-empty segments only. */
static bool segments_nonempty(const char *s)
{
	if (*s == '\0' || *s == '/')
		return false;
	for (; *s; s++)
		if (s[0] == '/' && (s[1] == '/' || s[1] == '\0'))
			return false;
	return true;
}

static void add_param(struct gw_match *m, const char *name, size_t nlen,
		      const char *v, size_t vlen)
{
	struct gw_param *p = &m->params[m->nparams++];
	p->name = name + 1; /* inside the braces, without a trailing '*' */
	p->name_len = nlen - 2 - (name[nlen - 2] == '*');
	p->value = v;
	p->value_len = vlen;
}

/*
 * Match path against one pattern; *score gets a bit per literal segment,
 * earlier segments weighing more, so that comparing scores compares
 * specificity at the first segment where two patterns differ.
 */
static bool match_one(const char *pat, const char *path, struct gw_match *m,
		      unsigned *score)
{
	unsigned i = 0;

	*score = 0;
	m->nparams = 0;
	if (*pat != '/' || *path != '/')
		return false;
	while (*pat) {
		if (*path != '/' || i >= GW_MAX_SEGMENTS)
			return false;
		const char *ps = pat + 1, *vs = path + 1;
		size_t pl = strcspn(ps, "/"), vl = strcspn(vs, "/");

		if (vl == 0)
			return false;
		if (is_rest(ps, pl)) {
			if (!segments_nonempty(vs) ||
			    m->nparams >= GW_MAX_PARAMS)
				return false;
			vl = strlen(vs);
			add_param(m, ps, pl, vs, vl);
		} else if (is_param(ps, pl)) {
			if (m->nparams >= GW_MAX_PARAMS)
				return false;
			add_param(m, ps, pl, vs, vl);
		} else if (pl != vl || memcmp(ps, vs, pl) != 0) {
			return false;
		} else {
			*score |= 1u << (GW_MAX_SEGMENTS - 1 - i);
		}
		pat = ps + pl;
		path = vs + vl;
		i++;
	}
	return *path == '\0';
}

static void allow_add(char *allow, size_t len, const char *method)
{
	size_t used = strlen(allow), mlen = strlen(method);
	const char *p = allow;

	while ((p = strstr(p, method)) != NULL) {
		bool start = p == allow || p[-1] == ' ';
		bool end = p[mlen] == '\0' || p[mlen] == ',';
		if (start && end)
			return;
		p += mlen;
	}
	if (used + mlen + 3 > len)
		return;
	snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method);
}

enum gw_match_result gw_router_match(const struct gw_route *const *tables,
				     const char *method, const char *path,
				     struct gw_match *out, char *allow,
				     size_t allowlen)
{
	struct gw_match m;
	unsigned score, best = 0;
	bool found = false, path_known = false;
	char scratch[1];

	if (!allow || allowlen == 0) {
		allow = scratch;
		allowlen = sizeof(scratch);
	}
	allow[0] = '\0';
	for (size_t t = 0; tables[t]; t++) {
		for (const struct gw_route *r = tables[t]; r->method; r++) {
			if (!match_one(r->pattern, path, &m, &score))
				continue;
			path_known = true;
			allow_add(allow, allowlen, r->method);
			if (strcmp(r->method, method) != 0)
				continue;
			if (!found || score > best) {
				*out = m;
				out->route = r;
				best = score;
				found = true;
			}
		}
	}
	if (found)
		return GW_MATCH_OK;
	return path_known ? GW_MATCH_NO_METHOD : GW_MATCH_NO_PATH;
}

bool gw_router_pattern_valid(const char *pattern)
{
	unsigned nparams = 0, nseg = 0;

	if (!pattern || pattern[0] != '/')
		return false;
	for (const char *p = pattern; *p;) {
		const char *s = p + 1;
		size_t n = strcspn(s, "/");

		if (n == 0 || ++nseg > GW_MAX_SEGMENTS)
			return false;
		if (is_param(s, n)) {
			if (++nparams > GW_MAX_PARAMS)
				return false;
			if (is_rest(s, n) && s[n] != '\0')
				return false;
		} else if (memchr(s, '{', n) || memchr(s, '}', n)) {
			return false;
		}
		p = s + n;
	}
	return true;
}

static const struct {
	unsigned role;
	const char *name;
} roles[] = {
	{ GW_ROLE_ADMIN, "admin" },
	{ GW_ROLE_TRADER, "trader" },
	{ GW_ROLE_VIEWER, "viewer" },
};

const char *gw_role_name(unsigned role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(*roles); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return NULL;
}

unsigned gw_role_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(roles) / sizeof(*roles); i++)
		if (strcmp(roles[i].name, s) == 0)
			return roles[i].role;
	return 0;
}

char *gw_roles_format(unsigned mask, unsigned flags, char *out,
		      size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	if (flags & GW_R_PUBLIC) {
		snprintf(out, outlen, "public");
		return out;
	}
	for (size_t i = 0; i < sizeof(roles) / sizeof(*roles); i++) {
		if (!(mask & roles[i].role) || used >= outlen)
			continue;
		int n = snprintf(out + used, outlen - used, "%s%s",
				 used ? "," : "", roles[i].name);
		if (n > 0)
			used += (size_t)n;
	}
	return out;
}
