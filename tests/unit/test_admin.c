/* lc_admin: a real admin server on port 0 in the test's own event_base,
 * queried with libevent's HTTP client driven by the same loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/promtool.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "libcommon/admin.h"
#include "libcommon/buf.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"

struct dep {
	bool up;            /* what the check reports */
	const char *reason; /* detail written when down (NULL: none) */
	int calls;
};

struct fx {
	struct event_base *base;
	struct lc_metrics *reg;
	struct lc_admin *admin;
	struct evhttp_connection *conn;
	struct lc_series *reqs;
	struct dep pg, redis;
	char logpath[64];
	int logfd;
};

struct result {
	struct event_base *base;
	bool done;
	int code;           /* 0: no response */
	char ctype[128];
	char allow[64];
	char body[1 << 16];
	size_t len;
};

static bool dep_check(void *arg, char *detail, size_t n)
{
	struct dep *d = arg;
	d->calls++;
	if (!d->up && d->reason)
		snprintf(detail, n, "%s", d->reason);
	return d->up;
}

static void copy_header(struct evhttp_request *req, const char *name,
			char *out, size_t n)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *v = evhttp_find_header(h, name);
	snprintf(out, n, "%s", v ? v : "");
}

static void on_done(struct evhttp_request *req, void *arg)
{
	struct result *r = arg;
	r->done = true;
	if (req) {
		r->code = evhttp_request_get_response_code(req);
		copy_header(req, "Content-Type", r->ctype, sizeof(r->ctype));
		copy_header(req, "Allow", r->allow, sizeof(r->allow));
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		r->len = evbuffer_remove(in, r->body, sizeof(r->body) - 1);
	}
	r->body[r->len] = '\0';
	event_base_loopbreak(r->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* One request on the fixture's keep-alive connection; runs the loop (and
 * with it the server) until the reply arrives or 5 s pass. */
static struct result *http(struct fx *f, enum evhttp_cmd_type cmd,
			   const char *uri)
{
	struct result *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->base = f->base;
	struct evhttp_request *req = evhttp_request_new(on_done, r);
	assert_non_null(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  "127.0.0.1");
	assert_int_equal(evhttp_make_request(f->conn, req, cmd, uri), 0);
	struct event *t = evtimer_new(f->base, on_timeout, f->base);
	struct timeval tv = { 5, 0 };
	evtimer_add(t, &tv);
	event_base_dispatch(f->base);
	event_free(t);
	if (!r->done)
		fail_msg("no reply to %s within 5 s", uri);
	return r;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	assert_non_null(f);
	snprintf(f->logpath, sizeof(f->logpath), "/tmp/test_admin_log.XXXXXX");
	f->logfd = mkstemp(f->logpath);
	assert_true(f->logfd >= 0);
	lc_log_set_fd(f->logfd);
	f->base = event_base_new();
	f->reg = lc_metrics_new();
	assert_non_null(f->base);
	assert_non_null(f->reg);
	struct lc_metric *m = lc_metrics_counter(
		f->reg, "test_requests_total", "Requests.", LC_LABELS("route"),
		err, sizeof(err));
	assert_non_null(m);
	f->reqs = lc_metric_series(m, "/x");
	lc_series_add(f->reqs, 3);
	f->admin = lc_admin_new(f->base, "test-svc", "1.2.3", NULL, 0, f->reg,
				err, sizeof(err));
	if (!f->admin)
		fail_msg("lc_admin_new: %s", err);
	assert_true(lc_admin_port(f->admin) > 0);
	uint16_t port = (uint16_t)lc_admin_port(f->admin);
	f->conn = evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
					     port);
	assert_non_null(f->conn);
	evhttp_connection_set_timeout(f->conn, 5);
	f->pg.up = f->redis.up = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	evhttp_connection_free(f->conn);
	lc_admin_free(f->admin);
	lc_metrics_free(f->reg);
	event_base_free(f->base);
	lc_log_set_fd(-1);
	close(f->logfd);
	unlink(f->logpath);
	free(f);
	return 0;
}

