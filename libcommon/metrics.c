/* Metrics registry and the Prometheus text exposition format 0.0.4. */
#include "libcommon/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/buf.h"
#include "libcommon/log.h"

const double lc_metrics_default_buckets[] = { .005, .01, .025, .05, .1, .25,
					      .5,   1,   2.5,  5,   10 };
const size_t lc_metrics_default_nbuckets =
	sizeof(lc_metrics_default_buckets) / sizeof(double);

struct lc_series {
	struct lc_metric *fam;   /* the family it belongs to */
	struct lc_series *hnext; /* next in the same hash bucket */
	uint64_t hash;           /* of the label values */
	double value;            /* counter or gauge value; histogram sum */
	uint64_t count;          /* histogram: number of observations */
	uint64_t *buckets;       /* histogram: per-bucket counts, not
				  * cumulative, nbounds + 1 (+Inf last);
				  * points into this allocation */
	char *values[];          /* nlabels label values, same allocation */
};

struct lc_metric {
	struct lc_metric *next;     /* registration order */
	enum lc_metric_type type;
	char *name;                 /* owned */
	char *help;                 /* owned */
	char **labels;              /* owned, nlabels names */
	size_t nlabels;
	double *bounds;             /* owned, histogram bounds without +Inf */
	size_t nbounds;
	lc_metrics_read_fn fn;      /* callback family, else NULL */
	void *arg;                  /* borrowed, for fn */
	struct lc_series **series;  /* owned array, creation order */
	size_t nseries;
	size_t cap;                 /* of series */
	struct lc_series **table;   /* hash buckets, ntable a power of two */
	size_t ntable;
	bool warned;                /* a lookup failure was logged */
};

