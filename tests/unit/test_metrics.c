/* lc_metrics: exact exposition text, escaping, order, validation, limits,
 * and promtool's verdict on what we render. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/promtool.h"
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libcommon/buf.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"

/* Render r and compare with want; prints both on a mismatch. */
static void assert_render(struct lc_metrics *r, const char *want)
{
	struct lc_buf b;
	lc_buf_init(&b, 1 << 20);
	assert_int_equal(lc_metrics_render(r, &b), 0);
	assert_string_equal(b.data ? b.data : "", want);
	lc_buf_release(&b);
}

static void counter_and_gauge_text(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *c = lc_metrics_counter(
		r, "http_reqs_total", "HTTP requests served.",
		LC_LABELS("method", "code"), err, sizeof(err));
	assert_non_null(c);
	struct lc_metric *g = lc_metrics_gauge(r, "btcw_connections",
					       "Open connections.", NULL, err,
					       sizeof(err));
	assert_non_null(g);
	struct lc_series *ok = lc_metric_series(c, "GET", "200");
	lc_series_inc(ok);
	lc_series_inc(ok);
	lc_series_add(lc_metric_series(c, "POST", "500"), 3);
	struct lc_series *conn = lc_metric_series(g);
	lc_series_set(conn, 7);
	lc_series_dec(conn);
	lc_series_add(conn, -2.5);
	assert_render(r, "# HELP http_reqs_total HTTP requests served.\n"
			 "# TYPE http_reqs_total counter\n"
			 "http_reqs_total{method=\"GET\",code=\"200\"} 2\n"
			 "http_reqs_total{method=\"POST\",code=\"500\"} 3\n"
			 "# HELP btcw_connections Open connections.\n"
			 "# TYPE btcw_connections gauge\n"
			 "btcw_connections 3.5\n");
	lc_metrics_free(r);
}

static void unlabelled_zero_empty_omitted(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	assert_non_null(lc_metrics_counter(r, "a_total", "A.", NULL, err,
					   sizeof(err)));
	assert_non_null(lc_metrics_gauge(r, "b", "B.", LC_LABELS("x"), err,
					 sizeof(err)));
	assert_render(r, "# HELP a_total A.\n# TYPE a_total counter\n"
			 "a_total 0\n");
	lc_metrics_free(r);
}

static void histogram_text(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	static const double bounds[] = { 0.1, 0.5, 1 };
	struct lc_metric *h = lc_metrics_histogram(
		r, "req_seconds", "Request latency.",
		LC_LABELS("route"), bounds, 3, err, sizeof(err));
	assert_non_null(h);
	struct lc_series *s = lc_metric_series(h, "/a");
	lc_series_observe(s, 0.05);
	lc_series_observe(s, 0.1); /* on the bound: le is inclusive */
	lc_series_observe(s, 0.7);
	lc_series_observe(s, 4);
	lc_series_observe(s, NAN); /* ignored */
	struct lc_metric *u = lc_metrics_histogram(
		r, "btcw_batch_size", "Batch sizes.", NULL, bounds + 2, 1, err,
		sizeof(err));
	assert_non_null(u);
	assert_render(
		r,
		"# HELP req_seconds Request latency.\n"
		"# TYPE req_seconds histogram\n"
		"req_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
		"req_seconds_bucket{route=\"/a\",le=\"0.5\"} 2\n"
		"req_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
		"req_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
		"req_seconds_sum{route=\"/a\"} 4.85\n"
		"req_seconds_count{route=\"/a\"} 4\n"
		"# HELP btcw_batch_size Batch sizes.\n"
		"# TYPE btcw_batch_size histogram\n"
		"btcw_batch_size_bucket{le=\"1\"} 0\n"
		"btcw_batch_size_bucket{le=\"+Inf\"} 0\n"
		"btcw_batch_size_sum 0\n"
		"btcw_batch_size_count 0\n");
	lc_metrics_free(r);
}

