/* gateway: the bots' keep-alive HTTP/1.1 client against a scripted
 * server on loopback (framing, reuse, retry, errors, lifetimes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/listener.h>

#include "services/gateway/botpool.c"

/* What the server answers to each request, in order. */
struct server {
	struct event_base *base;
	struct evconnlistener *l;
	int port;
	int accepted;
	const char *const *answers; /* NULL-ended; "" = never answer;
				       "CLOSE" = close without a word */
	size_t next;
	bool close_after;           /* close after each answer */
	char last[2048];            /* the last request's bytes */
	struct peer *peers[64];     /* open server-side connections */
};

struct peer {
	struct server *s;
	struct bufferevent *bev;
	int slot;
};

static void peer_free(struct peer *p)
{
	p->s->peers[p->slot] = NULL;
	bufferevent_free(p->bev);
	free(p);
}

/* Close what the server still has open, then the listener. */
static void server_stop(struct server *s)
{
	for (size_t i = 0; i < 64; i++)
		if (s->peers[i])
			peer_free(s->peers[i]);
	if (s->l)
		evconnlistener_free(s->l);
	s->l = NULL;
}

static void peer_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	peer_free(arg);
}

static void peer_event(struct bufferevent *bev, short what, void *arg);

static void peer_read(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct server *s = p->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	if (e.pos < 0)
		return;
	size_t n = evbuffer_get_length(in);
	char head[1024] = "";
	evbuffer_copyout(in, head, (size_t)e.pos < sizeof(head) - 1
					   ? (size_t)e.pos
					   : sizeof(head) - 1);
	const char *cl = strstr(head, "Content-Length: ");
	size_t want = (size_t)e.pos + 4 + (cl ? strtoul(cl + 16, NULL, 10)
					      : 0);
	if (n < want)
		return;
	if (want >= sizeof(s->last))
		want = sizeof(s->last) - 1;
	evbuffer_remove(in, s->last, want);
	s->last[want] = '\0';
	const char *a = s->answers[s->next] ? s->answers[s->next++] : "";
	if (strcmp(a, "CLOSE") == 0 || s->close_after) {
		if (strcmp(a, "CLOSE") != 0)
			bufferevent_write(bev, a, strlen(a));
		/* close once written */
		bufferevent_setcb(bev, NULL, peer_written, peer_event, p);
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			peer_written(bev, p);
		return;
	}
	bufferevent_write(bev, a, strlen(a));
}