/* The log lines written so far (caller frees). */
static char *logs(struct fx *f)
{
	char *buf = calloc(1, 1 << 16);
	assert_non_null(buf);
	ssize_t n = pread(f->logfd, buf, (1 << 16) - 1, 0);
	assert_true(n >= 0);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p;
	     p = strstr(p + 1, needle))
		n++;
	return n;
}

static void healthz(void **state)
{
	struct fx *f = *state;
	struct result *r = http(f, EVHTTP_REQ_GET, "/healthz");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->ctype, "application/json");
	cJSON *j = cJSON_Parse(r->body);
	if (!j)
		fail_msg("not JSON: %s", r->body);
	assert_string_equal(cJSON_GetStringValue(
				    cJSON_GetObjectItem(j, "status")), "ok");
	assert_string_equal(cJSON_GetStringValue(
				    cJSON_GetObjectItem(j, "service")),
			    "test-svc");
	assert_string_equal(cJSON_GetStringValue(
				    cJSON_GetObjectItem(j, "version")),
			    "1.2.3");
	cJSON *up = cJSON_GetObjectItem(j, "uptime_s");
	assert_true(cJSON_IsNumber(up));
	assert_true(up->valuedouble >= 0 && up->valuedouble < 60);
	cJSON_Delete(j);
	free(r);

	/* a query string does not change the route; HEAD has no body */
	r = http(f, EVHTTP_REQ_GET, "/healthz?verbose=1");
	assert_int_equal(r->code, 200);
	free(r);
	r = http(f, EVHTTP_REQ_HEAD, "/healthz");
	assert_int_equal(r->code, 200);
	assert_int_equal(r->len, 0);
	free(r);
}

static void readyz_follows_checks(void **state)
{
	struct fx *f = *state;
	char err[256];
	f->pg.reason = "connection refused";
	assert_int_equal(lc_admin_add_check(f->admin, "postgres", dep_check,
					    &f->pg, err, sizeof(err)),
			 0);
	assert_int_equal(lc_admin_add_check(f->admin, "redis", dep_check,
					    &f->redis, err, sizeof(err)),
			 0);
	struct result *r = http(f, EVHTTP_REQ_GET, "/readyz");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->ctype, "application/json");
	assert_string_equal(r->body,
			    "{\"status\":\"ready\",\"checks\":"
			    "{\"postgres\":\"ok\",\"redis\":\"ok\"}}");
	assert_int_equal(f->pg.calls, 1);
	assert_int_equal(f->redis.calls, 1);
	free(r);

	f->pg.up = false;
	for (int i = 0; i < 2; i++) {
		r = http(f, EVHTTP_REQ_GET, "/readyz");
		assert_int_equal(r->code, 503);
		assert_string_equal(
			r->body,
			"{\"status\":\"unready\",\"failed\":[\"postgres\"],"
			"\"checks\":{\"postgres\":\"connection refused\","
			"\"redis\":\"ok\"}}");
		free(r);
	}
	f->redis.up = false; /* no detail given */
	r = http(f, EVHTTP_REQ_GET, "/readyz");
	assert_int_equal(r->code, 503);
	assert_string_equal(r->body,
			    "{\"status\":\"unready\",\"failed\":[\"postgres\","
			    "\"redis\"],\"checks\":{\"postgres\":\"connection "
			    "refused\",\"redis\":\"failed\"}}");
	free(r);

	f->pg.up = f->redis.up = true;
	r = http(f, EVHTTP_REQ_GET, "/readyz");
	assert_int_equal(r->code, 200);
	free(r);

	/* each change is logged once, not every probe */
	char *l = logs(f);
	assert_int_equal(count(l, "\"event\":\"admin.check_failed\""), 2);
	assert_int_equal(count(l, "\"check\":\"postgres\""), 2);
	assert_int_equal(count(l, "\"event\":\"admin.check_ok\""), 2);
	free(l);
}

static void readyz_without_checks(void **state)
{
	struct fx *f = *state;
	struct result *r = http(f, EVHTTP_REQ_GET, "/readyz");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, "{\"status\":\"ready\",\"checks\":{}}");
	free(r);
}

