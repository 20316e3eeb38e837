/* lc_curl: requests to a real evhttp server on port 0, both driven by
 * the test's own event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "libcommon/curl.h"
#include "libcommon/log.h"

#define MAX_HELD 256  /* /hang requests the server keeps unanswered */
#define MAX_PORTS 512 /* distinct client ports the server has seen */

struct fx {
	struct event_base *base;
	struct evhttp *http;
	int port;
	struct lc_curl *curl;
	struct evhttp_request *held[MAX_HELD]; /* /hang, answered at the end */
	int nheld;
	int served;                 /* requests the server saw */
	int ports[MAX_PORTS];       /* distinct peer ports, in order seen */
	int nports;
	int done;                   /* callbacks run */
	int want;                   /* loop stops when done reaches it */
	int want_served;            /* ... or when served reaches this */
	bool in_start;              /* inside lc_curl_start */
	bool in_free;               /* inside lc_curl_free */
	char logpath[64];
	int logfd;
};

/* What one request's callback saw. */
struct got {
	struct fx *f;
	int calls;
	long status;
	char body[8192];
	size_t body_len;
	bool failed;
	char error[128];
	bool timed_out;
	bool during_start;          /* cb ran inside lc_curl_start */
	bool during_free;           /* cb ran inside lc_curl_free */
	int64_t elapsed_ms;
	char method[16];            /* X-Method echoed by the server */
	char auth[128];             /* X-Auth */
	char test[64];              /* X-Test */
	char ctype[64];             /* X-Content-Type */
	bool lower_found;           /* lc_curl_header is case-insensitive */
	bool missing_null;          /* unknown header -> NULL */
	void (*then)(struct got *g); /* run at the end of the callback */
	struct lc_curl_req *r;      /* what lc_curl_start returned */
	int index;
};

/* ---- the server ---- */

static void note_peer(struct fx *f, struct evhttp_request *req)
{
	char *addr;
	ev_uint16_t port;
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr,
				   &port);
	for (int i = 0; i < f->nports; i++)
		if (f->ports[i] == port)
			return;
	if (f->nports < MAX_PORTS)
		f->ports[f->nports++] = port;
}

static void add_hdr(struct evhttp_request *req, const char *name,
		    const char *in_name)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *v = evhttp_find_header(in, in_name);
	evhttp_add_header(evhttp_request_get_output_headers(req), name,
			  v ? v : "");
}

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* n from "?n=123" */
static size_t query_n(const char *uri)
{
	const char *p = strstr(uri, "n=");
	return p ? (size_t)strtoul(p + 2, NULL, 10) : 0;
}

static void serve(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	f->served++;
	note_peer(f, req);
	if (strncmp(uri, "http://", 7) == 0) { /* we are the proxy */
		evbuffer_add_printf(out, "proxied %s", uri);
		evhttp_send_reply(req, 200, "OK", NULL);
	} else if (strncmp(uri, "/echo", 5) == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		evbuffer_add_buffer(out, in);
		enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "X-Method", method_name(cmd));
		add_hdr(req, "X-Auth", "Authorization");
		add_hdr(req, "X-Test", "X-Test");
		add_hdr(req, "X-Content-Type", "Content-Type");
		evhttp_send_reply(req, 200, "OK", NULL);
	} else if (strcmp(uri, "/status/404") == 0) {
		evbuffer_add_printf(out, "nope");
		evhttp_send_reply(req, 404, "Not Found", NULL);
	} else if (strcmp(uri, "/status/500") == 0) {
		evbuffer_add_printf(out, "boom");
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
	} else if (strncmp(uri, "/big?", 5) == 0) {
		size_t n = query_n(uri);
		char *p = malloc(n + 1);
		assert_non_null(p);
		memset(p, 'x', n);
		evbuffer_add(out, p, n);
		free(p);
		evhttp_send_reply(req, 200, "OK", NULL);
	} else if (strncmp(uri, "/chunked?", 9) == 0) {
		size_t n = query_n(uri);
		evhttp_send_reply_start(req, 200, "OK");
		struct evbuffer *b = evbuffer_new();
		for (size_t i = 0; i < n; i += 100) {
			char chunk[100];
			memset(chunk, 'y', sizeof(chunk));
			evbuffer_add(b, chunk, n - i < 100 ? n - i : 100);
			evhttp_send_reply_chunk(req, b);
		}
		evbuffer_free(b);
		evhttp_send_reply_end(req);
	} else if (strcmp(uri, "/hang") == 0) {
		assert_true(f->nheld < MAX_HELD);
		f->held[f->nheld++] = req;
		if (f->want_served && f->served >= f->want_served)
			event_base_loopbreak(f->base);
	} else {
		evhttp_send_reply(req, 404, "Not Found", NULL);
	}
}