static void escaping(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *g = lc_metrics_gauge(
		r, "esc", "Back\\slash, \"quotes\" and\nnewline.",
		LC_LABELS("v"), err, sizeof(err));
	assert_non_null(g);
	lc_series_set(lc_metric_series(g, "a\\b\"c\nd"), 1);
	lc_series_set(lc_metric_series(g, "caf\xC3\xA9 \xFF\xC0\xAF"), 2);
	assert_render(r, "# HELP esc Back\\\\slash, \"quotes\" and"
			 "\\nnewline.\n"
			 "# TYPE esc gauge\n"
			 "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n"
			 "esc{v=\"caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD"
			 "\xEF\xBF\xBD\"} 2\n");
	lc_metrics_free(r);
}

static void order_is_registration_and_creation(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *z = lc_metrics_gauge(r, "zz", "Z.",
					       LC_LABELS("zeta", "alpha"), err,
					       sizeof(err));
	struct lc_metric *a = lc_metrics_gauge(r, "aa", "A.", NULL, err,
					       sizeof(err));
	assert_non_null(z);
	assert_non_null(a);
	lc_series_set(lc_metric_series(z, "2", "x"), 2);
	lc_series_set(lc_metric_series(z, "1", "y"), 1);
	lc_series_set(lc_metric_series(z, "2", "x"), 3); /* existing series */
	assert_render(r, "# HELP zz Z.\n# TYPE zz gauge\n"
			 "zz{zeta=\"2\",alpha=\"x\"} 3\n"
			 "zz{zeta=\"1\",alpha=\"y\"} 1\n"
			 "# HELP aa A.\n# TYPE aa gauge\naa 0\n");
	lc_metrics_free(r);
}

