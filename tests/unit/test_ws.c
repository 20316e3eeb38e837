/* lc_ws: a real evhttp server on port 0 upgrades connections with
 * lc_ws_accept(); the clients are raw TCP sockets written in this file
 * (bufferevents on the same loop) that speak RFC 6455 byte by byte. */
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
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/ws.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define MAX_FRAMES 64
#define MAX_CONNS 512
#define BLOB (64u << 10)
#define BIG_MSG (3u << 20)

/* ---- server side ---- */

struct sconn {
	struct fx *f;
	struct lc_ws *ws;           /* NULL once on_close ran */
	int closes;                 /* on_close calls */
	int code;                   /* from on_close */
	char reason[128];
	int msgs;
	bool push;                  /* the push timer floods it */
	int send_fails;             /* lc_ws_send returned -1 */
	size_t outbuf_seen;         /* largest lc_ws_outbuf while pushing */
	int send_after_close;       /* lc_ws_send right after lc_ws_close */
	char peer[64];
};

struct fx {
	struct event_base *base;
	struct evhttp *http;
	int port;
	struct lc_ws_limits limits;
	struct sconn *conns[MAX_CONNS];
	int nconns;
	int opened, closed, refused;
	int upgrades_seen;          /* lc_ws_is_upgrade() true in handler */
	int requests;               /* handler calls */
	struct event *tick;         /* wakes WAIT() up */
	struct event *pusher;       /* feeds /ws-push connections */
	unsigned char *blob;        /* BLOB bytes to push */
	struct evhttp_connection *hc; /* plain HTTP client */
	int hello_ok, hello_bad;
	char logpath[64];
	int logfd;
};

static void s_message(struct lc_ws *ws, enum lc_ws_opcode op,
		      const char *data, size_t len, void *arg)
{
	struct sconn *s = arg;
	assert_ptr_equal(ws, s->ws);
	s->msgs++;
	char cmd[160] = "";
	if (op == LC_WS_TEXT && len < sizeof(cmd))
		memcpy(cmd, data, len + 1); /* data is NUL-terminated */
	if (strncmp(cmd, "!close ", 7) == 0) {
		char *end;
		int code = (int)strtol(cmd + 7, &end, 10);
		lc_ws_close(ws, code, *end ? end + 1 : NULL);
		s->send_after_close = lc_ws_send(ws, LC_WS_TEXT, "x", 1);
		lc_ws_close(ws, 1000, "twice"); /* ignored */
		return;
	}
	if (strcmp(cmd, "!ping") == 0) {
		assert_int_equal(lc_ws_ping(ws), 0);
		return;
	}
	if (lc_ws_send(ws, op, data, len) != 0)
		s->send_fails++;
}

static void s_close(struct lc_ws *ws, int code, const char *reason,
		    void *arg)
{
	struct sconn *s = arg;
	assert_ptr_equal(ws, s->ws);
	assert_string_equal(lc_ws_peer(ws), s->peer);
	/* the session is over: nothing can be sent any more */
	assert_int_equal(lc_ws_send(ws, LC_WS_TEXT, "x", 1), -1);
	s->closes++;
	s->code = code;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->ws = NULL;
	s->f->closed++;
}

static const struct lc_ws_cbs scbs = { s_message, s_close };

static void serve(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
		req));
	f->requests++;
	if (lc_ws_is_upgrade(req))
		f->upgrades_seen++;
	if (path && strcmp(path, "/hello") == 0) {
		evbuffer_add_printf(evhttp_request_get_output_buffer(req),
				    "hello");
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	bool big = path && strcmp(path, "/ws-big") == 0;
	if (!path || (strcmp(path, "/ws") != 0 && !big &&
		      strcmp(path, "/ws-push") != 0)) {
		evhttp_send_reply(req, 404, "Not Found", NULL);
		return;
	}
	struct sconn *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->f = f;
	s->push = strcmp(path, "/ws-push") == 0;
	s->ws = lc_ws_accept(req, &scbs, s, &f->limits);
	if (!s->ws) {
		f->refused++;
		free(s);
		return;
	}
	assert_true(f->nconns < MAX_CONNS);
	f->conns[f->nconns++] = s;
	f->opened++;
	snprintf(s->peer, sizeof(s->peer), "%s", lc_ws_peer(s->ws));
	assert_int_equal(strncmp(s->peer, "127.0.0.1:", 10), 0);
	if (big) { /* one message of BIG_MSG bytes right away */
		unsigned char *p = malloc(BIG_MSG);
		assert_non_null(p);
		memset(p, 'B', BIG_MSG);
		assert_int_equal(lc_ws_send(s->ws, LC_WS_BINARY, p, BIG_MSG),
				 0);
		free(p);
	}
}

/* Feed /ws-push connections 64 KiB every 2 ms (32 MB/s: nothing for a
 * client that reads) until lc_ws_send refuses. */
static void push(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fx *f = arg;
	for (int i = 0; i < f->nconns; i++) {
		struct sconn *s = f->conns[i];
		for (int k = 0; s->push && s->ws && k < 1; k++) {
			if (lc_ws_send(s->ws, LC_WS_BINARY, f->blob, BLOB)) {
				s->send_fails++;
				s->push = false;
				break;
			}
			size_t q = lc_ws_outbuf(s->ws);
			if (q > s->outbuf_seen)
				s->outbuf_seen = q;
		}
	}
}