static void add_check_errors(void **state)
{
	struct fx *f = *state;
	char err[256];
	assert_int_equal(lc_admin_add_check(f->admin, "pg", dep_check, &f->pg,
					    err, sizeof(err)),
			 0);
	assert_int_equal(lc_admin_add_check(f->admin, "pg", dep_check, &f->pg,
					    err, sizeof(err)),
			 -1);
	assert_string_equal(err, "check 'pg' is already added");
	assert_int_equal(lc_admin_add_check(f->admin, "", dep_check, &f->pg,
					    err, sizeof(err)),
			 -1);
	assert_int_equal(lc_admin_add_check(f->admin, "x", NULL, NULL, err,
					    sizeof(err)),
			 -1);
	char name[16];
	for (int i = 1; i < LC_ADMIN_MAX_CHECKS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(lc_admin_add_check(f->admin, name, dep_check,
						    &f->pg, err, sizeof(err)),
				 0);
	}
	assert_int_equal(lc_admin_add_check(f->admin, "last", dep_check,
					    &f->pg, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "cannot add check 'last': at most 32 checks");
}

static void metrics(void **state)
{
	struct fx *f = *state;
	lc_series_inc(f->reqs);
	struct result *r = http(f, EVHTTP_REQ_GET, "/metrics");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->ctype,
			    "text/plain; version=0.0.4; charset=utf-8");
	static const char *const want[] = {
		"# TYPE test_requests_total counter\n"
		"test_requests_total{route=\"/x\"} 4\n",
		"\nbtcw_build_info{service=\"test-svc\","
		"version=\"1.2.3\"} 1\n",
		"\n# TYPE process_start_time_seconds gauge\n",
		"\n# TYPE process_cpu_seconds_total counter\n",
		"\nprocess_resident_memory_bytes ",
		"\nprocess_virtual_memory_bytes ",
		"\nprocess_open_fds ",
		"\nprocess_max_fds ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(r->body, want[i])) {
			print_error("%s\n", r->body);
			fail_msg("missing '%s' in the text above", want[i]);
		}
	}
	/* the start time is a real Unix time, not far from now */
	const char *st = strstr(r->body, "\nprocess_start_time_seconds ");
	assert_non_null(st);
	double t = strtod(st + 28, NULL);
	double now = (double)time(NULL);
	assert_true(t > now - 3600 && t <= now + 1);
	/* resident memory is more than nothing */
	const char *rss = strstr(r->body, "\nprocess_resident_memory_bytes ");
	assert_true(strtod(rss + 31, NULL) > 1e5);
	char out[4096];
	int rc = promtool_check(r->body, out, sizeof(out));
	if (rc != 0 || out[0] != '\0') {
		print_error("%s\n", r->body);
		fail_msg("promtool exit %d on the text above: %s", rc, out);
	}
	free(r);
}

/* Negative control: the promtool check in metrics() can fail. */
static void promtool_can_fail(void **state)
{
	(void)state;
	char out[4096];
	assert_int_not_equal(promtool_check("# HELP x X.\n# TYPE x counter\n"
					    "x 1\n",
					    out, sizeof(out)),
			     0);
	assert_non_null(strstr(out, "_total"));
}

static void not_found(void **state)
{
	struct fx *f = *state;
	static const char *const paths[] = { "/nope", "/healthz/", "/",
					     "/metrics.json" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct result *r = http(f, EVHTTP_REQ_GET, paths[i]);
		assert_int_equal(r->code, 404);
		assert_string_equal(r->ctype, "application/json");
		char want[256];
		snprintf(want, sizeof(want),
			 "{\"error\":\"not_found\",\"detail\":"
			 "\"no such path '%s'\"}",
			 paths[i]);
		assert_string_equal(r->body, want);
		free(r);
	}
	/* a path that needs JSON escaping and is cut to a bounded length */
	char uri[512] = "/a\"b";
	memset(uri + 4, 'x', 300);
	uri[304] = '\0';
	struct result *r = http(f, EVHTTP_REQ_GET, uri);
	assert_int_equal(r->code, 404);
	cJSON *j = cJSON_Parse(r->body);
	if (!j)
		fail_msg("not JSON: %s", r->body);
	const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(j, "detail"));
	assert_non_null(d);
	assert_true(strncmp(d, "no such path '/a\"bxxx", 21) == 0);
	assert_true(strlen(d) < 160);
	cJSON_Delete(j);
	free(r);
}