struct lc_metrics {
	struct lc_metric *head; /* first registered */
	struct lc_metric *tail; /* last registered */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct lc_metrics *lc_metrics_new(void)
{
	return calloc(1, sizeof(struct lc_metrics));
}

static void metric_free(struct lc_metric *m)
{
	for (size_t i = 0; i < m->nseries; i++)
		free(m->series[i]);
	free(m->series);
	free(m->table);
	for (size_t i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	free(m->labels);
	free(m->bounds);
	free(m->name);
	free(m->help);
	free(m);
}

void lc_metrics_free(struct lc_metrics *r)
{
	if (!r)
		return;
	struct lc_metric *m = r->head;
	while (m) {
		struct lc_metric *next = m->next;
		metric_free(m);
		m = next;
	}
	free(r);
}

/* ---- validation ---- */

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool valid_metric_name(const char *s)
{
	if (!s || !(is_alpha_(*s) || *s == ':'))
		return false;
	for (s++; *s; s++)
		if (!is_alpha_(*s) && !is_digit(*s) && *s != ':')
			return false;
	return true;
}

static bool valid_label_name(const char *s)
{
	if (!s || !is_alpha_(*s) || strncmp(s, "__", 2) == 0)
		return false;
	for (s++; *s; s++)
		if (!is_alpha_(*s) && !is_digit(*s))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Does a + as equal b + bs? */
static bool cat_eq(const char *a, const char *as, const char *b,
		   const char *bs)
{
	size_t na = strlen(a), nas = strlen(as);
	size_t nb = strlen(b), nbs = strlen(bs);
	if (na + nas != nb + nbs)
		return false;
	if (na <= nb)
		return strncmp(a, b, na) == 0 &&
		       strncmp(as, b + na, nb - na) == 0 &&
		       strcmp(as + (nb - na), bs) == 0;
	return cat_eq(b, bs, a, as);
}

/* The sample-name suffixes a family of type t writes ("" = the name). */
static const char *const *suffixes(enum lc_metric_type t)
{
	static const char *const plain[] = { "", NULL };
	static const char *const histo[] = { "", "_bucket", "_sum", "_count",
					     NULL };
	return t == LC_METRIC_HISTOGRAM ? histo : plain;
}

/* The existing family whose name or sample names overlap those of a new
 * family (name, t), or NULL. */
static const struct lc_metric *clash(const struct lc_metrics *r,
				     const char *name, enum lc_metric_type t)
{
	for (const struct lc_metric *m = r->head; m; m = m->next)
		for (const char *const *a = suffixes(t); *a; a++)
			for (const char *const *b = suffixes(m->type); *b; b++)
				if (cat_eq(name, *a, m->name, *b))
					return m;
	return NULL;
}

static int check_name(const struct lc_metrics *r, enum lc_metric_type t,
		      const char *name, char *err, size_t errlen)
{
	static const char *const reserved[] = { "_bucket", "_sum", "_count" };
	if (!valid_metric_name(name)) {
		set_err(err, errlen,
			"metric name '%s' is not valid "
			"(want [a-zA-Z_:][a-zA-Z0-9_:]*)",
			name ? name : "(null)");
		return -1;
	}
	bool total = ends_with(name, "_total");
	if (t == LC_METRIC_COUNTER && !total) {
		set_err(err, errlen, "counter '%s' must end in '_total'",
			name);
		return -1;
	}
	if (t != LC_METRIC_COUNTER && total) {
		set_err(err, errlen,
			"metric '%s' ends in '_total' but is not a counter",
			name);
		return -1;
	}
	for (size_t i = 0; t != LC_METRIC_HISTOGRAM && i < 3; i++) {
		if (ends_with(name, reserved[i])) {
			set_err(err, errlen,
				"metric '%s' must not end in '%s' "
				"(reserved for histograms)",
				name, reserved[i]);
			return -1;
		}
	}
	const struct lc_metric *m = clash(r, name, t);
	if (m) {
		if (strcmp(m->name, name) == 0)
			set_err(err, errlen,
				"metric '%s' is already registered", name);
		else
			set_err(err, errlen,
				"metric '%s' clashes with the samples of '%s'",
				name, m->name);
		return -1;
	}
	return 0;
}

static int check_labels(enum lc_metric_type t, const char *name,
			const char *const *labels, size_t *n, char *err,
			size_t errlen)
{
	size_t i = 0;
	for (; labels && labels[i]; i++) {
		if (i == LC_METRICS_MAX_LABELS) {
			set_err(err, errlen,
				"metric '%s' has more than %d labels", name,
				LC_METRICS_MAX_LABELS);
			return -1;
		}
		if (!valid_label_name(labels[i]) ||
		    (t == LC_METRIC_HISTOGRAM &&
		     strcmp(labels[i], "le") == 0)) {
			set_err(err, errlen,
				"label name '%s' of metric '%s' is not valid "
				"(want [a-zA-Z_][a-zA-Z0-9_]*, no '__' prefix"
				", not 'le' on a histogram)",
				labels[i], name);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(labels[i], labels[j]) == 0) {
				set_err(err, errlen,
					"label name '%s' appears twice in "
					"metric '%s'",
					labels[i], name);
				return -1;
			}
		}
	}
	*n = i;
	return 0;
}

static int check_bounds(const char *name, const double *bounds, size_t n,
			char *err, size_t errlen)
{
	if (!bounds || n == 0 || n > LC_METRICS_MAX_BUCKETS) {
		set_err(err, errlen,
			"histogram '%s' needs 1 to %d bucket bounds", name,
			LC_METRICS_MAX_BUCKETS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) ||
		    (i > 0 && bounds[i] <= bounds[i - 1])) {
			set_err(err, errlen,
				"histogram '%s' bucket bounds must be finite "
				"and strictly increasing",
				name);
			return -1;
		}
	}
	return 0;
}

/* ---- series ---- */

static uint64_t hash_values(const char *const *v, size_t n)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)v[i]; *p;
		     p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ 0xFF) * 1099511628211ULL; /* separator */
	}
	return h;
}

/* v holds nlabels values, or is NULL for an unlabelled family. */
static struct lc_series *series_alloc(struct lc_metric *m,
				      const char *const *v, uint64_t hash)
{
	size_t nl = v ? m->nlabels : 0;
	size_t nb = m->type == LC_METRIC_HISTOGRAM ? m->nbounds + 1 : 0;
	size_t size = sizeof(struct lc_series) + nl * sizeof(char *) +
		      nb * sizeof(uint64_t);
	for (size_t i = 0; i < nl; i++)
		size += strlen(v[i]) + 1;
	struct lc_series *s = calloc(1, size);
	if (!s)
		return NULL;
	s->fam = m;
	s->hash = hash;
	/* layout: header, value pointers, bucket counts, strings (on LP64
	 * the pointer array keeps the counts 8-byte aligned) */
	s->buckets = nb ? (uint64_t *)(void *)(s->values + nl) : NULL;
	char *p = (char *)(s->values + nl) + nb * sizeof(uint64_t);
	for (size_t i = 0; i < nl; i++) {
		size_t len = strlen(v[i]) + 1;
		memcpy(p, v[i], len);
		s->values[i] = p;
		p += len;
	}
	return s;
}