/* ---- client side ---- */

struct frame {
	int op;
	bool fin;
	bool masked;                /* a server must never mask */
	int hlen;                   /* 2, 4 or 10: the length form used */
	size_t len;
	unsigned char *data;        /* owned, NUL-terminated */
};

struct cli {
	struct fx *f;
	struct bufferevent *bev;
	bool ws;                    /* the 101 came: frames follow */
	int status;                 /* last HTTP status; 0: none yet */
	int nresp;                  /* HTTP responses read */
	char accept[64];            /* Sec-WebSocket-Accept */
	char upgrade[64];           /* Upgrade */
	char version[16];           /* Sec-WebSocket-Version */
	char body[256];             /* body of the last HTTP response */
	bool eof;                   /* the server closed its side */
	bool reply_close;           /* answer a close frame with one */
	bool keep_open;             /* do not shut down on the server's EOF */
	bool answer_pings;          /* pong every ping, as browsers do */
	int pings;                  /* pings received */
	struct frame fr[MAX_FRAMES];
	int nfr;
	size_t bytes;               /* frame payload bytes received */
};

static void cli_frame(struct cli *c, int b0, const void *p, size_t len,
		      bool mask);

static void header_value(const char *block, const char *name, char *out,
			 size_t n)
{
	out[0] = '\0';
	size_t nl = strlen(name);
	for (const char *l = strstr(block, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = strcspn(v, "\r");
			snprintf(out, n, "%.*s", (int)vl, v);
			return;
		}
	}
}

/* One HTTP response from the input, if it is all there. */
static bool cli_http(struct cli *c, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		return false;
	size_t hl = (size_t)end.pos + 4;
	char block[4096];
	assert_true(hl < sizeof(block));
	evbuffer_copyout(in, block, hl);
	block[hl] = '\0';
	char clen[32];
	header_value(block, "Content-Length", clen, sizeof(clen));
	size_t bl = clen[0] ? strtoul(clen, NULL, 10) : 0;
	if (evbuffer_get_length(in) < hl + bl)
		return false;
	assert_int_equal(strncmp(block, "HTTP/1.1 ", 9), 0);
	c->status = (int)strtol(block + 9, NULL, 10);
	c->nresp++;
	header_value(block, "Sec-WebSocket-Accept", c->accept,
		     sizeof(c->accept));
	header_value(block, "Upgrade", c->upgrade, sizeof(c->upgrade));
	header_value(block, "Sec-WebSocket-Version", c->version,
		     sizeof(c->version));
	evbuffer_drain(in, hl);
	assert_true(bl < sizeof(c->body));
	evbuffer_remove(in, c->body, bl);
	c->body[bl] = '\0';
	if (c->status == 101)
		c->ws = true;
	return true;
}

/* One frame from the input, if it is all there. */
static bool cli_ws_frame(struct cli *c, struct evbuffer *in)
{
	unsigned char h[14];
	size_t avail = evbuffer_get_length(in);
	if (avail < 2)
		return false;
	evbuffer_copyout(in, h, avail < sizeof(h) ? avail : sizeof(h));
	struct frame fr = { .op = h[0] & 0x0F, .fin = h[0] & 0x80,
			    .masked = h[1] & 0x80, .hlen = 2 };
	uint64_t len = h[1] & 0x7F;
	if (len == 126) {
		fr.hlen = 4;
		len = avail >= 4 ? (uint64_t)(h[2] << 8 | h[3]) : 0;
	} else if (len == 127) {
		fr.hlen = 10;
		len = 0;
		for (int i = 0; avail >= 10 && i < 8; i++)
			len = len << 8 | h[2 + i];
	}
	size_t skip = (size_t)fr.hlen + (fr.masked ? 4 : 0);
	if (avail < skip || avail - skip < len)
		return false;
	evbuffer_drain(in, skip);
	fr.len = (size_t)len;
	fr.data = malloc(fr.len + 1);
	assert_non_null(fr.data);
	evbuffer_remove(in, fr.data, fr.len);
	fr.data[fr.len] = '\0';
	c->bytes += fr.len;
	if (fr.op == 0x9) {
		c->pings++;
		if (c->answer_pings)
			cli_frame(c, 0x8A, fr.data, fr.len, true);
	}
	if (fr.op == 0x8 && c->reply_close) {
		c->reply_close = false;
		cli_frame(c, 0x88, fr.data, fr.len, true);
	}
	if (c->nfr < MAX_FRAMES)
		c->fr[c->nfr++] = fr;
	else
		free(fr.data);
	return true;
}

static void cli_read(struct bufferevent *bev, void *arg)
{
	struct cli *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (c->ws ? cli_ws_frame(c, in) : cli_http(c, in))
		;
}

static void cli_event(struct bufferevent *bev, short what, void *arg)
{
	struct cli *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		c->eof = true;
		/* a real client closes its side in turn */
		if (!c->keep_open)
			shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
}

static struct cli *cli_new(struct fx *f, int rcvbuf)
{
	struct cli *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->f = f;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (rcvbuf)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF,
					    &rcvbuf, sizeof(rcvbuf)),
				 0);
	assert_int_equal(evutil_make_socket_nonblocking(fd), 0);
	c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(c->bev);
	bufferevent_setcb(c->bev, cli_read, NULL, cli_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)f->port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bufferevent_socket_connect(
				 c->bev, (struct sockaddr *)&sin,
				 sizeof(sin)),
			 0);
	return c;
}

