/* lc_bus: real nng sockets (inproc and tcp on 127.0.0.1) on one
 * event_base driven by the test; nngcat for the operator's view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/req.h>

#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

extern char **environ;

static struct event_base *base;
static char err[256];

static int setup(void **state)
{
	(void)state;
	base = event_base_new();
	err[0] = '\0';
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	event_base_free(base);
	base = NULL;
	return 0;
}

/* ---- loop helpers ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *flag (if given) is true or ms pass; returns *flag.
 * A 5 ms tick bounds each loop turn, so the deadline is honoured. */
static bool run_until(const bool *flag, int ms)
{
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, 5000 };
	int64_t end = lc_clock_mono_ms() + ms;

	event_add(tick, &tv);
	while (!(flag && *flag) && lc_clock_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return flag && *flag;
}

static void run_for(int ms)
{
	(void)run_until(NULL, ms);
}

static void inproc_url(char *buf, size_t n)
{
	static int seq;
	snprintf(buf, n, "inproc://bus-test-%d-%d", (int)getpid(), ++seq);
}

/* A port that was free a moment ago (the kernel picks it). */
static void tcp_url(char *buf, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(buf, n, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
}

/* ---- call results ---- */

struct outcome {
	int calls;       /* how many times the callback ran */
	bool done;
	bool ok;
	char code[64];
	char message[300];
	char *result;    /* printed result, owned */
	char *details;   /* printed error.details, owned */
	int tag;         /* caller's */
};

static void outcome_cb(const struct lc_bus_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->done = true;
	o->ok = res->ok;
	if (res->ok) {
		assert_non_null(res->result);
		o->result = cJSON_PrintUnformatted(res->result);
	} else {
		assert_null(res->result);
		snprintf(o->code, sizeof(o->code), "%s", res->code);
		snprintf(o->message, sizeof(o->message), "%s", res->message);
		if (res->details)
			o->details = cJSON_PrintUnformatted(res->details);
	}
}

static void outcome_release(struct outcome *o)
{
	cJSON_free(o->result);
	cJSON_free(o->details);
	o->result = o->details = NULL;
}

static cJSON *json(const char *s)
{
	cJSON *j = cJSON_Parse(s);
	assert_non_null(j);
	return j;
}

/* ---- handlers ---- */

/* Answers at once with its params. */
static void echo_handler(struct lc_bus_req *req, cJSON *params, void *arg)
{
	int *count = arg;
	if (count)
		(*count)++;
	lc_bus_reply_ok(req, cJSON_Duplicate(params, 1));
}

/* Keeps every request for the test to answer. */
struct held {
	struct lc_bus_req *reqs[128];
	int n[128]; /* params.n of each */
	int count;
};

static void hold_handler(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct held *h = arg;
	cJSON *n = cJSON_GetObjectItem(params, "n");

	assert_true(h->count < 128);
	h->n[h->count] = cJSON_IsNumber(n) ? n->valueint : -1;
	h->reqs[h->count++] = req;
}

static void notfound_handler(struct lc_bus_req *req, cJSON *params,
			     void *arg)
{
	(void)arg;
	int id = cJSON_GetObjectItem(params, "id")->valueint;
	lc_bus_reply_err_details(req, LC_ENV_E_NOT_FOUND,
				 json("{\"field\":\"id\"}"),
				 "no strategy %d", id);
}

/* A server on url with echo, hold and notfound methods. */
static struct lc_bus_server *server(const char *url, struct held *held,
				    const struct lc_bus_opts *opts)
{
	struct lc_bus_server *srv =
		lc_bus_server_new(base, url, opts, err, sizeof(err));

	assert_non_null(srv);
	assert_int_equal(lc_bus_server_handle(srv, "test.echo", echo_handler,
					      NULL),
			 0);
	assert_int_equal(lc_bus_server_handle(srv, "test.hold", hold_handler,
					      held),
			 0);
	assert_int_equal(lc_bus_server_handle(srv, "test.notfound",
					      notfound_handler, NULL),
			 0);
	return srv;
}

static struct lc_bus_client *client(const char *url,
				    const struct lc_bus_opts *opts)
{
	struct lc_bus_client *cli =
		lc_bus_client_new(base, url, opts, err, sizeof(err));
	assert_non_null(cli);
	return cli;
}

/* ---- request / reply ---- */

static void call_answered_at_once(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	struct lc_bus_stats st;
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	assert_int_equal(lc_bus_call(cli, "test.echo",
				     json("{\"a\":1,\"b\":[true,null]}"), 2000,
				     outcome_cb, &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_true(o.ok);
	assert_string_equal(o.result, "{\"a\":1,\"b\":[true,null]}");
	/* NULL params arrive as {} */
	outcome_release(&o);
	o.done = false;
	assert_int_equal(lc_bus_call(cli, "test.echo", NULL, 0, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_string_equal(o.result, "{}");
	assert_int_equal(o.calls, 2);
	lc_bus_server_stats(srv, &st);
	assert_int_equal(st.received, 2);
	assert_int_equal(st.inflight, 0);
	lc_bus_client_stats(cli, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.inflight, 0);
	outcome_release(&o);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

static void handler_error_with_details(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	assert_int_equal(lc_bus_call(cli, "test.notfound", json("{\"id\":42}"),
				     2000, outcome_cb, &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_false(o.ok);
	assert_string_equal(o.code, "not_found");
	assert_string_equal(o.message, "no strategy 42");
	assert_string_equal(o.details, "{\"field\":\"id\"}");
	outcome_release(&o);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

struct later {
	struct lc_bus_req *req;
	struct event *ev;
	bool got; /* the handler has run */
};

static void later_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;
	(void)fd;
	(void)what;
	lc_bus_reply_ok(l->req, json("{\"late\":true}"));
	l->req = NULL;
}

/* Answers 100 ms later from a timer: the reply comes from the loop, not
 * from inside the handler. */
static void later_handler(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct later *l = arg;
	struct timeval tv = { 0, 100000 };
	(void)params;
	l->req = req;
	l->got = true;
	evtimer_add(l->ev, &tv);
}

static void call_answered_later(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	struct later l = { NULL, NULL, false };
	struct lc_bus_stats st;
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	l.ev = evtimer_new(base, later_reply_cb, &l);
	assert_int_equal(lc_bus_server_handle(srv, "test.later", later_handler,
					      &l),
			 0);
	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(lc_bus_call(cli, "test.later", NULL, 2000, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&l.got, 2000));
	lc_bus_server_stats(srv, &st);
	assert_int_equal(st.inflight, 1);
	assert_false(o.done);
	assert_true(run_until(&o.done, 3000));
	/* libevent times with the coarse clock: allow a few ms early */
	assert_true(lc_clock_mono_ms() - t0 >= 90);
	assert_true(o.ok);
	assert_string_equal(o.result, "{\"late\":true}");
	lc_bus_server_stats(srv, &st);
	assert_int_equal(st.inflight, 0);
	outcome_release(&o);
	event_free(l.ev);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

static void many_calls_answered_out_of_order(void **state)
{
	(void)state;
	enum { N = 50 };
	char url[64];
	struct outcome o[N];
	struct held held = { 0 };
	int finished = 0;
	bool all = false;
	tcp_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	memset(o, 0, sizeof(o));
	for (int i = 0; i < N; i++) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "n", i);
		o[i].tag = i;
		assert_int_equal(lc_bus_call(cli, "test.hold", p, 5000,
					     outcome_cb, &o[i]),
				 0);
	}
	/* all N are in the server's hands at once */
	for (int64_t end = lc_clock_mono_ms() + 5000;
	     held.count < N && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held.count, N);
	/* answer in reverse order, each with its own n */
	for (int i = N - 1; i >= 0; i--) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "n", held.n[i]);
		lc_bus_reply_ok(held.reqs[i], r);
	}
	for (int64_t end = lc_clock_mono_ms() + 5000;
	     !all && lc_clock_mono_ms() < end;) {
		run_for(5);
		finished = 0;
		for (int i = 0; i < N; i++)
			finished += o[i].done;
		all = finished == N;
	}
	assert_int_equal(finished, N);
	for (int i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof(want), "{\"n\":%d}", i);
		assert_int_equal(o[i].calls, 1);
		assert_true(o[i].ok);
		assert_string_equal(o[i].result, want);
		outcome_release(&o[i]);
	}
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

static void unknown_method(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	assert_int_equal(lc_bus_call(cli, "test.nope", NULL, 2000, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_false(o.ok);
	assert_string_equal(o.code, "unknown_method");
	assert_non_null(strstr(o.message, "test.nope"));
	/* registering a method twice is refused */
	assert_int_equal(lc_bus_server_handle(srv, "test.echo", echo_handler,
					      NULL),
			 -1);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

/* Send body with a plain (cooked) nng req socket, run the loop until the
 * reply; returns it as a string (caller frees) or NULL on timeout. */
static char *raw_call(const char *url, const void *body, size_t len,
		      int wait_ms)
{
	nng_socket s;
	nng_msg *m;
	char *out = NULL;
	int rv;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, body, len), 0);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	for (int64_t end = lc_clock_mono_ms() + wait_ms;
	     lc_clock_mono_ms() < end;) {
		run_for(5);
		rv = nng_recvmsg(s, &m, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			continue;
		assert_int_equal(rv, 0);
		out = calloc(1, nng_msg_len(m) + 1);
		memcpy(out, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
		break;
	}
	nng_close(s);
	return out;
}

static void malformed_requests_get_bad_request(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "", "{\"v\":1,\"id\":null,\"ok\":false,\"error\":{\"code\":"
		      "\"bad_request\",\"message\":\"empty request\"}}" },
		{ "not json", NULL },
		{ "[1,2]",
		  "{\"v\":1,\"id\":null,\"ok\":false,\"error\":{\"code\":"
		  "\"bad_request\",\"message\":\"request is not a "
		  "JSON object\"}}" },
		{ "{\"v\":1,\"id\":5,\"params\":{}}",
		  "{\"v\":1,\"id\":5,\"ok\":false,\"error\":{\"code\":"
		  "\"bad_request\",\"message\":\"request 'method' must be a "
		  "non-empty string\"}}" },
		{ "{\"v\":2,\"id\":\"x\",\"method\":\"test.echo\"}",
		  "{\"v\":1,\"id\":\"x\",\"ok\":false,\"error\":{\"code\":"
		  "\"bad_request\",\"message\":\"unsupported request "
		  "version 2 (expected 1)\"}}" },
		{ "{\"v\":1,\"id\":6,\"method\":\"test.echo\",\"params\":[1]}",
		  "{\"v\":1,\"id\":6,\"ok\":false,\"error\":{\"code\":"
		  "\"bad_request\",\"message\":\"request 'params' must be an "
		  "object\"}}" },
		{ "{\"v\":1,\"id\":true,\"method\":\"test.echo\"}", NULL },
	};
	char url[64];
	struct lc_bus_stats st;
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, NULL);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *rep = raw_call(url, cases[i].in, strlen(cases[i].in),
				     3000);
		assert_non_null(rep);
		if (cases[i].want) {
			assert_string_equal(rep, cases[i].want);
		} else {
			assert_non_null(strstr(rep, "\"id\":null,\"ok\":false,"
						    "\"error\":{\"code\":"
						    "\"bad_request\""));
		}
		free(rep);
	}
	/* the server is still fine: string and integer ids echo */
	static const char ok_s[] =
		"{\"v\":1,\"id\":\"abc\",\"method\":\"test.echo\","
		"\"params\":{\"q\":1}}";
	static const char ok_i[] =
		"{\"v\":1,\"id\":123456789012,\"method\":\"test.echo\"}";
	char *rep = raw_call(url, ok_s, strlen(ok_s), 3000);
	assert_string_equal(rep, "{\"v\":1,\"id\":\"abc\",\"ok\":true,"
				 "\"result\":{\"q\":1}}");
	free(rep);
	rep = raw_call(url, ok_i, strlen(ok_i), 3000);
	assert_string_equal(rep, "{\"v\":1,\"id\":123456789012,\"ok\":true,"
				 "\"result\":{}}");
	free(rep);
	lc_bus_server_stats(srv, &st);
	assert_int_equal(st.errors, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(st.inflight, 0);
	lc_bus_server_free(srv);
}

static char *big_request(size_t n)
{
	static const char head[] =
		"{\"v\":1,\"id\":9,\"method\":\"test.echo\","
		"\"params\":{\"x\":\"";
	char *s = malloc(n + 1);
	memset(s, 'a', n);
	memcpy(s, head, sizeof(head) - 1);
	memcpy(s + n - 3, "\"}}", 3);
	s[n] = '\0';
	return s;
}

static void oversized_request_gets_too_large(void **state)
{
	(void)state;
	char url[64];
	struct lc_bus_opts opts = { .max_message_bytes = 1024 };
	tcp_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, &opts);

	/* just under the limit: answered */
	char *req = big_request(1000);
	char *rep = raw_call(url, req, strlen(req), 3000);
	assert_non_null(rep);
	assert_non_null(strstr(rep, "\"ok\":true"));
	free(rep);
	free(req);
	/* over the application limit, under the transport one (so tcp
	 * delivers it): too_large */
	req = big_request(1500);
	rep = raw_call(url, req, strlen(req), 3000);
	assert_non_null(rep);
	assert_string_equal(rep, "{\"v\":1,\"id\":null,\"ok\":false,"
				 "\"error\":{\"code\":\"too_large\","
				 "\"message\":\"request of 1500 bytes "
				 "exceeds the limit of 1024\"}}");
	free(rep);
	free(req);
	/* past twice the limit the transport drops it: no answer */
	req = big_request(2 * 1024 + 4096 + 100);
	rep = raw_call(url, req, strlen(req), 300);
	assert_null(rep);
	free(req);
	lc_bus_server_free(srv);
}

static void big_handler(struct lc_bus_req *req, cJSON *params, void *arg)
{
	(void)params;
	(void)arg;
	char *s = calloc(1, 3000);
	memset(s, 'z', 2999);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "blob", s);
	free(s);
	lc_bus_reply_ok(req, r);
}

static void oversized_reply_and_call_are_refused(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 }, o2 = { 0 };
	struct lc_bus_opts opts = { .max_message_bytes = 1024 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, &opts);
	struct lc_bus_client *cli = client(url, &opts);
	struct lc_bus_stats st;

	assert_int_equal(lc_bus_server_handle(srv, "test.big", big_handler,
					      NULL),
			 0);
	assert_int_equal(lc_bus_call(cli, "test.big", NULL, 2000, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_false(o.ok);
	assert_string_equal(o.code, "too_large");
	assert_non_null(strstr(o.message, "reply of"));
	/* a request too big to send fails at once, never reaching nng */
	char *s = calloc(1, 2000);
	memset(s, 'q', 1999);
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "blob", s);
	free(s);
	assert_int_equal(lc_bus_call(cli, "test.echo", p, 2000, outcome_cb,
				     &o2),
			 0);
	assert_false(o2.done); /* never from inside lc_bus_call */
	assert_true(run_until(&o2.done, 1000));
	assert_string_equal(o2.code, "too_large");
	lc_bus_client_stats(cli, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.errors, 2);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

static void no_server_is_unavailable_and_never_sent(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	int handled = 0;
	struct lc_bus_stats st;
	/* nng's redial delay is random up to the maximum: keep it short */
	struct lc_bus_opts opts = { .reconnect_min_ms = 20,
				    .reconnect_max_ms = 100 };
	tcp_url(url, sizeof(url));
	struct lc_bus_client *cli = client(url, &opts);

	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(lc_bus_call(cli, "test.echo", NULL, 200, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_true(lc_clock_mono_ms() - t0 >= 190);
	assert_false(o.ok);
	assert_string_equal(o.code, "unavailable");
	lc_bus_client_stats(cli, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.queued, 0);
	/* when a server comes up, the abandoned request does not reach it */
	struct lc_bus_server *srv =
		lc_bus_server_new(base, url, NULL, err, sizeof(err));
	assert_non_null(srv);
	assert_int_equal(lc_bus_server_handle(srv, "test.echo", echo_handler,
					      &handled),
			 0);
	/* ...but a new call does, once the client has reconnected */
	struct outcome o2 = { 0 };
	assert_int_equal(lc_bus_call(cli, "test.echo", NULL, 3000, outcome_cb,
				     &o2),
			 0);
	assert_true(run_until(&o2.done, 4000));
	if (!o2.ok)
		fail_msg("second call: %s: %s", o2.code, o2.message);
	run_for(50);
	assert_int_equal(handled, 1);
	outcome_release(&o2);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

static void silent_handler_times_out(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	struct held held = { 0 };
	struct lc_bus_stats st;
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(lc_bus_call(cli, "test.hold", NULL, 150, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_true(lc_clock_mono_ms() - t0 >= 140);
	assert_string_equal(o.code, "timeout");
	assert_int_equal(held.count, 1);
	/* the late answer is dropped and counted by the client */
	lc_bus_reply_ok(held.reqs[0], NULL);
	for (int64_t end = lc_clock_mono_ms() + 2000;
	     lc_clock_mono_ms() < end;) {
		run_for(5);
		lc_bus_client_stats(cli, &st);
		if (st.dropped)
			break;
	}
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(o.calls, 1);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

struct cancel_ctx {
	struct lc_bus_client *cli;
	int cancelled;
	int recall_rv;
};

static void cancel_cb(const struct lc_bus_result *res, void *arg)
{
	struct cancel_ctx *c = arg;

	assert_false(res->ok);
	assert_string_equal(res->code, "cancelled");
	c->cancelled++;
	/* the client is going away: a new call is refused */
	c->recall_rv = lc_bus_call(c->cli, "test.echo", NULL, 100, cancel_cb,
				   c);
}

static void free_client_cancels_pending(void **state)
{
	(void)state;
	char url[64];
	struct held held = { 0 };
	struct cancel_ctx c = { NULL, 0, 0 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, NULL);

	c.cli = client(url, NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(lc_bus_call(c.cli, "test.hold", NULL, 5000,
					     cancel_cb, &c),
				 0);
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     held.count < 5 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held.count, 5);
	lc_bus_client_free(c.cli);
	assert_int_equal(c.cancelled, 5);
	assert_int_equal(c.recall_rv, -1);
	run_for(20);
	assert_int_equal(c.cancelled, 5);
	/* the server answers into the void */
	for (int i = 0; i < 5; i++)
		lc_bus_reply_ok(held.reqs[i], NULL);
	run_for(20);
	lc_bus_server_free(srv);
}

static void free_server_orphans_requests(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 };
	struct held held = { 0 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, NULL);
	struct lc_bus_client *cli = client(url, NULL);

	/* deadlines far beyond run_until's: only the loss can end them */
	assert_int_equal(lc_bus_call(cli, "test.hold", NULL, 60000,
				     outcome_cb, &o),
			 0);
	assert_int_equal(lc_bus_call(cli, "test.hold", NULL, 60000,
				     outcome_cb, &o),
			 0);
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     held.count < 2 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held.count, 2);
	lc_bus_server_free(srv);
	/* answering an orphan frees it and sends nothing (LSan checks) */
	lc_bus_reply_ok(held.reqs[0], json("{\"x\":1}"));
	lc_bus_reply_err(held.reqs[1], "internal", "gone");
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     o.calls < 2 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(o.calls, 2);
	/* the lost connection fails both calls at once, not at 60 s */
	assert_string_equal(o.code, "unavailable");
	assert_non_null(strstr(o.message, "connection"));
	assert_non_null(strstr(o.message, "lost"));
	lc_bus_client_free(cli);
}

/* Over tcp: a server that dies with a request in hand fails it at once;
 * the client redials the server's successor, whose calls are answered
 * (a loss is never charged to calls sent after it). */
static void lost_connection_then_successor(void **state)
{
	(void)state;
	char url[64];
	struct outcome o = { 0 }, o2 = { 0 };
	struct held held = { 0 }, held2 = { 0 };
	struct lc_bus_opts opts = { .reconnect_min_ms = 20,
				    .reconnect_max_ms = 100 };
	tcp_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, NULL);
	struct lc_bus_client *cli = client(url, &opts);

	assert_int_equal(lc_bus_call(cli, "test.hold", NULL, 60000,
				     outcome_cb, &o),
			 0);
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     held.count < 1 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held.count, 1);
	lc_bus_server_free(srv);
	lc_bus_reply_ok(held.reqs[0], NULL); /* an orphan: sends nothing */
	assert_true(run_until(&o.done, 5000));
	assert_string_equal(o.code, "unavailable");
	assert_non_null(strstr(o.message, "lost"));

	srv = server(url, &held2, NULL);
	assert_int_equal(lc_bus_call(cli, "test.hold", json("{\"n\":7}"),
				     60000, outcome_cb, &o2),
			 0);
	for (int64_t end = lc_clock_mono_ms() + 5000;
	     held2.count < 1 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held2.count, 1);
	assert_int_equal(held2.n[0], 7);
	run_for(50); /* a stale loss would fail o2 here */
	assert_false(o2.done);
	lc_bus_reply_ok(held2.reqs[0], json("{\"fine\":true}"));
	assert_true(run_until(&o2.done, 3000));
	assert_true(o2.ok);
	assert_string_equal(o2.result, "{\"fine\":true}");
	outcome_release(&o2);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

static void drain_and_inflight_limit(void **state)
{
	(void)state;
	char url[64];
	struct outcome o[3];
	struct held held = { 0 };
	struct lc_bus_opts opts = { .max_inflight = 1 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, &opts);
	struct lc_bus_client *cli = client(url, NULL);

	memset(o, 0, sizeof(o));
	assert_int_equal(lc_bus_call(cli, "test.hold", NULL, 2000, outcome_cb,
				     &o[0]),
			 0);
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     held.count < 1 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held.count, 1);
	/* one in flight is the limit: the next is turned away */
	assert_int_equal(lc_bus_call(cli, "test.echo", NULL, 2000, outcome_cb,
				     &o[1]),
			 0);
	assert_true(run_until(&o[1].done, 3000));
	assert_string_equal(o[1].code, "unavailable");
	assert_non_null(strstr(o[1].message, "busy"));
	/* draining: new requests are refused, the held one still answers */
	lc_bus_server_drain(srv);
	lc_bus_reply_ok(held.reqs[0], NULL);
	assert_int_equal(lc_bus_call(cli, "test.echo", NULL, 2000, outcome_cb,
				     &o[2]),
			 0);
	assert_true(run_until(&o[2].done, 3000));
	assert_true(run_until(&o[0].done, 3000));
	assert_true(o[0].ok);
	assert_string_equal(o[0].result, "null");
	assert_string_equal(o[2].code, "unavailable");
	assert_non_null(strstr(o[2].message, "shutting down"));
	outcome_release(&o[0]);
	lc_bus_client_free(cli);
	lc_bus_server_free(srv);
}

struct selffree {
	struct lc_bus_client *cli;
	struct lc_bus_server *srv;
	int calls;
	char codes[2][32];
};

static void selffree_cb(const struct lc_bus_result *res, void *arg)
{
	struct selffree *s = arg;

	if (s->calls < 2)
		snprintf(s->codes[s->calls], 32, "%s",
			 res->ok ? "ok" : res->code);
	s->calls++;
	lc_bus_client_free(s->cli); /* from inside its own callback */
}

static void client_freed_in_own_callback(void **state)
{
	(void)state;
	char url[64];
	struct selffree s;
	struct held held = { 0 };
	inproc_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, &held, NULL);

	memset(&s, 0, sizeof(s));
	s.cli = client(url, NULL);
	/* the first callback frees the client: the second call is then
	 * cancelled at once; each callback runs exactly once */
	assert_int_equal(lc_bus_call(s.cli, "test.hold", NULL, 2000,
				     selffree_cb, &s),
			 0);
	assert_int_equal(lc_bus_call(s.cli, "test.hold", NULL, 2000,
				     selffree_cb, &s),
			 0);
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     held.count < 2 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(held.count, 2);
	lc_bus_reply_ok(held.reqs[0], NULL);
	for (int64_t end = lc_clock_mono_ms() + 3000;
	     s.calls < 2 && lc_clock_mono_ms() < end;)
		run_for(5);
	assert_int_equal(s.calls, 2);
	assert_string_equal(s.codes[0], "ok");
	assert_string_equal(s.codes[1], "cancelled");
	/* answered only now: nng 1.5.2 can leak a message that is in
	 * flight to a socket while it closes (fixed in nng 1.6) */
	lc_bus_reply_ok(held.reqs[1], NULL);
	run_for(20);
	assert_int_equal(s.calls, 2);
	lc_bus_server_free(srv);
}

static void selffree_handler(struct lc_bus_req *req, cJSON *params,
			     void *arg)
{
	struct selffree *s = arg;
	(void)params;
	s->calls++;
	lc_bus_server_free(s->srv); /* from inside its own handler */
	/* req is an orphan now: answering frees it, sends nothing */
	lc_bus_reply_ok(req, json("{}"));
}

static void server_freed_in_own_handler(void **state)
{
	(void)state;
	char url[64];
	struct selffree s;
	struct outcome o = { 0 };
	inproc_url(url, sizeof(url));

	memset(&s, 0, sizeof(s));
	s.srv = lc_bus_server_new(base, url, NULL, err, sizeof(err));
	assert_non_null(s.srv);
	assert_int_equal(lc_bus_server_handle(s.srv, "x.y", selffree_handler,
					      &s),
			 0);
	struct lc_bus_client *cli = client(url, NULL);
	/* one request: a second one in flight while the server closes
	 * could be leaked by nng 1.5.2 itself */
	assert_int_equal(lc_bus_call(cli, "x.y", NULL, 60000, outcome_cb,
				     &o),
			 0);
	assert_true(run_until(&o.done, 3000));
	assert_int_equal(s.calls, 1);
	assert_string_equal(o.code, "unavailable"); /* connection lost */
	lc_bus_client_free(cli);
}

/* ---- publish / subscribe ---- */

struct events {
	int count;
	bool got;
	char topics[16][32];
	char data[16][128];
};

static void event_cb(const char *topic, const cJSON *data,
		     const cJSON *envelope, void *arg)
{
	struct events *e = arg;
	char *d = cJSON_PrintUnformatted(data);
	const cJSON *v = cJSON_GetObjectItem(envelope, "v");
	const cJSON *t = cJSON_GetObjectItem(envelope, "topic");

	assert_true(cJSON_IsNumber(v) && v->valueint == 1);
	assert_string_equal(t->valuestring, topic);
	if (e->count < 16) {
		snprintf(e->topics[e->count], 32, "%s", topic);
		snprintf(e->data[e->count], 128, "%s", d);
	}
	e->count++;
	e->got = true;
	cJSON_free(d);
}

/* Publish "warmup" until sub's catch-all sees one: the pipe is up. */
static void marry(struct lc_bus_pub *pub, struct events *all)
{
	for (int64_t end = lc_clock_mono_ms() + 5000;
	     !all->got && lc_clock_mono_ms() < end;) {
		assert_int_equal(lc_bus_publish(pub, "test.warmup", NULL), 0);
		run_for(20);
	}
	assert_true(all->got);
	run_for(50); /* let any warm-up still in flight arrive */
	memset(all, 0, sizeof(*all));
}

static void pubsub_topics_filtered(void **state)
{
	(void)state;
	char url[64];
	struct events sig = { 0 }, state_ev = { 0 }, all = { 0 };
	struct lc_bus_stats st;
	struct lc_bus_opts popts = { .service = "ingest" };
	inproc_url(url, sizeof(url));
	struct lc_bus_pub *pub = lc_bus_pub_new(url, &popts, err, sizeof(err));
	struct lc_bus_sub *sub = lc_bus_sub_new(base, NULL, err, sizeof(err));

	assert_non_null(pub);
	assert_non_null(sub);
	assert_int_equal(lc_bus_sub_dial(sub, url, err, sizeof(err)), 0);
	assert_int_equal(lc_bus_subscribe(sub, "signal.new", event_cb, &sig),
			 0);
	assert_int_equal(lc_bus_subscribe(sub, "strategy.state", event_cb,
					  &state_ev),
			 0);
	assert_int_equal(lc_bus_subscribe(sub, "", event_cb, &all), 0);
	assert_int_equal(lc_bus_subscribe(sub, "bad topic", event_cb, &all),
			 -1);
	marry(pub, &all);

	assert_int_equal(lc_bus_publish(pub, "signal.new",
					json("{\"pair\":\"BTC/USDT\"}")),
			 0);
	assert_int_equal(lc_bus_publish(pub, "signal.newer", NULL), 0);
	assert_int_equal(lc_bus_publish(pub, "alert.raised",
					json("{\"p\":\"P0\"}")),
			 0);
	assert_int_equal(lc_bus_publish(pub, "strategy.state",
					json("{\"id\":3}")),
			 0);
	/* refused: the caller keeps data */
	cJSON *arr = json("[1]");
	assert_int_equal(lc_bus_publish(pub, "signal.new", arr), -1);
	assert_int_equal(lc_bus_publish(pub, "no space", NULL), -1);
	cJSON_Delete(arr);

	for (int64_t end = lc_clock_mono_ms() + 3000;
	     all.count < 4 && lc_clock_mono_ms() < end;)
		run_for(5);
	run_for(30);
	assert_int_equal(all.count, 4);
	assert_string_equal(all.topics[0], "signal.new");
	assert_string_equal(all.topics[1], "signal.newer");
	assert_string_equal(all.topics[2], "alert.raised");
	assert_string_equal(all.topics[3], "strategy.state");
	assert_int_equal(sig.count, 1);
	assert_string_equal(sig.data[0], "{\"pair\":\"BTC/USDT\"}");
	assert_int_equal(state_ev.count, 1);
	assert_string_equal(state_ev.data[0], "{\"id\":3}");
	lc_bus_pub_stats(pub, &st);
	assert_true(st.sent >= 5);
	lc_bus_sub_free(sub);
	lc_bus_pub_free(pub);
}

static void subscriber_before_publisher(void **state)
{
	(void)state;
	char url1[64], url2[64];
	struct events e = { 0 };
	tcp_url(url1, sizeof(url1));
	tcp_url(url2, sizeof(url2));
	struct lc_bus_opts opts = { .reconnect_min_ms = 20,
				    .reconnect_max_ms = 100 };
	struct lc_bus_sub *sub = lc_bus_sub_new(base, &opts, err, sizeof(err));

	assert_non_null(sub);
	/* two publishers, neither up yet */
	assert_int_equal(lc_bus_sub_dial(sub, url1, err, sizeof(err)), 0);
	assert_int_equal(lc_bus_sub_dial(sub, url2, err, sizeof(err)), 0);
	assert_int_equal(lc_bus_subscribe(sub, "route.update", event_cb, &e),
			 0);
	run_for(150);
	struct lc_bus_pub *p1 = lc_bus_pub_new(url1, NULL, err, sizeof(err));
	struct lc_bus_pub *p2 = lc_bus_pub_new(url2, NULL, err, sizeof(err));
	assert_non_null(p1);
	assert_non_null(p2);
	for (int64_t end = lc_clock_mono_ms() + 5000;
	     e.count < 2 && lc_clock_mono_ms() < end;) {
		/* until one from each publisher has arrived */
		if (e.count == 0 || strstr(e.data[0], "\"p\":1"))
			assert_int_equal(lc_bus_publish(p2, "route.update",
							json("{\"p\":2}")),
					 0);
		if (e.count == 0 || strstr(e.data[0], "\"p\":2"))
			assert_int_equal(lc_bus_publish(p1, "route.update",
							json("{\"p\":1}")),
					 0);
		run_for(20);
	}
	assert_true(e.count >= 2);
	lc_bus_sub_free(sub);
	lc_bus_pub_free(p1);
	lc_bus_pub_free(p2);
}

static void malformed_events_dropped(void **state)
{
	(void)state;
	static const char *bad[] = {
		"nospace",
		"signal.new not json",
		"signal.new [1]",
		"signal.new {\"v\":2,\"id\":\"a\",\"topic\":\"signal.new\","
		"\"ts\":\"t\",\"data\":{}}",
		"signal.new {\"v\":1,\"id\":\"a\",\"topic\":\"other\","
		"\"ts\":\"t\",\"data\":{}}",
		"signal.new ",
		"",
	};
	static const char good[] =
		"signal.new {\"v\":1,\"id\":\"g\",\"topic\":\"signal.new\","
		"\"ts\":\"2026-01-01T00:00:00.000Z\",\"data\":{\"ok\":1}}";
	char url[64];
	struct events e = { 0 };
	struct lc_bus_stats st;
	nng_socket pub;
	inproc_url(url, sizeof(url));
	struct lc_bus_sub *sub = lc_bus_sub_new(base, NULL, err, sizeof(err));

	assert_int_equal(nng_pub0_open(&pub), 0);
	assert_int_equal(nng_listen(pub, url, NULL, 0), 0);
	assert_non_null(sub);
	assert_int_equal(lc_bus_sub_dial(sub, url, err, sizeof(err)), 0);
	assert_int_equal(lc_bus_subscribe(sub, "", event_cb, &e), 0);
	/* wait for the pipe: send the good one until it arrives */
	for (int64_t end = lc_clock_mono_ms() + 5000;
	     !e.got && lc_clock_mono_ms() < end;) {
		assert_int_equal(nng_send(pub, (void *)good, strlen(good), 0),
				 0);
		run_for(20);
	}
	assert_true(e.got);
	run_for(50);
	memset(&e, 0, sizeof(e));
	lc_bus_sub_stats(sub, &st);
	uint64_t dropped0 = st.dropped;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nng_send(pub, (void *)bad[i], strlen(bad[i]),
					  0),
				 0);
	assert_int_equal(nng_send(pub, (void *)good, strlen(good), 0), 0);
	assert_true(run_until(&e.got, 3000));
	run_for(30);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.data[0], "{\"ok\":1}");
	lc_bus_sub_stats(sub, &st);
	assert_int_equal(st.dropped - dropped0, sizeof(bad) / sizeof(bad[0]));
	lc_bus_sub_free(sub);
	nng_close(pub);
}

/* ---- nngcat, as an operator would use it ---- */

/* Start argv with stdout to a temp file; returns the pid. */
static pid_t spawn(const char *const argv[], char *out_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int fd;

	snprintf(out_path, 64, "/tmp/test_bus_nngcat_XXXXXX");
	fd = mkstemp(out_path);
	assert_true(fd >= 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	assert_int_equal(posix_spawnp(&pid, argv[0], &fa, NULL,
					      (char *const *)argv, environ),
			 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	return pid;
}

/* Run the loop (calling poke every 50 ms if given) until pid exits;
 * returns its output (caller frees). */
static char *reap(pid_t pid, const char *out_path, void (*poke)(void *),
		  void *arg)
{
	int status = 0;
	pid_t r = 0;
	char *out = calloc(1, 65536);
	FILE *f;

	for (int64_t end = lc_clock_mono_ms() + 10000;
	     lc_clock_mono_ms() < end;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (poke)
			poke(arg);
		run_for(50);
	}
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("nngcat did not finish");
	}
	f = fopen(out_path, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, 65535, f);
	out[n] = '\0';
	fclose(f);
	unlink(out_path);
	assert_true(WIFEXITED(status));
	return out;
}

static void nngcat_req_calls_a_method(void **state)
{
	(void)state;
	char url[64], path[64];
	tcp_url(url, sizeof(url));
	struct lc_bus_server *srv = server(url, NULL, NULL);
	const char *const argv[] = { "nngcat", "--req", "--dial", url,
				     "--data",
			 "{\"v\":1,\"id\":1,\"method\":\"test.echo\","
			 "\"params\":{\"id\":3}}",
			 "--ascii", NULL };

	pid_t pid = spawn(argv, path);
	char *out = reap(pid, path, NULL, NULL);
	/* nngcat 1.5's --ascii adds no newline */
	assert_string_equal(out, "{\"v\":1,\"id\":1,\"ok\":true,\"result\":"
				 "{\"id\":3}}");
	free(out);
	lc_bus_server_free(srv);
}

struct poke {
	struct lc_bus_pub *pub;
	int64_t stop_at; /* publish until then */
};

static void publish_poke(void *arg)
{
	struct poke *p = arg;

	if (lc_clock_mono_ms() >= p->stop_at)
		return;
	assert_int_equal(lc_bus_publish(p->pub, "signal.new",
					json("{\"pair\":\"ETH/USDT\"}")),
			 0);
	assert_int_equal(lc_bus_publish(p->pub, "signal.newer", NULL), 0);
}

static void nngcat_sub_watches_a_topic(void **state)
{
	(void)state;
	char url[64], path[64];
	struct poke poke;
	tcp_url(url, sizeof(url));
	/* nngcat leaves 2 s after the last event, so that no event is in
	 * flight when it goes (nng 1.5.2 can leak one that is) */
	const char *const argv[] = { "nngcat", "--sub", "--dial", url,
				     "--subscribe", "signal.new ", "--ascii",
				     "--recv-timeout", "2", NULL };

	poke.pub = lc_bus_pub_new(url, NULL, err, sizeof(err));
	assert_non_null(poke.pub);
	poke.stop_at = lc_clock_mono_ms() + 1500;
	pid_t pid = spawn(argv, path);
	char *out = reap(pid, path, publish_poke, &poke);
	/* several signal.new events (never signal.newer), back to back:
	 * nngcat 1.5's --ascii separates messages with nothing */
	static const char head[] = "signal.new {\"v\":1,\"id\":\"";
	static const char tail[] = "\"data\":{\"pair\":\"ETH/USDT\"}}";
	char *second = strstr(out + 1, head);
	assert_int_equal(strncmp(out, head, strlen(head)), 0);
	assert_non_null(second);
	assert_non_null(strstr(out, "\"topic\":\"signal.new\",\"ts\":\""));
	assert_int_equal(strncmp(second - strlen(tail), tail, strlen(tail)),
			 0);
	assert_int_equal(strcmp(out + strlen(out) - strlen(tail), tail), 0);
	assert_null(strstr(out, "signal.newer"));
	free(out);
	lc_bus_pub_free(poke.pub);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(call_answered_at_once),
		T(handler_error_with_details),
		T(call_answered_later),
		T(many_calls_answered_out_of_order),
		T(unknown_method),
		T(malformed_requests_get_bad_request),
		T(oversized_request_gets_too_large),
		T(oversized_reply_and_call_are_refused),
		T(no_server_is_unavailable_and_never_sent),
		T(silent_handler_times_out),
		T(free_client_cancels_pending),
		T(free_server_orphans_requests),
		T(lost_connection_then_successor),
		T(drain_and_inflight_limit),
		T(client_freed_in_own_callback),
		T(server_freed_in_own_handler),
		T(pubsub_topics_filtered),
		T(subscriber_before_publisher),
		T(malformed_events_dropped),
		T(nngcat_req_calls_a_method),
		T(nngcat_sub_watches_a_topic),
	};
#undef T
	int rv, devnull = -1;

	signal(SIGPIPE, SIG_IGN);
	/* the library logs every rejected message; TEST_BUS_LOG=1 shows it */
	if (!getenv("TEST_BUS_LOG")) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		lc_log_set_fd(devnull);
	}
	/* TEST_BUS_FILTER=name (wildcards allowed) runs only those */
	if (getenv("TEST_BUS_FILTER"))
		cmocka_set_test_filter(getenv("TEST_BUS_FILTER"));
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	lc_log_set_fd(-1);
	if (devnull >= 0)
		close(devnull);
	nng_fini();
	return rv;
}