/* Keep the hash table at least as large as the series count. */
static int table_grow(struct lc_metric *m)
{
	if (m->nseries < m->ntable)
		return 0;
	size_t n = m->ntable ? m->ntable * 2 : 8;
	struct lc_series **t = calloc(n, sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i < m->nseries; i++) {
		struct lc_series *s = m->series[i];
		s->hnext = t[s->hash & (n - 1)];
		t[s->hash & (n - 1)] = s;
	}
	free(m->table);
	m->table = t;
	m->ntable = n;
	return 0;
}

/* Add a new series to m; NULL with a reason when it cannot be. */
static struct lc_series *series_add(struct lc_metric *m,
				    const char *const *v, uint64_t hash,
				    const char **why)
{
	if (m->nseries >= LC_METRICS_MAX_SERIES) {
		*why = "too many series";
		return NULL;
	}
	*why = "out of memory";
	if (table_grow(m) != 0)
		return NULL;
	if (m->nseries == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4;
		struct lc_series **a = realloc(m->series, cap * sizeof(*a));
		if (!a)
			return NULL;
		m->series = a;
		m->cap = cap;
	}
	struct lc_series *s = series_alloc(m, v, hash);
	if (!s)
		return NULL;
	m->series[m->nseries++] = s;
	s->hnext = m->table[hash & (m->ntable - 1)];
	m->table[hash & (m->ntable - 1)] = s;
	return s;
}

static struct lc_series *lookup_fail(struct lc_metric *m, const char *why)
{
	if (m && !m->warned) {
		m->warned = true;
		log_warn("metrics.series_failed", LF_S("metric", m->name),
			 LF_S("reason", why));
	}
	return NULL;
}

struct lc_series *lc_metric_series_v(struct lc_metric *m,
				     const char *const *values, size_t n)
{
	if (!m)
		return NULL;
	if (m->fn || n != m->nlabels)
		return lookup_fail(m, m->fn ? "callback metric has no series"
					    : "wrong number of label values");
	if (n == 0)
		return m->series[0]; /* created at registration */
	for (size_t i = 0; i < n; i++)
		if (!values[i])
			return lookup_fail(m, "label value is NULL");
	uint64_t h = hash_values(values, n);
	struct lc_series *first = m->ntable ? m->table[h & (m->ntable - 1)]
					    : NULL;
	for (struct lc_series *s = first; s; s = s->hnext) {
		if (s->hash != h)
			continue;
		size_t i = 0;
		while (i < n && strcmp(s->values[i], values[i]) == 0)
			i++;
		if (i == n)
			return s;
	}
	const char *why;
	struct lc_series *s = series_add(m, values, h, &why);
	return s ? s : lookup_fail(m, why);
}

struct lc_series *lc_metric_series_(struct lc_metric *m, ...)
{
	const char *v[LC_METRICS_MAX_LABELS + 1];
	size_t n = 0;
	va_list ap;
	va_start(ap, m);
	for (;;) {
		const char *s = va_arg(ap, const char *);
		if (!s || n == LC_METRICS_MAX_LABELS + 1)
			break;
		v[n++] = s;
	}
	va_end(ap);
	return lc_metric_series_v(m, v, n);
}

/* ---- registration ---- */

static struct lc_metric *metric_add(struct lc_metrics *r,
				    enum lc_metric_type t, const char *name,
				    const char *help,
				    const char *const *labels,
				    const double *bounds, size_t nbounds,
				    char *err, size_t errlen)
{
	size_t nl = 0;
	if (!r) {
		set_err(err, errlen, "no metrics registry");
		return NULL;
	}
	if (check_name(r, t, name, err, errlen) != 0 ||
	    check_labels(t, name, labels, &nl, err, errlen) != 0)
		return NULL;
	if (!help) {
		set_err(err, errlen, "metric '%s' has no help text", name);
		return NULL;
	}
	if (t == LC_METRIC_HISTOGRAM &&
	    check_bounds(name, bounds, nbounds, err, errlen) != 0)
		return NULL;
	struct lc_metric *m = calloc(1, sizeof(*m));
	if (!m)
		goto nomem;
	m->type = t;
	m->name = strdup(name);
	m->help = strdup(help);
	m->labels = calloc(nl ? nl : 1, sizeof(char *));
	if (!m->name || !m->help || !m->labels)
		goto nomem;
	for (; labels && m->nlabels < nl; m->nlabels++) {
		m->labels[m->nlabels] = strdup(labels[m->nlabels]);
		if (!m->labels[m->nlabels])
			goto nomem;
	}
	if (t == LC_METRIC_HISTOGRAM) {
		m->bounds = malloc(nbounds * sizeof(double));
		if (!m->bounds)
			goto nomem;
		memcpy(m->bounds, bounds, nbounds * sizeof(double));
		m->nbounds = nbounds;
	}
	return m;
nomem:
	set_err(err, errlen, "out of memory registering metric '%s'", name);
	if (m)
		metric_free(m);
	return NULL;
}