static void cli_free(struct cli *c)
{
	if (!c)
		return;
	if (c->bev)
		bufferevent_free(c->bev);
	for (int i = 0; i < c->nfr; i++)
		free(c->fr[i].data);
	free(c);
}

/* Close the TCP connection without a close frame. */
static void cli_drop(struct cli *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
}

static void cli_send(struct cli *c, const char *s)
{
	assert_int_equal(bufferevent_write(c->bev, s, strlen(s)), 0);
}

static void cli_upgrade(struct cli *c, const char *path, const char *key,
			const char *version)
{
	char req[512];
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
		 "%s%s%s" "%s%s%s\r\n",
		 path, key ? "Sec-WebSocket-Key: " : "", key ? key : "",
		 key ? "\r\n" : "", version ? "Sec-WebSocket-Version: " : "",
		 version ? version : "", version ? "\r\n" : "");
	cli_send(c, req);
}

/* A frame's header: b0 is FIN|RSV|opcode; len is what the header says. */
static void cli_header(struct cli *c, int b0, uint64_t len, bool mask)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char h[14];
	size_t n = 2;
	h[0] = (unsigned char)b0;
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len <= 0xFFFF) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		n = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask) {
		h[1] |= 0x80;
		memcpy(h + n, key, 4);
		n += 4;
	}
	assert_int_equal(bufferevent_write(c->bev, h, n), 0);
}

static void cli_frame(struct cli *c, int b0, const void *p, size_t len,
		      bool mask)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	cli_header(c, b0, len, mask);
	unsigned char *m = malloc(len + 1);
	assert_non_null(m);
	if (len)
		memcpy(m, p, len);
	for (size_t i = 0; mask && i < len; i++)
		m[i] ^= key[i & 3];
	assert_int_equal(bufferevent_write(c->bev, m, len), 0);
	free(m);
}

static void cli_text(struct cli *c, const char *s)
{
	cli_frame(c, 0x81, s, strlen(s), true);
}

static void cli_close(struct cli *c, int code, const char *reason)
{
	unsigned char p[125] = { (unsigned char)(code >> 8),
				 (unsigned char)code };
	size_t n = strlen(reason);
	memcpy(p + 2, reason, n);
	cli_frame(c, 0x88, p, 2 + n, true);
}

static int frame_code(const struct frame *fr)
{
	return fr->len >= 2 ? fr->data[0] << 8 | fr->data[1] : 0;
}

