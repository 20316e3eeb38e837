#ifndef LC_METRICS_H
#define LC_METRICS_H
/*
 * Metrics registry rendered in the Prometheus text exposition format 0.0.4.
 *
 * A registry holds metric families (counters, gauges, histograms), each with
 * a name, help text and a fixed list of label names. A series is one
 * combination of label values; it is created the first time that
 * combination is asked for and lives as long as the registry.
 *
 * The hot path resolves a series handle once and then updates it without
 * any lookup:
 *
 *	struct lc_metric *m = lc_metrics_counter(reg,
 *		"btcw_http_requests_total", "HTTP requests served.",
 *		LC_LABELS("method", "code"), err, sizeof(err));
 *	struct lc_series *ok = lc_metric_series(m, "GET", "200");
 *	...
 *	lc_series_inc(ok);
 *
 * An unlabelled family (labels NULL) has exactly one series, created at
 * registration, so lc_metric_series(m) returns it without a lookup.
 *
 * Rendering is deterministic: families in registration order, series in
 * creation order, so tests can compare text.
 *
 * Threading: none. A registry and everything in it belong to the thread
 * that runs the daemon's event loop; no function here locks anything.
 *
 * Ownership: every struct lc_metric and struct lc_series pointer handed out
 * is owned by the registry and stays valid until lc_metrics_free(). Names,
 * help texts, label names and label values are copied.
 */
#include <stdbool.h>
#include <stddef.h>

struct lc_buf;
struct lc_metrics; /* a registry */
struct lc_metric;  /* a family: name, help, type, label names */
struct lc_series;  /* one label-value combination of a family */

enum lc_metric_type {
	LC_METRIC_COUNTER,
	LC_METRIC_GAUGE,
	LC_METRIC_HISTOGRAM,
};

/* Most series one family may hold. Label values often come from outside
 * (status codes, strategy ids); the cap keeps a bug or a hostile peer from
 * growing memory and scrape size without bound. */
#define LC_METRICS_MAX_SERIES 10000
/* Most label names a family may have. */
#define LC_METRICS_MAX_LABELS 16
/* Most bucket bounds a histogram may have (+Inf not counted). */
#define LC_METRICS_MAX_BUCKETS 64

/* A NULL-terminated list of label names (or values) as a compound literal:
 * LC_LABELS("method", "code"). */
#define LC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Prometheus' default histogram bounds, in seconds (.005 .. 10). */
extern const double lc_metrics_default_buckets[];
extern const size_t lc_metrics_default_nbuckets;

/* A new, empty registry; NULL when out of memory. Caller frees with
 * lc_metrics_free(). */
struct lc_metrics *lc_metrics_new(void);
/* Free the registry and every family and series in it (all handles become
 * invalid). NULL does nothing. */
void lc_metrics_free(struct lc_metrics *r);

/*
 * Register a family. Returns the family (owned by the registry) or NULL
 * with a message in err (always NUL-terminated when errlen > 0).
 *
 * name:   [a-zA-Z_:][a-zA-Z0-9_:]*, not already used by this registry, and
 *         not clashing with the sample names of another family (a
 *         histogram "x" owns x_bucket, x_sum and x_count). Counters must end
 *         in "_total" and other types must not; non-histograms must not end
 *         in "_bucket", "_sum" or "_count" (the exposition format and
 *         promtool treat those suffixes as reserved).
 * help:   any text (escaped on output); must not be NULL.
 * labels: NULL (no labels) or a NULL-terminated list from LC_LABELS();
 *         each [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", distinct,
 *         and for histograms not "le". At most LC_METRICS_MAX_LABELS.
 * bounds: histogram bucket upper bounds, finite and strictly increasing,
 *         1..LC_METRICS_MAX_BUCKETS of them; "+Inf" is added by the
 *         registry. Copied.
 */
struct lc_metric *lc_metrics_counter(struct lc_metrics *r, const char *name,
				     const char *help,
				     const char *const *labels, char *err,
				     size_t errlen);
struct lc_metric *lc_metrics_gauge(struct lc_metrics *r, const char *name,
				   const char *help, const char *const *labels,
				   char *err, size_t errlen);
struct lc_metric *lc_metrics_histogram(struct lc_metrics *r,
				       const char *name, const char *help,
				       const char *const *labels,
				       const double *bounds, size_t nbounds,
				       char *err, size_t errlen);

/*
 * Read a value at render time instead of storing one: fn(arg, &v) is
 * called by lc_metrics_render() and returns false when the value is not
 * available right now, in which case the family is left out of that
 * rendering. fn must not block (reading /proc is fine) and must not
 * register metrics. type is LC_METRIC_COUNTER or LC_METRIC_GAUGE; the
 * family has no labels. arg is borrowed and must stay valid as long as the
 * registry (or be NULL). 0 on success, -1 with a message in err.
 */
typedef bool (*lc_metrics_read_fn)(void *arg, double *out);
int lc_metrics_callback(struct lc_metrics *r, enum lc_metric_type type,
			const char *name, const char *help,
			lc_metrics_read_fn fn, void *arg, char *err,
			size_t errlen) __attribute__((warn_unused_result));

/*
 * The series for one combination of label values, given in the order of
 * the family's label names and as many as there are names; creates it on
 * first use. Values are copied; any bytes are allowed (invalid UTF-8 is
 * written as U+FFFD on output).
 *
 * Returns NULL (and logs a warning, once per family) when m is NULL, the
 * number of values is wrong, a value is NULL, the family already holds
 * LC_METRICS_MAX_SERIES series, or memory ran out. The lc_series_*
 * functions accept NULL and do nothing, so a failed lookup costs a missing
 * data point, never a crash.
 *
 * lc_metric_series(m, "GET", "200") is a macro adding the NULL sentinel;
 * lc_metric_series_v() takes an array of n values instead.
 */
#define lc_metric_series(m, ...)                                    \
	lc_metric_series_((m)__VA_OPT__(, ) __VA_ARGS__, (const char *)NULL)
struct lc_series *lc_metric_series_(struct lc_metric *m, ...);
struct lc_series *lc_metric_series_v(struct lc_metric *m,
				     const char *const *values, size_t n);

/* Counters and gauges: add 1 / subtract 1 / add v. A counter never goes
 * down: lc_series_dec() and a negative v are ignored on counters. NaN is
 * ignored. Other types ignore these calls. */
void lc_series_inc(struct lc_series *s);
void lc_series_dec(struct lc_series *s);
void lc_series_add(struct lc_series *s, double v);
/* Gauges only: set the value to v. */
void lc_series_set(struct lc_series *s, double v);
/* The value of a counter or a gauge, the sum of a histogram; 0 for NULL.
 * For tests and for code that keeps its state in the metric. */
double lc_series_value(const struct lc_series *s);
/* Histograms: count v in the first bucket whose bound is >= v and add it
 * to the sum. NaN is ignored. */
void lc_series_observe(struct lc_series *s, double v);

/*
 * Append the whole registry to out in the text format 0.0.4
 * (Content-Type: text/plain; version=0.0.4; charset=utf-8). Families with
 * no series, and callback families whose read fails, are left out.
 * Returns 0, or -1 when out's maximum is reached or memory ran out; out
 * then holds a partial text that the caller must not serve (reset it).
 */
int lc_metrics_render(struct lc_metrics *r, struct lc_buf *out)
	__attribute__((warn_unused_result));

#endif