static void method_not_allowed(void **state)
{
	struct fx *f = *state;
	static const struct {
		enum evhttp_cmd_type cmd;
		const char *path;
	} cases[] = { { EVHTTP_REQ_POST, "/healthz" },
		      { EVHTTP_REQ_DELETE, "/metrics" },
		      { EVHTTP_REQ_PUT, "/readyz" },
		      { EVHTTP_REQ_OPTIONS, "/healthz" } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result *r = http(f, cases[i].cmd, cases[i].path);
		assert_int_equal(r->code, 405);
		assert_string_equal(r->ctype, "application/json");
		assert_string_equal(r->allow, "GET, HEAD");
		char want[256];
		snprintf(want, sizeof(want),
			 "{\"error\":\"method_not_allowed\",\"detail\":"
			 "\"'%s' allows GET and HEAD only\"}",
			 cases[i].path);
		assert_string_equal(r->body, want);
		free(r);
	}
	/* an unknown path is 404 whatever the method */
	struct result *r = http(f, EVHTTP_REQ_POST, "/nope");
	assert_int_equal(r->code, 404);
	free(r);
	/* and the connection still serves after all of that */
	r = http(f, EVHTTP_REQ_GET, "/healthz");
	assert_int_equal(r->code, 200);
	free(r);
}

static void start_errors(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct lc_metrics *reg = lc_metrics_new();
	/* the port is taken */
	assert_null(lc_admin_new(f->base, "b", "1", "127.0.0.1",
				 lc_admin_port(f->admin), reg, err,
				 sizeof(err)));
	assert_non_null(strstr(err, "cannot listen on '127.0.0.1' port"));
	/* ... and that left nothing in the registry */
	struct lc_buf b;
	lc_buf_init(&b, 1 << 16);
	assert_int_equal(lc_metrics_render(reg, &b), 0);
	assert_int_equal(b.len, 0);
	lc_buf_release(&b);
	assert_null(lc_admin_new(f->base, "b", "1", "localhost", 0, reg, err,
				 sizeof(err)));
	assert_string_equal(err, "admin address 'localhost' is not a numeric "
				 "IPv4 or IPv6 address");
	assert_null(lc_admin_new(f->base, "b", "1", NULL, 70000, reg, err,
				 sizeof(err)));
	/* the fixture's registry already has the process metrics */
	assert_null(lc_admin_new(f->base, "b", "1", NULL, 0, f->reg, err,
				 sizeof(err)));
	assert_string_equal(err, "metric 'process_start_time_seconds' is "
				 "already registered");
	lc_metrics_free(reg);
}

static void own_registry(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct lc_admin *a = lc_admin_new(f->base, "solo", "0.1", "127.0.0.1",
					  0, NULL, err, sizeof(err));
	if (!a)
		fail_msg("lc_admin_new: %s", err);
	assert_non_null(lc_admin_metrics(a));
	assert_ptr_equal(lc_admin_metrics(f->admin), f->reg);
	struct evhttp_connection *save = f->conn;
	f->conn = evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
					     (uint16_t)lc_admin_port(a));
	struct result *r = http(f, EVHTTP_REQ_GET, "/metrics");
	assert_int_equal(r->code, 200);
	assert_non_null(strstr(r->body, "btcw_build_info{service=\"solo\","
					"version=\"0.1\"} 1\n"));
	assert_null(strstr(r->body, "test_requests_total"));
	free(r);
	evhttp_connection_free(f->conn);
	f->conn = save;
	lc_admin_free(a);
	lc_admin_free(NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(healthz),
		T(readyz_follows_checks),
		T(readyz_without_checks),
		T(add_check_errors),
		T(metrics),
		cmocka_unit_test(promtool_can_fail),
		T(not_found),
		T(method_not_allowed),
		T(start_errors),
		T(own_registry),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