static void metric_link(struct lc_metrics *r, struct lc_metric *m)
{
	if (r->tail)
		r->tail->next = m;
	else
		r->head = m;
	r->tail = m;
}

/* Register a family with stored values; an unlabelled one gets its only
 * series now so that it is always rendered and never looked up. */
static struct lc_metric *metric_register(struct lc_metrics *r,
					 enum lc_metric_type t,
					 const char *name, const char *help,
					 const char *const *labels,
					 const double *bounds, size_t nbounds,
					 char *err, size_t errlen)
{
	struct lc_metric *m = metric_add(r, t, name, help, labels, bounds,
					 nbounds, err, errlen);
	if (!m)
		return NULL;
	const char *why;
	if (m->nlabels == 0 && !series_add(m, NULL, 0, &why)) {
		set_err(err, errlen, "out of memory registering metric '%s'",
			name);
		metric_free(m);
		return NULL;
	}
	metric_link(r, m);
	return m;
}

struct lc_metric *lc_metrics_counter(struct lc_metrics *r, const char *name,
				     const char *help,
				     const char *const *labels, char *err,
				     size_t errlen)
{
	return metric_register(r, LC_METRIC_COUNTER, name, help, labels, NULL,
			       0, err, errlen);
}

struct lc_metric *lc_metrics_gauge(struct lc_metrics *r, const char *name,
				   const char *help, const char *const *labels,
				   char *err, size_t errlen)
{
	return metric_register(r, LC_METRIC_GAUGE, name, help, labels, NULL, 0,
			       err, errlen);
}

struct lc_metric *lc_metrics_histogram(struct lc_metrics *r,
				       const char *name, const char *help,
				       const char *const *labels,
				       const double *bounds, size_t nbounds,
				       char *err, size_t errlen)
{
	return metric_register(r, LC_METRIC_HISTOGRAM, name, help, labels,
			       bounds, nbounds, err, errlen);
}

int lc_metrics_callback(struct lc_metrics *r, enum lc_metric_type type,
			const char *name, const char *help,
			lc_metrics_read_fn fn, void *arg, char *err,
			size_t errlen)
{
	if (type == LC_METRIC_HISTOGRAM || !fn) {
		set_err(err, errlen,
			"callback metric '%s' must be a counter or a gauge "
			"with a read function",
			name ? name : "(null)");
		return -1;
	}
	struct lc_metric *m = metric_add(r, type, name, help, NULL, NULL, 0,
					 err, errlen);
	if (!m)
		return -1;
	m->fn = fn;
	m->arg = arg;
	metric_link(r, m);
	return 0;
}

/* ---- updates (the hot path: no lookups, no allocation) ---- */

void lc_series_inc(struct lc_series *s)
{
	lc_series_add(s, 1);
}

void lc_series_dec(struct lc_series *s)
{
	lc_series_add(s, -1);
}

void lc_series_add(struct lc_series *s, double v)
{
	if (!s || isnan(v))
		return;
	if (s->fam->type == LC_METRIC_GAUGE ||
	    (s->fam->type == LC_METRIC_COUNTER && v >= 0))
		s->value += v;
}

void lc_series_set(struct lc_series *s, double v)
{
	if (s && s->fam->type == LC_METRIC_GAUGE)
		s->value = v;
}

double lc_series_value(const struct lc_series *s)
{
	return s ? s->value : 0;
}

void lc_series_observe(struct lc_series *s, double v)
{
	if (!s || s->fam->type != LC_METRIC_HISTOGRAM || isnan(v))
		return;
	const struct lc_metric *m = s->fam;
	size_t i = 0;
	while (i < m->nbounds && v > m->bounds[i])
		i++;
	s->buckets[i]++; /* i == nbounds is the +Inf bucket */
	s->count++;
	s->value += v;
}

/* ---- rendering ---- */