/* ---- fixture ---- */

static int bound_port(struct evhttp_bound_socket *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(s),
				     (struct sockaddr *)&sin, &len),
			 0);
	return ntohs(sin.sin_port);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->logpath, sizeof(f->logpath), "/tmp/test_curl_log.XXXXXX");
	f->logfd = mkstemp(f->logpath);
	assert_true(f->logfd >= 0);
	lc_log_set_fd(f->logfd);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->http = evhttp_new(f->base);
	assert_non_null(f->http);
	evhttp_set_allowed_methods(f->http,
				   EVHTTP_REQ_GET | EVHTTP_REQ_POST |
					   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					   EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(f->http, serve, f);
	struct evhttp_bound_socket *s =
		evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(s);
	f->port = bound_port(s);
	char err[256];
	f->curl = lc_curl_new(f->base, err, sizeof(err));
	if (!f->curl)
		fail_msg("lc_curl_new: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	lc_curl_free(f->curl);
	for (int i = 0; i < f->nheld; i++)
		evhttp_send_reply(f->held[i], 200, "OK", NULL);
	evhttp_free(f->http);
	event_base_free(f->base);
	lc_log_set_fd(-1);
	close(f->logfd);
	unlink(f->logpath);
	free(f);
	return 0;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until want callbacks ran (or, with want 0, for ms). */
static void run(struct fx *f, int want, int ms)
{
	f->want = want;
	if (want == 0 || f->done < want) {
		struct event *t = evtimer_new(f->base, on_deadline, f->base);
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		evtimer_add(t, &tv);
		event_base_dispatch(f->base);
		event_free(t);
	}
	if (want && f->done < want)
		fail_msg("%d of %d callbacks within %d ms", f->done, want, ms);
	f->want = 0;
}

/* Run until the server has seen want requests. */
static void run_served(struct fx *f, int want)
{
	f->want_served = want;
	struct event *t = evtimer_new(f->base, on_deadline, f->base);
	struct timeval tv = { 5, 0 };
	evtimer_add(t, &tv);
	if (f->served < want)
		event_base_dispatch(f->base);
	event_free(t);
	f->want_served = 0;
	if (f->served < want)
		fail_msg("server saw %d of %d requests", f->served, want);
}

static void copy_hdr(const struct lc_curl_response *res, const char *name,
		     char *out, size_t n)
{
	const char *v = lc_curl_header(res->req, name);
	snprintf(out, n, "%s", v ? v : "(none)");
}

static void on_done(const struct lc_curl_response *res, void *arg)
{
	struct got *g = arg;
	struct fx *f = g->f;
	g->calls++;
	g->during_start = f->in_start;
	g->during_free = f->in_free;
	g->status = res->status;
	g->failed = res->error != NULL;
	snprintf(g->error, sizeof(g->error), "%s",
		 res->error ? res->error : "");
	g->timed_out = res->timed_out;
	g->elapsed_ms = res->elapsed_ms;
	assert_non_null(res->body);
	assert_int_equal(res->body[res->body_len], '\0');
	g->body_len = res->body_len;
	size_t n = res->body_len < sizeof(g->body) - 1 ? res->body_len
						       : sizeof(g->body) - 1;
	memcpy(g->body, res->body, n);
	g->body[n] = '\0';
	copy_hdr(res, "X-Method", g->method, sizeof(g->method));
	copy_hdr(res, "X-Auth", g->auth, sizeof(g->auth));
	copy_hdr(res, "X-Test", g->test, sizeof(g->test));
	copy_hdr(res, "X-Content-Type", g->ctype, sizeof(g->ctype));
	g->lower_found = lc_curl_header(res->req, "x-method") != NULL;
	g->missing_null = lc_curl_header(res->req, "X-Nope") == NULL;
	f->done++;
	if (g->then)
		g->then(g);
	if (f->want && f->done >= f->want)
		event_base_loopbreak(f->base);
}

static struct lc_curl_req *start(struct fx *f, struct lc_curl_opts *o,
				 struct got *g)
{
	char url[256];
	if (o->url && o->url[0] == '/') {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port,
			 o->url);
		o->url = url;
	}
	g->f = f;
	f->in_start = true;
	struct lc_curl_req *r = lc_curl_start(f->curl, o, on_done, g);
	f->in_start = false;
	assert_non_null(r);
	g->r = r;
	return r;
}

/* ---- tests ---- */

static void get_with_headers(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	const char *h[] = { "X-Test: hello there", NULL };
	struct lc_curl_opts o = { .url = "/echo", .headers = h };
	start(f, &o, &g);
	assert_int_equal(lc_curl_pending(f->curl), 1);
	run(f, 1, 5000);
	assert_int_equal(g.calls, 1);
	assert_false(g.failed);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.method, "GET");
	assert_string_equal(g.test, "hello there");
	assert_string_equal(g.auth, "");
	assert_int_equal(g.body_len, 0);
	assert_string_equal(g.body, "");
	assert_true(g.lower_found);
	assert_true(g.missing_null);
	assert_false(g.during_start);
	assert_true(g.elapsed_ms >= 0 && g.elapsed_ms < 5000);
	assert_int_equal(lc_curl_pending(f->curl), 0);
}