/* "127.0.0.1:port" of the client's end, as the server sees it. */
static void cli_name(const struct cli *c, char *out, size_t n)
{
	struct sockaddr_in sin;
	socklen_t l = sizeof(sin);
	assert_int_equal(getsockname(bufferevent_getfd(c->bev),
				     (struct sockaddr *)&sin, &l),
			 0);
	snprintf(out, n, "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
}

static struct sconn *by_peer(struct fx *f, const char *peer)
{
	for (int i = 0; i < f->nconns; i++)
		if (strcmp(f->conns[i]->peer, peer) == 0)
			return f->conns[i];
	fail_msg("no session for peer %s", peer);
	return NULL;
}

static const struct frame *last(const struct cli *c)
{
	return c->nfr ? &c->fr[c->nfr - 1] : NULL;
}

/* ---- waiting on the loop ---- */

static void noop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* One loop turn, waking up by end_ms at the latest. */
static void turn(struct fx *f, int64_t end_ms)
{
	struct timeval tv;
	int64_t left = end_ms - lc_clock_mono_ms();
	lc_clock_tv(&tv, left > 0 ? left : 0);
	evtimer_add(f->tick, &tv);
	event_base_loop(f->base, EVLOOP_ONCE);
}

#define WAIT(f, cond, ms)                                                \
	do {                                                             \
		int64_t end_ = lc_clock_mono_ms() + (ms);                \
		while (!(cond) && lc_clock_mono_ms() < end_)             \
			turn((f), end_);                                 \
		if (!(cond))                                             \
			fail_msg("not true within %d ms: %s", (ms), #cond); \
	} while (0)

/* Run the loop for ms, whatever happens. */
static void settle(struct fx *f, int ms)
{
	int64_t end = lc_clock_mono_ms() + ms;
	while (lc_clock_mono_ms() < end)
		turn(f, end);
}

static struct cli *cli_open(struct fx *f, const char *path)
{
	struct cli *c = cli_new(f, 0);
	cli_upgrade(c, path, RFC_KEY, "13");
	WAIT(f, c->nresp > 0, 5000);
	assert_int_equal(c->status, 101);
	assert_string_equal(c->accept, RFC_ACCEPT);
	assert_true(c->ws);
	return c;
}

/* ---- plain HTTP on the same port ---- */

static void hello_done(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	char body[16] = "";
	if (req) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		evbuffer_remove(in, body, sizeof(body) - 1);
	}
	if (req && evhttp_request_get_response_code(req) == 200 &&
	    strcmp(body, "hello") == 0)
		f->hello_ok++;
	else
		f->hello_bad++;
}

static void hello(struct fx *f)
{
	struct evhttp_request *req = evhttp_request_new(hello_done, f);
	assert_non_null(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  "127.0.0.1");
	assert_int_equal(evhttp_make_request(f->hc, req, EVHTTP_REQ_GET,
					     "/hello"),
			 0);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->logpath, sizeof(f->logpath), "/tmp/test_ws_log.XXXXXX");
	f->logfd = mkstemp(f->logpath);
	assert_true(f->logfd >= 0);
	lc_log_set_fd(f->logfd);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->http = evhttp_new(f->base);
	assert_non_null(f->http);
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(f->http, serve, f);
	evhttp_set_timeout(f->http, 1); /* must not reach upgraded conns */
	struct evhttp_bound_socket *bs =
		evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sin, &sl),
			 0);
	f->port = ntohs(sin.sin_port);
	f->tick = evtimer_new(f->base, noop, NULL);
	f->pusher = event_new(f->base, -1, EV_PERSIST, push, f);
	struct timeval tv = { 0, 2000 };
	evtimer_add(f->pusher, &tv);
	f->blob = malloc(BLOB);
	assert_non_null(f->blob);
	memset(f->blob, 0xAB, BLOB);
	f->hc = evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
					   (uint16_t)f->port);
	assert_non_null(f->hc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	evhttp_connection_free(f->hc);
	if (f->http)
		evhttp_free(f->http);
	for (int i = 0; i < f->nconns; i++) {
		/* every session ended exactly once, by now at the latest */
		assert_int_equal(f->conns[i]->closes, 1);
		free(f->conns[i]);
	}
	event_free(f->tick);
	event_free(f->pusher);
	event_base_free(f->base);
	free(f->blob);
	lc_log_set_fd(-1);
	close(f->logfd);
	unlink(f->logpath);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void handshake(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f, "/ws");
	assert_string_equal(c->upgrade, "websocket");
	assert_int_equal(f->opened, 1);
	assert_int_equal(f->upgrades_seen, 1);
	cli_text(c, "hi");
	WAIT(f, c->nfr == 1, 5000);
	assert_int_equal(c->fr[0].op, 1);
	assert_true(c->fr[0].fin);
	assert_false(c->fr[0].masked);
	assert_string_equal((char *)c->fr[0].data, "hi");
	/* evhttp's idle timeout (1 s) does not apply to the upgraded one */
	settle(f, 1500);
	if (f->closed)
		fail_msg("closed: %d %s", f->conns[0]->code,
			 f->conns[0]->reason);
	cli_text(c, "still here");
	WAIT(f, c->nfr == 2, 5000);
	assert_string_equal((char *)c->fr[1].data, "still here");
	/* plain HTTP on the same port meanwhile */
	hello(f);
	WAIT(f, f->hello_ok == 1, 5000);
	cli_free(c);
}

static void handshake_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *key, *version, *why;
	} cases[] = {
		{ NULL, "13", "missing or invalid Sec-WebSocket-Key" },
		{ "short==", "13", "missing or invalid Sec-WebSocket-Key" },
		{ RFC_KEY, "8", "unsupported Sec-WebSocket-Version" },
		{ RFC_KEY, NULL, "unsupported Sec-WebSocket-Version" },
	};
	struct cli *c = cli_new(f, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = c->nresp;
		cli_upgrade(c, "/ws", cases[i].key, cases[i].version);
		WAIT(f, c->nresp == n + 1, 5000);
		assert_int_equal(c->status, 400);
		assert_non_null(strstr(c->body, cases[i].why));
		assert_string_equal(c->version,
				    cases[i].version &&
						    strcmp(cases[i].version,
							   "13") == 0
					    ? ""
					    : "13");
		/* the same connection still serves plain HTTP */
		cli_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
		WAIT(f, c->nresp == n + 2, 5000);
		assert_int_equal(c->status, 200);
		assert_string_equal(c->body, "hello");
	}
	/* not a GET; no Upgrade header */
	cli_send(c, "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
		    "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
		    "\r\n");
	WAIT(f, c->nresp == 9, 5000);
	assert_int_equal(c->status, 400);
	assert_non_null(strstr(c->body, "must be a GET"));
	cli_send(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Key: " RFC_KEY "\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n");
	WAIT(f, c->nresp == 10, 5000);
	assert_int_equal(c->status, 400);
	assert_non_null(strstr(c->body, "Upgrade: websocket"));
	assert_int_equal(f->refused, 6);
	assert_int_equal(f->opened, 0);
	assert_int_equal(f->upgrades_seen, 0);
	/* and a good upgrade on that very connection works */
	cli_upgrade(c, "/ws", RFC_KEY, "13");
	WAIT(f, c->ws, 5000);
	assert_string_equal(c->accept, RFC_ACCEPT);
	assert_int_equal(f->upgrades_seen, 1);
	cli_free(c);
}