static void peer_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	peer_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int len, void *arg)
{
	struct server *s = arg;
	struct peer *p = calloc(1, sizeof(*p));

	(void)l;
	(void)sa;
	(void)len;
	s->accepted++;
	p->s = s;
	p->slot = s->accepted % 64;
	s->peers[p->slot] = p;
	p->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(p->bev, peer_read, NULL, peer_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

static void server_start(struct server *s, struct event_base *base,
			 const char *const *answers)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->answers = answers;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->l = evconnlistener_new_bind(base, on_accept, s,
				       LEV_OPT_CLOSE_ON_FREE |
					       LEV_OPT_REUSEABLE,
				       16, (struct sockaddr *)&sin,
				       sizeof(sin));
	assert_non_null(s->l);
	getsockname(evconnlistener_get_fd(s->l), (struct sockaddr *)&sin,
		    &len);
	s->port = ntohs(sin.sin_port);
}

/* One outcome, copied out of the callback. */
struct got {
	bool done;
	enum gw_up_error error;
	int status;
	char body[4096];
	char ctype[64];
	struct event_base *base;
};

static void on_res(const struct gw_up_res *res, void *arg)
{
	struct got *g = arg;
	size_t n = evbuffer_get_length(res->body);
	const char *ct = gw_up_header(res, "content-type");

	g->done = true;
	g->error = res->error;
	g->status = res->status;
	if (n >= sizeof(g->body))
		n = sizeof(g->body) - 1;
	evbuffer_remove(res->body, g->body, n);
	g->body[n] = '\0';
	snprintf(g->ctype, sizeof(g->ctype), "%s", ct ? ct : "");
	event_base_loopbreak(g->base);
}

static void run(struct event_base *base, struct got *g)
{
	struct timeval tv = { 5, 0 };
	struct event *guard = evtimer_new(base, NULL, NULL);

	evtimer_add(guard, &tv); /* the test fails rather than hangs */
	while (!g->done && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	event_free(guard);
}

static struct got get(struct event_base *base, struct gw_pool *p,
		      const char *method, const char *target,
		      const char *hdrs, const char *body, size_t max)
{
	struct got g = { .base = base };

	assert_non_null(gw_pool_request(p, method, target, hdrs, body,
					body ? strlen(body) : 0, 2000, max,
					on_res, &g));
	run(base, &g);
	assert_true(g.done);
	return g;
}

#define OK_HELLO                                                           \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"            \
	"Content-Length: 5\r\n\r\nhello"

static void keep_alive_reused(void **state)
{
	struct event_base *base = event_base_new();
	static const char *const answers[] = { OK_HELLO, OK_HELLO, OK_HELLO,
					       NULL };
	struct server s;
	(void)state;
	server_start(&s, base, answers);
	struct gw_pool *p = gw_pool_new(base, "127.0.0.1", s.port);
	for (int i = 0; i < 3; i++) {
		struct got g = get(base, p, "GET", "/api/v1/ping", NULL, NULL,
				   1024);
		assert_int_equal(g.error, GW_UP_OK);
		assert_int_equal(g.status, 200);
		assert_string_equal(g.body, "hello");
		assert_string_equal(g.ctype, "application/json");
	}
	assert_int_equal(s.accepted, 1);
	assert_int_equal(gw_pool_conns(p), 1);
	assert_int_equal(gw_pool_idle(p), 1);
	gw_pool_free(p);
	server_stop(&s);
	event_base_free(base);
}

static void request_bytes(void **state)
{
	struct event_base *base = event_base_new();
	static const char *const answers[] = { OK_HELLO, OK_HELLO, NULL };
	struct server s;
	char want[256];
	(void)state;
	server_start(&s, base, answers);
	struct gw_pool *p = gw_pool_new(base, "127.0.0.1", s.port);
	get(base, p, "POST", "/api/v1/x?a=1&b=2", "A: b\r\nC: d\r\n", "abc",
	    1024);
	snprintf(want, sizeof(want),
		 "POST /api/v1/x?a=1&b=2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		 "A: b\r\nC: d\r\nContent-Length: 3\r\n\r\nabc", s.port);
	assert_string_equal(s.last, want);
	get(base, p, "DELETE", "/y", NULL, NULL, 1024);
	snprintf(want, sizeof(want),
		 "DELETE /y HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", s.port);
	assert_string_equal(s.last, want);
	gw_pool_free(p);
	server_stop(&s);
	event_base_free(base);
}

static void framings(void **state)
{
	struct event_base *base = event_base_new();
	static const char *const answers[] = {
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n"
		"X-Trailer: 1\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\n"
		"Content-Length: 4\r\n\r\nbusy",
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil eof",
		NULL,
	};
	struct server s;
	(void)state;
	server_start(&s, base, answers);
	struct gw_pool *p = gw_pool_new(base, "127.0.0.1", s.port);
	struct got g = get(base, p, "GET", "/a", NULL, NULL, 1024);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body, "abc0123456789abcdef");
	g = get(base, p, "GET", "/b", NULL, NULL, 1024);
	assert_int_equal(g.status, 204);
	assert_string_equal(g.body, "");
	g = get(base, p, "GET", "/c", NULL, NULL, 1024);
	assert_int_equal(g.status, 503);
	assert_string_equal(g.body, "busy");
	assert_int_equal(s.accepted, 1);
	s.close_after = true; /* the HTTP/1.0 answer ends with the conn */
	g = get(base, p, "GET", "/d", NULL, NULL, 1024);
	assert_int_equal(g.error, GW_UP_OK);
	assert_string_equal(g.body, "until eof");
	assert_int_equal(gw_pool_conns(p), 0);
	gw_pool_free(p);
	server_stop(&s);
	event_base_free(base);
}

static void stale_connection_retried(void **state)
{
	struct event_base *base = event_base_new();
	static const char *const answers[] = { OK_HELLO, OK_HELLO, NULL };
	struct server s;
	(void)state;
	server_start(&s, base, answers);
	s.close_after = true; /* answers keep-alive, then closes anyway */
	struct gw_pool *p = gw_pool_new(base, "127.0.0.1", s.port);
	struct got g = get(base, p, "GET", "/a", NULL, NULL, 1024);
	assert_int_equal(g.error, GW_UP_OK);
	/* the idle connection died; a GET goes out again on a new one */
	g = get(base, p, "GET", "/a", NULL, NULL, 1024);
	assert_int_equal(g.error, GW_UP_OK);
	assert_string_equal(g.body, "hello");
	assert_int_equal(s.accepted, 2);
	gw_pool_free(p);
	server_stop(&s);
	event_base_free(base);
}

static void errors(void **state)
{
	struct event_base *base = event_base_new();
	static const char *const answers[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
		"garbage\r\n\r\n", "", NULL,
	};
	struct server s;
	(void)state;
	server_start(&s, base, answers);
	struct gw_pool *p = gw_pool_new(base, "127.0.0.1", s.port);
	struct got g = get(base, p, "GET", "/big", NULL, NULL, 10);
	assert_int_equal(g.error, GW_UP_TOO_BIG);
	assert_int_equal(g.status, 0);
	g = get(base, p, "GET", "/garbage", NULL, NULL, 1024);
	assert_int_equal(g.error, GW_UP_BROKEN);
	struct got t = { .base = base };
	gw_pool_request(p, "GET", "/silent", NULL, NULL, 0, 100, 1024,
			on_res, &t);
	run(base, &t);
	assert_int_equal(t.error, GW_UP_TIMEOUT);
	gw_pool_free(p);
	/* nobody listens any more */
	int port = s.port;
	server_stop(&s);
	p = gw_pool_new(base, "127.0.0.1", port);
	g = get(base, p, "GET", "/x", NULL, NULL, 1024);
	assert_int_equal(g.error, GW_UP_REFUSED);
	gw_pool_free(p);
	event_base_free(base);
}

static void cancel_free_retire(void **state)
{
	struct event_base *base = event_base_new();
	static const char *const answers[] = { "", "", OK_HELLO, NULL };
	struct server s;
	struct got a = { .base = base }, b = { .base = base };
	(void)state;
	server_start(&s, base, answers);
	struct gw_pool *p = gw_pool_new(base, "127.0.0.1", s.port);
	/* a cancelled request never calls back */
	struct gw_upreq *q = gw_pool_request(p, "GET", "/a", NULL, NULL, 0,
					     1000, 64, on_res, &a);
	gw_upreq_cancel(q);
	/* freeing the pool ends what is in flight, cancelled */
	gw_pool_request(p, "GET", "/b", NULL, NULL, 0, 1000, 64, on_res, &b);
	event_base_loop(base, EVLOOP_NONBLOCK);
	gw_pool_free(p);
	assert_false(a.done);
	assert_true(b.done);
	assert_int_equal(b.error, GW_UP_CANCELLED);
	/* a retired pool finishes its request, then frees itself */
	p = gw_pool_new(base, "127.0.0.1", s.port);
	struct got c = { .base = base };
	s.next = 2;
	gw_pool_request(p, "GET", "/c", NULL, NULL, 0, 1000, 64, on_res, &c);
	gw_pool_retire(p);
	run(base, &c);
	assert_int_equal(c.error, GW_UP_OK);
	assert_string_equal(c.body, "hello");
	server_stop(&s);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keep_alive_reused),
		cmocka_unit_test(request_bytes),
		cmocka_unit_test(framings),
		cmocka_unit_test(stale_connection_retried),
		cmocka_unit_test(errors),
		cmocka_unit_test(cancel_free_retire),
	};
	return cmocka_run_group_tests_name("gateway_botpool", tests, NULL,
					   NULL);
}