static void post_put_delete(void **state)
{
	struct fx *f = *state;
	static const char body[] = "{\"pair\":\"BTC/USDT\",\"n\":1}";
	const char *h[] = { "Content-Type: application/json", "X-Test: 42",
			    NULL };
	struct got post = { 0 }, put = { 0 }, del = { 0 }, patch = { 0 };
	struct lc_curl_opts o = { .method = "POST", .url = "/echo",
				  .headers = h, .body = body,
				  .body_len = strlen(body) };
	start(f, &o, &post);
	o = (struct lc_curl_opts){ .method = "PUT", .url = "/echo",
				   .body = "abc\0def", .body_len = 7 };
	start(f, &o, &put);
	o = (struct lc_curl_opts){ .method = "DELETE", .url = "/echo" };
	start(f, &o, &del);
	o = (struct lc_curl_opts){ .method = "PATCH", .url = "/echo" };
	start(f, &o, &patch);
	run(f, 4, 5000);
	assert_int_equal(post.status, 200);
	assert_string_equal(post.method, "POST");
	assert_string_equal(post.body, body);
	assert_string_equal(post.ctype, "application/json");
	assert_string_equal(post.test, "42");
	assert_int_equal(put.status, 200);
	assert_string_equal(put.method, "PUT");
	/* the body was copied whole, NUL included */
	assert_int_equal(put.body_len, 7);
	assert_memory_equal(put.body, "abc\0def", 7);
	assert_int_equal(del.status, 200);
	assert_string_equal(del.method, "DELETE");
	assert_int_equal(del.body_len, 0);
	assert_int_equal(patch.status, 200);
	assert_string_equal(patch.method, "PATCH");
}

static void basic_auth(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	struct lc_curl_opts o = { .url = "/echo", .userpwd = "bot:s3cret" };
	start(f, &o, &g);
	run(f, 1, 5000);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.auth, "Basic Ym90OnMzY3JldA==");
}

static void status_codes_complete(void **state)
{
	struct fx *f = *state;
	struct got a = { 0 }, b = { 0 }, c = { 0 };
	struct lc_curl_opts o = { .url = "/status/404" };
	start(f, &o, &a);
	o = (struct lc_curl_opts){ .url = "/status/500" };
	start(f, &o, &b);
	o = (struct lc_curl_opts){ .url = "/echo" };
	start(f, &o, &c);
	run(f, 3, 5000);
	assert_false(a.failed);
	assert_int_equal(a.status, 404);
	assert_string_equal(a.body, "nope");
	assert_false(b.failed);
	assert_int_equal(b.status, 500);
	assert_string_equal(b.body, "boom");
	assert_false(c.failed);
	assert_int_equal(c.status, 200);
}

/* A port nobody listens on: bound, never listened, then closed. */
static int closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	return ntohs(sin.sin_port);
}

static void connection_refused(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
	struct lc_curl_opts o = { .url = url };
	start(f, &o, &g);
	assert_int_equal(g.calls, 0); /* not from inside lc_curl_start */
	run(f, 1, 5000);
	assert_int_equal(g.calls, 1);
	assert_false(g.during_start);
	assert_true(g.failed);
	assert_string_equal(g.error, "connection refused");
	assert_false(g.timed_out);
	assert_int_equal(g.status, 0);
	assert_string_equal(g.body, "");
}