static void echo_sizes(void **state)
{
	struct fx *f = *state;
	static const size_t sizes[] = { 0,     1,     125,   126,
					 127,   65535, 65536, 70000,
					 1u << 20 };
	struct cli *c = cli_open(f, "/ws");
	size_t max = 1u << 20;
	unsigned char *buf = malloc(max);
	assert_non_null(buf);
	for (size_t i = 0; i < max; i++)
		buf[i] = (unsigned char)(i * 7);
	for (int text = 0; text < 2; text++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i];
			unsigned char *p = buf;
			if (text) {
				p = malloc(n + 1);
				assert_non_null(p);
				memset(p, 'a' + (int)(i % 26), n);
			}
			int before = c->nfr;
			cli_frame(c, text ? 0x81 : 0x82, p, n, true);
			WAIT(f, c->nfr == before + 1, 10000);
			const struct frame *fr = last(c);
			assert_int_equal(fr->op, text ? 1 : 2);
			assert_true(fr->fin);
			assert_false(fr->masked);
			assert_int_equal(fr->len, n);
			assert_int_equal(fr->hlen,
					 n < 126 ? 2 : n <= 65535 ? 4 : 10);
			assert_memory_equal(fr->data, p, n);
			if (text)
				free(p);
			/* keep memory flat: forget the frame */
			free(c->fr[--c->nfr].data);
		}
	}
	free(buf);
	assert_int_equal(f->closed, 0);
	cli_free(c);
}

static void fragmented(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f, "/ws");
	cli_frame(c, 0x01, "Hel", 3, true);      /* text, more to come */
	cli_frame(c, 0x89, "p!", 2, true);       /* a ping in between */
	cli_frame(c, 0x00, "lo ", 3, true);      /* continuation */
	cli_frame(c, 0x00, "", 0, true);         /* an empty one */
	cli_frame(c, 0x80, "World", 5, true);    /* final */
	WAIT(f, c->nfr == 2, 5000);
	assert_int_equal(c->fr[0].op, 0xA);      /* pong first */
	assert_string_equal((char *)c->fr[0].data, "p!");
	assert_int_equal(c->fr[1].op, 1);
	assert_string_equal((char *)c->fr[1].data, "Hello World");
	assert_int_equal(f->conns[0]->msgs, 1);
	/* a binary message in 7 pieces, past 64 KiB */
	unsigned char *p = malloc(70000);
	assert_non_null(p);
	for (size_t i = 0; i < 70000; i++)
		p[i] = (unsigned char)(i % 251);
	for (size_t off = 0; off < 70000; off += 10000)
		cli_frame(c, (off ? 0x00 : 0x02) | (off + 10000 >= 70000 ? 0x80
									  : 0),
			  p + off, 10000, true);
	WAIT(f, c->nfr == 3, 5000);
	assert_int_equal(c->fr[2].op, 2);
	assert_int_equal(c->fr[2].len, 70000);
	assert_memory_equal(c->fr[2].data, p, 70000);
	free(p);
	cli_free(c);
}

static void ping_pong(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f, "/ws");
	cli_frame(c, 0x89, "abc", 3, true);
	WAIT(f, c->nfr == 1, 5000);
	assert_int_equal(c->fr[0].op, 0xA);
	assert_string_equal((char *)c->fr[0].data, "abc");
	/* a pong from the client is absorbed */
	cli_frame(c, 0x8A, "zz", 2, true);
	/* a ping from the server */
	cli_text(c, "!ping");
	WAIT(f, c->nfr == 2, 5000);
	assert_int_equal(c->fr[1].op, 0x9);
	assert_int_equal(c->fr[1].len, 0);
	cli_text(c, "after");
	WAIT(f, c->nfr == 3, 5000);
	assert_string_equal((char *)c->fr[2].data, "after");
	assert_int_equal(f->conns[0]->msgs, 2);
	cli_free(c);
}

/* Send raw frames, expect the server's close with code, then EOF. */
static void expect_failure(struct fx *f, void (*send)(struct cli *),
			   int code)
{
	int i = f->nconns;
	struct cli *c = cli_open(f, "/ws");
	send(c);
	WAIT(f, c->eof && f->closed == i + 1, 5000);
	const struct frame *fr = last(c);
	assert_non_null(fr);
	assert_int_equal(fr->op, 0x8);
	assert_int_equal(frame_code(fr), code);
	assert_int_equal(f->conns[i]->closes, 1);
	assert_int_equal(f->conns[i]->code, code);
	/* nothing was echoed */
	assert_int_equal(c->nfr, 1);
	cli_free(c);
}

static void send_unmasked(struct cli *c)
{
	cli_frame(c, 0x81, "hello", 5, false);
}

static void send_rsv(struct cli *c)
{
	cli_frame(c, 0xC1, "x", 1, true);
}

static void send_opcode3(struct cli *c)
{
	cli_frame(c, 0x83, "x", 1, true);
}

static void send_orphan_cont(struct cli *c)
{
	cli_frame(c, 0x80, "x", 1, true);
}

static void send_text_in_text(struct cli *c)
{
	cli_frame(c, 0x01, "a", 1, true);
	cli_frame(c, 0x81, "b", 1, true);
}

static void send_fragmented_ping(struct cli *c)
{
	cli_frame(c, 0x09, "x", 1, true);
}

static void send_long_ping(struct cli *c)
{
	char p[126];
	memset(p, 'p', sizeof(p));
	cli_frame(c, 0x89, p, sizeof(p), true);
}

static void send_bad_utf8(struct cli *c)
{
	cli_frame(c, 0x81, "ok\xC0\xAF", 4, true);
}

static void send_close_1005(struct cli *c)
{
	cli_close(c, 1005, "");
}