static void number_formatting(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *g = lc_metrics_gauge(r, "n", "N.", LC_LABELS("k"),
					       err, sizeof(err));
	static const struct {
		const char *k;
		double v;
	} cases[] = { { "a", 0.1 },   { "b", 1e-7 },    { "c", 1e21 },
		      { "d", -42 },   { "e", 1.0 / 3 }, { "f", INFINITY },
		      { "g", -INFINITY }, { "h", NAN },
		      { "i", 123456789012 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		lc_series_set(lc_metric_series(g, cases[i].k), cases[i].v);
	assert_render(r, "# HELP n N.\n# TYPE n gauge\n"
			 "n{k=\"a\"} 0.1\n"
			 "n{k=\"b\"} 1e-07\n"
			 "n{k=\"c\"} 1e+21\n"
			 "n{k=\"d\"} -42\n"
			 "n{k=\"e\"} 0.3333333333333333\n"
			 "n{k=\"f\"} +Inf\n"
			 "n{k=\"g\"} -Inf\n"
			 "n{k=\"h\"} NaN\n"
			 "n{k=\"i\"} 123456789012\n");
	lc_metrics_free(r);
}

static void handles_and_type_rules(void **state)
{
	(void)state;
	char err[256];
	char logpath[] = "/tmp/test_metrics_log.XXXXXX";
	int logfd = mkstemp(logpath);
	assert_true(logfd >= 0);
	lc_log_set_fd(logfd);

	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *c = lc_metrics_counter(r, "c_total", "C.",
						 LC_LABELS("a", "b"), err,
						 sizeof(err));
	assert_non_null(c);
	struct lc_series *s1 = lc_metric_series(c, "x", "y");
	assert_non_null(s1);
	assert_ptr_equal(lc_metric_series(c, "x", "y"), s1);
	assert_ptr_equal(lc_metric_series_v(c, LC_LABELS("x", "y"), 2), s1);
	assert_ptr_not_equal(lc_metric_series(c, "y", "x"), s1);
	/* "x\xff" + "y" and "x" + "\xffy" must not be the same series */
	assert_ptr_not_equal(lc_metric_series(c, "a\xff", "b"),
			     lc_metric_series(c, "a", "\xff" "b"));
	/* wrong number of values */
	assert_null(lc_metric_series(c, "x"));
	assert_null(lc_metric_series(c, "x", "y", "z"));
	assert_null(lc_metric_series(c));
	assert_null(lc_metric_series(NULL, "x"));
	/* a counter never goes down, ignores set and observe */
	lc_series_add(s1, 5);
	lc_series_add(s1, -1);
	lc_series_dec(s1);
	lc_series_set(s1, 100);
	lc_series_observe(s1, 1);
	lc_series_add(s1, NAN);
	assert_true(lc_series_value(s1) == 5);
	/* NULL handles are no-ops */
	lc_series_inc(NULL);
	lc_series_add(NULL, 1);
	lc_series_set(NULL, 1);
	lc_series_observe(NULL, 1);
	assert_true(lc_series_value(NULL) == 0);
	lc_metrics_free(r);

	/* the failed lookups above were logged once for the family */
	lc_log_set_fd(-1);
	char logs[4096];
	ssize_t n = pread(logfd, logs, sizeof(logs) - 1, 0);
	close(logfd);
	unlink(logpath);
	assert_true(n > 0);
	logs[n] = '\0';
	char *first = strstr(logs, "metrics.series_failed");
	assert_non_null(first);
	assert_non_null(strstr(logs, "\"metric\":\"c_total\""));
	assert_null(strstr(first + 1, "metrics.series_failed"));
}

static void series_cap(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *g = lc_metrics_gauge(r, "many", "Many.",
					       LC_LABELS("i"), err,
					       sizeof(err));
	char v[16];
	for (int i = 0; i < LC_METRICS_MAX_SERIES; i++) {
		snprintf(v, sizeof(v), "%d", i);
		assert_non_null(lc_metric_series(g, v));
	}
	int devnull = open("/dev/null", O_WRONLY);
	assert_true(devnull >= 0);
	lc_log_set_fd(devnull);
	assert_null(lc_metric_series(g, "one-more"));
	/* existing series are still found */
	assert_non_null(lc_metric_series(g, "0"));
	snprintf(v, sizeof(v), "%d", LC_METRICS_MAX_SERIES - 1);
	assert_non_null(lc_metric_series(g, v));
	lc_log_set_fd(-1);
	close(devnull);
	lc_metrics_free(r);
}

static void registration_errors(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	static const double b[] = { 1, 2 };
	static const double bad_b[] = { 1, 1 };
	static const double inf_b[] = { 1, INFINITY };
	assert_non_null(lc_metrics_gauge(r, "dup", "D.", NULL, err,
					 sizeof(err)));
	assert_non_null(lc_metrics_histogram(r, "lat_seconds", "L.", NULL, b,
					     2, err, sizeof(err)));
	const struct {
		enum lc_metric_type t;
		const char *name;
		const char *const *labels;
		const char *want;
	} cases[] = {
		{ LC_METRIC_GAUGE, "1abc", NULL,
		  "metric name '1abc' is not valid" },
		{ LC_METRIC_GAUGE, "a-b", NULL,
		  "metric name 'a-b' is not valid" },
		{ LC_METRIC_GAUGE, "", NULL, "metric name '' is not valid" },
		{ LC_METRIC_GAUGE, NULL, NULL,
		  "metric name '(null)' is not valid" },
		{ LC_METRIC_COUNTER, "reqs", NULL,
		  "counter 'reqs' must end in '_total'" },
		{ LC_METRIC_GAUGE, "reqs_total", NULL,
		  "metric 'reqs_total' ends in '_total' but is not a "
		  "counter" },
		{ LC_METRIC_GAUGE, "queue_count", NULL,
		  "metric 'queue_count' must not end in '_count'" },
		{ LC_METRIC_GAUGE, "dup", NULL,
		  "metric 'dup' is already registered" },
		{ LC_METRIC_HISTOGRAM, "lat_seconds", NULL,
		  "metric 'lat_seconds' is already registered" },
		{ LC_METRIC_HISTOGRAM, "lat", NULL, NULL },
		{ LC_METRIC_HISTOGRAM, "lat_seconds_bucket", NULL,
		  "metric 'lat_seconds_bucket' clashes with the samples of "
		  "'lat_seconds'" },
		{ LC_METRIC_GAUGE, "g", LC_LABELS("ok", "9x"),
		  "label name '9x' of metric 'g' is not valid" },
		{ LC_METRIC_GAUGE, "g", LC_LABELS("__name"),
		  "label name '__name' of metric 'g' is not valid" },
		{ LC_METRIC_HISTOGRAM, "h", LC_LABELS("le"),
		  "label name 'le' of metric 'h' is not valid" },
		{ LC_METRIC_GAUGE, "g", LC_LABELS("a", "b", "a"),
		  "label name 'a' appears twice in metric 'g'" },
		{ LC_METRIC_GAUGE, "g",
		  LC_LABELS("a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
			    "k", "l", "m", "n", "o", "p", "q"),
		  "metric 'g' has more than 16 labels" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lc_metric *m;
		err[0] = '\0';
		if (cases[i].t == LC_METRIC_HISTOGRAM)
			m = lc_metrics_histogram(r, cases[i].name, "H.",
						 cases[i].labels, b, 2, err,
						 sizeof(err));
		else if (cases[i].t == LC_METRIC_COUNTER)
			m = lc_metrics_counter(r, cases[i].name, "C.",
					       cases[i].labels, err,
					       sizeof(err));
		else
			m = lc_metrics_gauge(r, cases[i].name, "G.",
					     cases[i].labels, err,
					     sizeof(err));
		if (!cases[i].want) {
			assert_non_null(m);
			continue;
		}
		assert_null(m);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got '%s', want '%s...'", i, err,
				 cases[i].want);
	}
	/* the histogram "lat" registered above owns lat_sum */
	assert_null(lc_metrics_gauge(r, "lat_sum", "S.", NULL, err,
				     sizeof(err)));
	assert_null(lc_metrics_histogram(r, "h2", "H.", NULL, bad_b, 2, err,
					 sizeof(err)));
	assert_string_equal(err, "histogram 'h2' bucket bounds must be finite "
				 "and strictly increasing");
	assert_null(lc_metrics_histogram(r, "h2", "H.", NULL, inf_b, 2, err,
					 sizeof(err)));
	assert_null(lc_metrics_histogram(r, "h2", "H.", NULL, b, 0, err,
					 sizeof(err)));
	assert_string_equal(err, "histogram 'h2' needs 1 to 64 bucket bounds");
	assert_null(lc_metrics_gauge(r, "h2", NULL, NULL, err, sizeof(err)));
	assert_string_equal(err, "metric 'h2' has no help text");
	assert_int_equal(lc_metrics_callback(r, LC_METRIC_HISTOGRAM, "cb",
					     "CB.", NULL, NULL, err,
					     sizeof(err)),
			 -1);
	/* a failed registration leaves nothing behind */
	assert_render(r, "# HELP dup D.\n# TYPE dup gauge\ndup 0\n"
			 "# HELP lat_seconds L.\n"
			 "# TYPE lat_seconds histogram\n"
			 "lat_seconds_bucket{le=\"1\"} 0\n"
			 "lat_seconds_bucket{le=\"2\"} 0\n"
			 "lat_seconds_bucket{le=\"+Inf\"} 0\n"
			 "lat_seconds_sum 0\nlat_seconds_count 0\n"
			 "# HELP lat H.\n# TYPE lat histogram\n"
			 "lat_bucket{le=\"1\"} 0\nlat_bucket{le=\"2\"} 0\n"
			 "lat_bucket{le=\"+Inf\"} 0\nlat_sum 0\n"
			 "lat_count 0\n");
	lc_metrics_free(r);
}

static bool read_answer(void *arg, double *out)
{
	int *calls = arg;
	(*calls)++;
	*out = 42;
	return true;
}

static bool read_fails(void *arg, double *out)
{
	(void)arg;
	(void)out;
	return false;
}

static void callback_metrics(void **state)
{
	(void)state;
	char err[256];
	int calls = 0;
	struct lc_metrics *r = lc_metrics_new();
	assert_int_equal(lc_metrics_callback(r, LC_METRIC_GAUGE, "answer",
					     "Read at render time.",
					     read_answer, &calls, err,
					     sizeof(err)),
			 0);
	assert_int_equal(lc_metrics_callback(r, LC_METRIC_COUNTER,
					     "gone_total", "Unavailable.",
					     read_fails, NULL, err,
					     sizeof(err)),
			 0);
	assert_int_equal(lc_metrics_callback(r, LC_METRIC_GAUGE, "answer",
					     "Again.", read_answer, &calls,
					     err, sizeof(err)),
			 -1);
	assert_string_equal(err, "metric 'answer' is already registered");
	assert_int_equal(calls, 0);
	assert_render(r, "# HELP answer Read at render time.\n"
			 "# TYPE answer gauge\nanswer 42\n");
	assert_int_equal(calls, 1);
	lc_metrics_free(r);
}

static void render_is_bounded(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	assert_non_null(lc_metrics_gauge(r, "a_rather_long_metric_name",
					 "Help.", NULL, err, sizeof(err)));
	struct lc_buf b;
	lc_buf_init(&b, 40);
	assert_int_equal(lc_metrics_render(r, &b), -1);
	assert_true(b.len <= 40);
	lc_buf_release(&b);
	lc_metrics_free(r);
}

static void promtool_accepts_realistic_registry(void **state)
{
	(void)state;
	char err[256];
	struct lc_metrics *r = lc_metrics_new();
	struct lc_metric *reqs = lc_metrics_counter(
		r, "btcw_gateway_http_requests_total", "Requests by route.",
		LC_LABELS("method", "route", "code"), err, sizeof(err));
	struct lc_metric *lat = lc_metrics_histogram(
		r, "btcw_gateway_http_request_duration_seconds",
		"Time to the last byte of the reply.", LC_LABELS("route"),
		lc_metrics_default_buckets, lc_metrics_default_nbuckets, err,
		sizeof(err));
	struct lc_metric *up = lc_metrics_gauge(
		r, "btcw_strategy_up", "1 when the strategy answers \\ping.",
		LC_LABELS("strategy"), err, sizeof(err));
	struct lc_metric *bytes = lc_metrics_counter(
		r, "btcw_backup_written_bytes_total",
		"Bytes written by backups.\nAll kinds.", NULL, err,
		sizeof(err));
	int calls = 0;
	assert_int_equal(lc_metrics_callback(r, LC_METRIC_GAUGE,
					     "btcw_open_connections",
					     "Connections open now.",
					     read_answer, &calls, err,
					     sizeof(err)),
			 0);
	assert_non_null(reqs);
	assert_non_null(lat);
	assert_non_null(up);
	assert_non_null(bytes);
	lc_series_inc(lc_metric_series(reqs, "GET", "/api/strategies", "200"));
	lc_series_add(lc_metric_series(reqs, "POST", "/api/x\"y\\z\n", "404"),
		      2);
	for (int i = 0; i < 50; i++)
		lc_series_observe(lc_metric_series(lat, "/api/strategies"),
				  i * 0.013);
	lc_series_set(lc_metric_series(up, "ema \xE2\x86\x92 cross"), 1);
	lc_series_set(lc_metric_series(up, "bad\xFFutf8"), 0);
	lc_series_add(lc_metric_series(bytes), 1e12);

	struct lc_buf b;
	lc_buf_init(&b, 1 << 20);
	assert_int_equal(lc_metrics_render(r, &b), 0);
	char out[4096];
	int rc = promtool_check(b.data, out, sizeof(out));
	if (rc != 0 || out[0] != '\0') {
		print_error("%s\n", b.data);
		fail_msg("promtool exit %d on the text above: %s", rc, out);
	}
	lc_buf_release(&b);
	lc_metrics_free(r);
}

/* Negative controls: the promtool check above can fail, both on a parse
 * error and on a lint complaint with an otherwise valid text. */
static void promtool_rejects_bad_text(void **state)
{
	(void)state;
	char out[4096];
	int rc = promtool_check("# TYPE x gauge\nx{a=\"unterminated} 1\n", out,
				sizeof(out));
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(out, "parsing error"));
	rc = promtool_check("# HELP reqs Requests.\n# TYPE reqs counter\n"
			    "reqs 1\n",
			    out, sizeof(out));
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(out, "_total"));
	rc = promtool_check("x{a=\"\xFF\"} 1\n", out, sizeof(out));
	assert_int_not_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counter_and_gauge_text),
		cmocka_unit_test(unlabelled_zero_empty_omitted),
		cmocka_unit_test(histogram_text),
		cmocka_unit_test(escaping),
		cmocka_unit_test(order_is_registration_and_creation),
		cmocka_unit_test(number_formatting),
		cmocka_unit_test(handles_and_type_rules),
		cmocka_unit_test(series_cap),
		cmocka_unit_test(registration_errors),
		cmocka_unit_test(callback_metrics),
		cmocka_unit_test(render_is_bounded),
		cmocka_unit_test(promtool_accepts_realistic_registry),
		cmocka_unit_test(promtool_rejects_bad_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