/* Append s escaped for the text format: backslash and newline always, the
 * double quote too in label values (quote true); invalid UTF-8 becomes
 * U+FFFD because Prometheus rejects the whole scrape otherwise. */
static int append_escaped(struct lc_buf *b, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t run = 0; /* bytes that need no escaping */
		for (;;) {
			unsigned char c = p[run];
			if (c == '\0' || c == '\\' || c == '\n' ||
			    (quote && c == '"'))
				break;
			size_t n = lc_buf_utf8_len(p + run);
			if (n == 0)
				break;
			run += n;
		}
		if (run && lc_buf_append(b, p, run) != 0)
			return -1;
		p += run;
		if (*p == '\0')
			break;
		const char *esc = *p == '\\' ? "\\\\"
				  : *p == '\n' ? "\\n"
				  : *p == '"' ? "\\\""
					      : "\xEF\xBF\xBD";
		if (lc_buf_append_str(b, esc) != 0)
			return -1;
		p++;
	}
	return 0;
}

/* Format v as Prometheus does: integers without a fraction, otherwise the
 * shortest of %.15g..%.17g that reads back exactly; NaN, +Inf, -Inf. */
static const char *fmt_double(char *out, size_t n, double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		snprintf(out, n, "%.0f", v);
		return out;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return out;
}

/* {a="x",b="y"} for the series' labels plus le="bound" when le is not
 * NULL; nothing when there are no labels at all. */
static int append_labels(struct lc_buf *b, const struct lc_series *s,
			 const char *le)
{
	const struct lc_metric *m = s->fam;
	if (m->nlabels == 0 && !le)
		return 0;
	if (lc_buf_append_str(b, "{") != 0)
		return -1;
	for (size_t i = 0; i < m->nlabels; i++) {
		if (lc_buf_printf(b, "%s%s=\"", i ? "," : "", m->labels[i]) !=
			    0 ||
		    append_escaped(b, s->values[i], true) != 0 ||
		    lc_buf_append_str(b, "\"") != 0)
			return -1;
	}
	if (le && lc_buf_printf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le) !=
			  0)
		return -1;
	return lc_buf_append_str(b, "}");
}

/* name+suffix{labels} value\n */
static int append_sample(struct lc_buf *b, const struct lc_series *s,
			 const char *suffix, const char *le, double v)
{
	char num[40];
	if (lc_buf_printf(b, "%s%s", s->fam->name, suffix) != 0 ||
	    append_labels(b, s, le) != 0)
		return -1;
	return lc_buf_printf(b, " %s\n", fmt_double(num, sizeof(num), v));
}

static int render_histogram(struct lc_buf *b, const struct lc_series *s)
{
	const struct lc_metric *m = s->fam;
	uint64_t cum = 0;
	char le[40];
	for (size_t i = 0; i <= m->nbounds; i++) {
		cum += s->buckets[i];
		const char *bound =
			i < m->nbounds
				? fmt_double(le, sizeof(le), m->bounds[i])
				: "+Inf";
		if (append_sample(b, s, "_bucket", bound, (double)cum) != 0)
			return -1;
	}
	if (append_sample(b, s, "_sum", NULL, s->value) != 0)
		return -1;
	return append_sample(b, s, "_count", NULL, (double)s->count);
}

static int render_metric(struct lc_buf *b, const struct lc_metric *m)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	double v = 0;
	if (m->fn ? !m->fn(m->arg, &v) : m->nseries == 0)
		return 0;
	if (lc_buf_printf(b, "# HELP %s ", m->name) != 0 ||
	    append_escaped(b, m->help, false) != 0 ||
	    lc_buf_printf(b, "\n# TYPE %s %s\n", m->name, types[m->type]) != 0)
		return -1;
	if (m->fn) {
		char num[40];
		return lc_buf_printf(b, "%s %s\n", m->name,
				     fmt_double(num, sizeof(num), v));
	}
	for (size_t i = 0; i < m->nseries; i++) {
		const struct lc_series *s = m->series[i];
		int rv = m->type == LC_METRIC_HISTOGRAM
				 ? render_histogram(b, s)
				 : append_sample(b, s, "", NULL, s->value);
		if (rv != 0)
			return -1;
	}
	return 0;
}

int lc_metrics_render(struct lc_metrics *r, struct lc_buf *out)
{
	for (const struct lc_metric *m = r->head; m; m = m->next)
		if (render_metric(out, m) != 0)
			return -1;
	return 0;
}