static void timeout(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	struct lc_curl_opts o = { .url = "/hang", .timeout_ms = 300 };
	start(f, &o, &g);
	run(f, 1, 5000);
	assert_int_equal(g.calls, 1);
	assert_true(g.failed);
	assert_string_equal(g.error, "timeout");
	assert_true(g.timed_out);
	assert_int_equal(g.status, 0);
	assert_true(g.elapsed_ms >= 250);
	assert_true(g.elapsed_ms < 3000);
	assert_int_equal(f->nheld, 1);
}

static void response_limit(void **state)
{
	struct fx *f = *state;
	struct got len = { 0 }, chunked = { 0 }, fits = { 0 }, dflt = { 0 };
	/* over the limit with a Content-Length (refused up front) */
	struct lc_curl_opts o = { .url = "/big?n=5000",
				  .max_response_bytes = 1000 };
	start(f, &o, &len);
	/* over the limit, chunked (refused while reading) */
	o = (struct lc_curl_opts){ .url = "/chunked?n=5000",
				   .max_response_bytes = 1000 };
	start(f, &o, &chunked);
	/* exactly at the limit */
	o = (struct lc_curl_opts){ .url = "/big?n=1000",
				   .max_response_bytes = 1000 };
	start(f, &o, &fits);
	/* the default limit is 1 MiB */
	o = (struct lc_curl_opts){ .url = "/big?n=1048577" };
	start(f, &o, &dflt);
	run(f, 4, 10000);
	assert_true(len.failed);
	assert_string_equal(len.error, "response too large");
	assert_false(len.timed_out);
	assert_true(chunked.failed);
	assert_string_equal(chunked.error, "response too large");
	assert_false(fits.failed);
	assert_int_equal(fits.body_len, 1000);
	assert_true(dflt.failed);
	assert_string_equal(dflt.error, "response too large");
}

#define NCONC 200

static void concurrent_200(void **state)
{
	struct fx *f = *state;
	struct got *g = calloc(NCONC, sizeof(*g));
	assert_non_null(g);
	for (int i = 0; i < NCONC; i++) {
		char hdr[32];
		snprintf(hdr, sizeof(hdr), "X-Test: %d", i);
		const char *h[] = { hdr, NULL };
		struct lc_curl_opts o = { .url = "/echo", .headers = h };
		start(f, &o, &g[i]);
	}
	assert_int_equal(lc_curl_pending(f->curl), NCONC);
	run(f, NCONC, 20000);
	/* a little longer: nothing runs twice */
	run(f, 0, 100);
	assert_int_equal(f->done, NCONC);
	for (int i = 0; i < NCONC; i++) {
		char want[16];
		snprintf(want, sizeof(want), "%d", i);
		assert_int_equal(g[i].calls, 1);
		assert_int_equal(g[i].status, 200);
		assert_string_equal(g[i].test, want);
	}
	assert_int_equal(lc_curl_pending(f->curl), 0);
	assert_int_equal(f->served, NCONC);
	free(g);
}

/* Each callback starts the next request: sequential on one loop. */
static void chain_next(struct got *g)
{
	if (g->index + 1 >= 20)
		return;
	struct got *next = g + 1;
	next->index = g->index + 1;
	next->then = chain_next;
	struct lc_curl_opts o = { .url = "/echo" };
	start(g->f, &o, next);
}

static void connections_reused(void **state)
{
	struct fx *f = *state;
	struct got g[20] = { 0 };
	g[0].then = chain_next;
	struct lc_curl_opts o = { .url = "/echo" };
	start(f, &o, &g[0]);
	run(f, 20, 10000);
	for (int i = 0; i < 20; i++)
		assert_int_equal(g[i].status, 200);
	/* 20 requests, one after the other: one TCP connection */
	assert_int_equal(f->served, 20);
	assert_int_equal(f->nports, 1);

	/* two rounds of 50 in parallel: the second reuses the first's */
	struct got *p = calloc(100, sizeof(*p));
	assert_non_null(p);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 50; i++) {
			o = (struct lc_curl_opts){ .url = "/echo" };
			start(f, &o, &p[round * 50 + i]);
		}
		run(f, 20 + 50 * (round + 1), 10000);
	}
	assert_int_equal(f->served, 120);
	assert_true(f->nports <= 51);
	free(p);
}