static void send_close_1_byte(struct cli *c)
{
	cli_frame(c, 0x88, "x", 1, true);
}

static void protocol_errors(void **state)
{
	struct fx *f = *state;
	expect_failure(f, send_unmasked, 1002);
	expect_failure(f, send_rsv, 1002);
	expect_failure(f, send_opcode3, 1002);
	expect_failure(f, send_orphan_cont, 1002);
	expect_failure(f, send_text_in_text, 1002);
	expect_failure(f, send_fragmented_ping, 1002);
	expect_failure(f, send_long_ping, 1002);
	expect_failure(f, send_bad_utf8, 1007);
	expect_failure(f, send_close_1005, 1002);
	expect_failure(f, send_close_1_byte, 1002);
	/* the server still serves */
	hello(f);
	WAIT(f, f->hello_ok == 1, 5000);
}

static void send_1001(struct cli *c)
{
	char p[1001];
	memset(p, 'x', sizeof(p));
	cli_frame(c, 0x82, p, sizeof(p), true);
}

static void send_600_600(struct cli *c)
{
	char p[600];
	memset(p, 'x', sizeof(p));
	cli_frame(c, 0x02, p, sizeof(p), true);
	cli_frame(c, 0x80, p, sizeof(p), true);
}

/* Only the header of a 1 TiB frame: refused before any payload. */
static void send_huge_header(struct cli *c)
{
	cli_header(c, 0x82, 1ull << 40, true);
}

static void too_big(void **state)
{
	struct fx *f = *state;
	f->limits.max_message = 1000;
	expect_failure(f, send_1001, 1009);
	expect_failure(f, send_600_600, 1009);
	expect_failure(f, send_huge_header, 1009);
	/* exactly the limit is fine */
	struct cli *c = cli_open(f, "/ws");
	char p[1000];
	memset(p, 'y', sizeof(p));
	cli_frame(c, 0x82, p, sizeof(p), true);
	WAIT(f, c->nfr == 1, 5000);
	assert_int_equal(c->fr[0].len, 1000);
	cli_free(c);
}

static void server_close(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f, "/ws");
	c->reply_close = true;
	cli_text(c, "!close 4001 bye now");
	WAIT(f, c->eof && f->closed == 1, 2000);
	assert_int_equal(c->nfr, 1);
	assert_int_equal(c->fr[0].op, 0x8);
	assert_int_equal(frame_code(&c->fr[0]), 4001);
	assert_string_equal((char *)c->fr[0].data + 2, "bye now");
	struct sconn *s = f->conns[0];
	assert_int_equal(s->send_after_close, -1);
	assert_int_equal(s->closes, 1);
	assert_int_equal(s->code, 4001);
	assert_string_equal(s->reason, "bye now");
	settle(f, 50);
	assert_int_equal(s->closes, 1);
	cli_free(c);
}

static void client_close(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f, "/ws");
	cli_close(c, 1000, "done");
	WAIT(f, c->eof && f->closed == 1, 2000);
	/* the close is echoed with its code, then the server disconnects */
	assert_int_equal(c->nfr, 1);
	assert_int_equal(c->fr[0].op, 0x8);
	assert_int_equal(frame_code(&c->fr[0]), 1000);
	struct sconn *s = f->conns[0];
	assert_int_equal(s->code, 1000);
	assert_string_equal(s->reason, "done");
	/* a close without a code is answered with an empty close */
	cli_free(c);
	c = cli_open(f, "/ws");
	cli_frame(c, 0x88, "", 0, true);
	WAIT(f, c->eof && f->closed == 2, 2000);
	assert_int_equal(c->fr[0].op, 0x8);
	assert_int_equal(c->fr[0].len, 0);
	assert_int_equal(f->conns[1]->code, 1005);
	cli_free(c);
}

static void abrupt_and_lingering(void **state)
{
	struct fx *f = *state;
	/* the client just goes away: 1006 */
	struct cli *c = cli_open(f, "/ws");
	cli_drop(c);
	WAIT(f, f->closed == 1, 2000);
	assert_int_equal(f->conns[0]->code, 1006);
	assert_string_equal(f->conns[0]->reason, "connection lost");
	cli_free(c);
	/* the client never finishes the close: dropped after a while */
	c = cli_open(f, "/ws");
	c->keep_open = true;
	cli_text(c, "!close 1000 bye");
	WAIT(f, c->eof, 2000);
	int64_t t0 = lc_clock_mono_ms();
	WAIT(f, f->closed == 2, 5000);
	if (lc_clock_mono_ms() - t0 < 1000)
		fail_msg("closed after %lld ms: %d %s",
			 (long long)(lc_clock_mono_ms() - t0),
			 f->conns[1]->code, f->conns[1]->reason);
	assert_int_equal(f->conns[1]->code, 1000);
	cli_free(c);
}

/* Handshake and a frame in one write: the frame is not lost. */
static void frame_behind_handshake(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_new(f, 0);
	cli_upgrade(c, "/ws", RFC_KEY, "13");
	cli_text(c, "early");
	WAIT(f, c->nfr == 1, 5000);
	assert_int_equal(c->status, 101);
	assert_string_equal((char *)c->fr[0].data, "early");
	cli_free(c);
}

static void slow_client(void **state)
{
	struct fx *f = *state;
	f->limits.max_outbuf = 256u << 10;
	/* one that reads, to show the push alone is not the problem; it
	 * takes whatever the kernel has at each turn (a bufferevent reads
	 * 16 KiB a turn by default: on a loaded machine, with turns far
	 * apart, that fell behind the 32 MB/s push and got it dropped) */
	struct cli *fast = cli_new(f, 0);
	assert_int_equal(bufferevent_set_max_single_read(fast->bev,
							 4u << 20),
			 0);
	cli_upgrade(fast, "/ws-push", RFC_KEY, "13");
	WAIT(f, fast->ws && f->opened == 1, 5000);
	struct cli *c = cli_new(f, 4096);
	cli_upgrade(c, "/ws-push", RFC_KEY, "13");
	bufferevent_disable(c->bev, EV_READ); /* never reads */
	WAIT(f, f->opened == 2 && f->conns[1]->closes == 1, 20000);
	assert_int_equal(f->closed, 1); /* that one only */
	struct sconn *s = f->conns[1];
	assert_int_equal(s->closes, 1);
	assert_int_equal(s->code, 1008);
	assert_string_equal(s->reason, "slow client");
	assert_int_equal(s->send_fails, 1);
	assert_true(s->outbuf_seen > 0);
	assert_true(s->outbuf_seen <= f->limits.max_outbuf);
	/* the reader goes on receiving far past the limit, still connected
	 * (how much it had when the other was cut off depends on how much
	 * the kernel buffered for the slow one, so wait for it) */
	struct sconn *r = f->conns[0];
	WAIT(f, fast->bytes > 4 * f->limits.max_outbuf, 20000);
	assert_int_equal(r->closes, 0);
	assert_int_equal(r->send_fails, 0);
	assert_false(fast->eof);
	/* the server really hung up: reading now ends in EOF */
	bufferevent_enable(c->bev, EV_READ);
	WAIT(f, c->eof, 20000);
	assert_true(c->bytes > 0);
	cli_free(c);
	cli_free(fast);
}

/* evhttp's timeouts (1 s in the fixture) are gone from an upgraded
 * connection, even one that served HTTP before: a write that waits 1.6 s
 * for a client that does not read does not end the session. */
static void no_evhttp_timeouts(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_new(f, 4096);
	cli_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	WAIT(f, c->nresp == 1, 5000);
	assert_int_equal(c->status, 200);
	bufferevent_disable(c->bev, EV_READ);
	cli_upgrade(c, "/ws-big", RFC_KEY, "13");
	WAIT(f, f->opened == 1, 5000);
	settle(f, 1600);
	assert_int_equal(f->closed, 0);
	assert_true(lc_ws_outbuf(f->conns[0]->ws) > 0); /* still waiting */
	bufferevent_enable(c->bev, EV_READ);
	WAIT(f, c->nfr == 1, 10000);
	assert_int_equal(c->fr[0].len, BIG_MSG);
	assert_int_equal(c->fr[0].data[BIG_MSG - 1], 'B');
	/* and idle reading does not time out either */
	settle(f, 1200);
	cli_text(c, "still there");
	WAIT(f, c->nfr == 2, 5000);
	assert_string_equal((char *)c->fr[1].data, "still there");
	assert_int_equal(f->closed, 0);
	cli_free(c);
}

#define NCLI 100

static void many_connections(void **state)
{
	struct fx *f = *state;
	struct cli *c[NCLI];
	for (int round = 0; round < 3; round++) {
		int base = f->nconns;
		for (int i = 0; i < NCLI; i++) {
			c[i] = cli_new(f, 0);
			cli_upgrade(c[i], "/ws", RFC_KEY, "13");
		}
		hello(f);
		for (int i = 0; i < NCLI; i++) {
			WAIT(f, c[i]->ws, 5000);
			char msg[32];
			snprintf(msg, sizeof(msg), "message %d", i);
			cli_text(c[i], msg);
		}
		hello(f);
		for (int i = 0; i < NCLI; i++) {
			WAIT(f, c[i]->nfr == 1, 5000);
			char msg[32];
			snprintf(msg, sizeof(msg), "message %d", i);
			assert_string_equal((char *)c[i]->fr[0].data, msg);
		}
		assert_int_equal(f->opened, NCLI * (round + 1));
		/* four ways to end */
		static const int want[4] = { 1000, 4000, 1006, 1001 };
		struct sconn *sc[NCLI];
		for (int i = 0; i < NCLI; i++) {
			char name[64];
			cli_name(c[i], name, sizeof(name));
			sc[i] = by_peer(f, name);
			switch (i % 4) {
			case 0:
				cli_close(c[i], 1000, "bye");
				break;
			case 1:
				c[i]->reply_close = true;
				cli_text(c[i], "!close 4000 server");
				break;
			case 2:
				cli_drop(c[i]);
				break;
			default:
				cli_close(c[i], 1001, "away");
				break;
			}
		}
		hello(f);
		WAIT(f, f->closed == NCLI * (round + 1), 10000);
		for (int i = 0; i < NCLI; i++) {
			assert_int_equal(sc[i]->closes, 1);
			assert_int_equal(sc[i]->code, want[i % 4]);
		}
		assert_int_equal(f->nconns, base + NCLI);
		for (int i = 0; i < NCLI; i++) {
			if (c[i]->bev)
				WAIT(f, c[i]->eof, 5000);
			cli_free(c[i]);
		}
		WAIT(f, f->hello_ok == 3 * (round + 1), 5000);
	}
	assert_int_equal(f->hello_bad, 0);
	settle(f, 50);
	assert_int_equal(f->closed, 3 * NCLI);
	/* and after all that, plain HTTP still works */
	hello(f);
	WAIT(f, f->hello_ok == 10, 5000);
}