/* Cancelling a request from its own callback does nothing. */
static void cancel_self(struct got *g)
{
	lc_curl_cancel(g->r);
}

static void cancel(void **state)
{
	struct fx *f = *state;
	struct got early = { 0 }, late = { 0 }, other = { 0 };
	/* cancelled before the loop ever ran */
	struct lc_curl_opts o = { .url = "/echo" };
	struct lc_curl_req *r = start(f, &o, &early);
	lc_curl_cancel(r);
	assert_int_equal(lc_curl_pending(f->curl), 0);
	/* cancelled once the server holds it */
	o = (struct lc_curl_opts){ .url = "/hang" };
	r = start(f, &o, &late);
	run_served(f, 1);
	assert_int_equal(f->nheld, 1);
	lc_curl_cancel(r);
	assert_int_equal(lc_curl_pending(f->curl), 0);
	/* the client still works afterwards */
	o = (struct lc_curl_opts){ .url = "/echo" };
	other.then = cancel_self;
	start(f, &o, &other);
	run(f, 1, 5000);
	run(f, 0, 200);
	assert_int_equal(early.calls, 0);
	assert_int_equal(late.calls, 0);
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.status, 200);
	lc_curl_cancel(NULL);
}

static void free_cancels_pending(void **state)
{
	struct fx *f = *state;
	struct got g[5] = { 0 };
	for (int i = 0; i < 5; i++) {
		struct lc_curl_opts o = { .url = "/hang" };
		start(f, &o, &g[i]);
	}
	run_served(f, 5);
	f->in_free = true;
	lc_curl_free(f->curl);
	f->in_free = false;
	f->curl = NULL;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(g[i].calls, 1);
		assert_true(g[i].during_free);
		assert_true(g[i].failed);
		assert_string_equal(g[i].error, "cancelled");
		assert_false(g[i].timed_out);
	}
	run(f, 0, 100);
	for (int i = 0; i < 5; i++)
		assert_int_equal(g[i].calls, 1);
	lc_curl_free(NULL);
}

static void free_from_callback(struct got *g)
{
	lc_curl_free(g->f->curl);
	g->f->curl = NULL;
}

static void free_inside_callback(void **state)
{
	struct fx *f = *state;
	struct got hang[3] = { 0 }, g = { 0 };
	for (int i = 0; i < 3; i++) {
		struct lc_curl_opts o = { .url = "/hang" };
		start(f, &o, &hang[i]);
	}
	run_served(f, 3);
	g.then = free_from_callback;
	struct lc_curl_opts o = { .url = "/echo" };
	start(f, &o, &g);
	run(f, 4, 5000);
	assert_null(f->curl);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, 200);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hang[i].calls, 1);
		assert_string_equal(hang[i].error, "cancelled");
	}
	run(f, 0, 100);
	assert_int_equal(f->done, 4);
}

static void through_proxy(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char proxy[64];
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", f->port);
	struct lc_curl_opts o = { .url = "http://bot.invalid/api/v1/ping",
				  .proxy = proxy };
	start(f, &o, &g);
	run(f, 1, 5000);
	assert_false(g.failed);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body,
			    "proxied http://bot.invalid/api/v1/ping");
}

static void start_errors(void **state)
{
	struct fx *f = *state;
	struct got g = { .f = f };
	struct lc_curl_opts o = { .url = NULL };
	assert_null(lc_curl_start(f->curl, &o, on_done, &g));
	/* a scheme we do not speak fails on the loop, not in start */
	o = (struct lc_curl_opts){ .url = "file:///etc/passwd" };
	assert_non_null(lc_curl_start(f->curl, &o, on_done, &g));
	run(f, 1, 5000);
	assert_int_equal(g.calls, 1);
	assert_true(g.failed);
	assert_string_equal(g.body, "");
	assert_int_equal(lc_curl_pending(f->curl), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(get_with_headers),
		T(post_put_delete),
		T(basic_auth),
		T(status_codes_complete),
		T(connection_refused),
		T(timeout),
		T(response_limit),
		T(concurrent_200),
		T(connections_reused),
		T(cancel),
		T(free_cancels_pending),
		T(free_inside_callback),
		T(through_proxy),
		T(start_errors),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