static void server_freed_with_open_sessions(void **state)
{
	struct fx *f = *state;
	struct cli *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = cli_open(f, "/ws");
	/* the third is already over (output past its limit, 4 MiB by
	 * default) but its on_close has not run yet when the server goes */
	struct sconn *s = f->conns[2];
	assert_int_equal(lc_ws_send(s->ws, LC_WS_BINARY, f->blob, 4096), 0);
	unsigned char *big = calloc(1, 5u << 20);
	assert_non_null(big);
	assert_int_equal(lc_ws_send(s->ws, LC_WS_BINARY, big, 5u << 20), -1);
	free(big);
	assert_int_equal(s->closes, 0); /* not from inside lc_ws_send */
	evhttp_free(f->http);
	f->http = NULL;
	assert_int_equal(f->closed, 3);
	assert_int_equal(f->conns[0]->code, 1001);
	assert_string_equal(f->conns[0]->reason, "server shutting down");
	assert_int_equal(f->conns[1]->code, 1001);
	assert_int_equal(s->code, 1008);
	for (int i = 0; i < 3; i++) {
		WAIT(f, c[i]->eof, 5000);
		cli_free(c[i]);
	}
	settle(f, 20);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->conns[i]->closes, 1);
}

/* ---- keep-alive ---- */

/* Long enough that a loaded machine stalling this process (client and
 * server alike) for a moment does not make a live peer look dead. */
#define PING_MS 400
#define PONG_MS 300

/* Index of the first frame of op, or -1. */
static int find_op(const struct cli *c, int op)
{
	for (int i = 0; i < c->nfr; i++)
		if (c->fr[i].op == op)
			return i;
	return -1;
}

/* A peer that answers pings stays however long; one that sends nothing
 * after a ping is closed (1011) once the wait is over, not before. */
static void keepalive(void **state)
{
	struct fx *f = *state;
	f->limits.ping_interval_ms = PING_MS;
	f->limits.pong_timeout_ms = PONG_MS;
	struct cli *live = cli_open(f, "/ws");
	live->answer_pings = true;
	int64_t t0 = lc_clock_mono_ms();
	struct cli *dead = cli_open(f, "/ws");
	struct sconn *sd = f->conns[1];
	WAIT(f, sd->closes == 1, 5000);
	int64_t took = lc_clock_mono_ms() - t0;
	assert_true(took >= PING_MS + PONG_MS - 5);
	assert_int_equal(sd->code, 1011);
	assert_string_equal(sd->reason, "keepalive ping timeout");
	/* it saw the ping, then our close frame with the same code */
	WAIT(f, dead->eof, 5000);
	int ci = find_op(dead, 0x8);
	assert_true(ci > find_op(dead, 0x9) && find_op(dead, 0x9) >= 0);
	assert_int_equal(frame_code(&dead->fr[ci]), 1011);
	/* meanwhile the one that answers is pinged again and again */
	WAIT(f, live->pings >= 4, 5000);
	assert_int_equal(f->conns[0]->closes, 0);
	cli_text(live, "still here");
	WAIT(f, find_op(live, 0x1) >= 0, 5000);
	/* once it stops answering, it goes too */
	live->answer_pings = false;
	WAIT(f, f->conns[0]->closes == 1, 5000);
	assert_int_equal(f->conns[0]->code, 1011);
	cli_free(live);
	cli_free(dead);
}

/* Any frame proves the peer alive, not only a pong. */
static void keepalive_any_frame(void **state)
{
	struct fx *f = *state;
	f->limits.ping_interval_ms = PING_MS;
	f->limits.pong_timeout_ms = PONG_MS;
	struct cli *c = cli_open(f, "/ws");
	int64_t end = lc_clock_mono_ms() + 4 * PING_MS;
	while (lc_clock_mono_ms() < end) {
		cli_frame(c, 0x82, "", 0, true); /* echoed, not a pong */
		settle(f, 25);
	}
	assert_int_equal(f->conns[0]->closes, 0);
	assert_true(c->pings >= 3);
	/* off (the default): never a ping, an idle peer is kept */
	f->limits.ping_interval_ms = 0;
	struct cli *idle = cli_open(f, "/ws");
	settle(f, 3 * (PING_MS + PONG_MS));
	assert_int_equal(idle->pings, 0);
	assert_int_equal(f->conns[1]->closes, 0);
	cli_free(c);
	cli_free(idle);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(handshake),
		T(handshake_refused),
		T(echo_sizes),
		T(fragmented),
		T(ping_pong),
		T(protocol_errors),
		T(too_big),
		T(server_close),
		T(client_close),
		T(abrupt_and_lingering),
		T(frame_behind_handshake),
		T(slow_client),
		T(no_evhttp_timeouts),
		T(many_connections),
		T(server_freed_with_open_sessions),
		T(keepalive),
		T(keepalive_any_frame),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
