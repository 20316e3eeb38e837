/* WebSocket (RFC 6455), server side, on a connection taken over from
 * evhttp (libevent 2.1 has no WebSocket support).
 *
 * How the connection is taken over. Inside the request handler, evhttp
 * has read the whole upgrade request, disabled reading on the
 * connection's bufferevent and now waits for evhttp_send_reply(); until
 * then it does nothing with the connection on its own: the bufferevent's
 * callbacks are the only way it learns of anything. lc_ws_accept()
 * therefore
 *  - keeps evhttp's evhttp_connection, and with it the request, alive
 *    and unanswered for the whole WebSocket session;
 *  - replaces the bufferevent's callbacks (bufferevent_setcb) with ours,
 *    clears evhttp's timeouts and enables reading and writing: from now
 *    on no evhttp code runs for this connection, and evhttp never writes
 *    to it because it is never asked to reply;
 *  - writes the 101 answer into the bufferevent itself;
 *  - registers a close callback (evhttp_connection_set_closecb) for the
 *    one case where evhttp frees the connection by itself: evhttp_free()
 *    of the server. The callback runs on_close and frees our state; evhttp
 *    then frees the bufferevent and closes the socket.
 * At the end of a session we clear that callback and call
 * evhttp_connection_free(): it frees the unanswered request, unlinks the
 * connection from the server, frees the bufferevent and shuts down and
 * closes the socket - each exactly once, by its owner. That happens from
 * an event of our own (`later`), never inside a bufferevent callback or
 * an lc_ws_* call.
 *
 * Why not dup() the socket and free evhttp's connection at once: in 2.1
 * evhttp_connection_free() calls shutdown(fd, SHUT_WR) on the original
 * descriptor before closing it (http.c), and a shutdown acts on the
 * socket, not the descriptor, so the client would see a FIN right after
 * the 101. Keeping evhttp's bufferevent also keeps whatever evhttp set up
 * (a TLS bufferevent from evhttp_set_bevcb, bytes already read past the
 * request).
 *
 * Closing: whoever starts it, our close frame is queued, the input is
 * ignored from then on, and once the output is flushed our side of the
 * socket is shut down; the session ends when the peer closes its side
 * (or after CLOSE_WAIT_MS). Failures (EOF, socket error, a slow client)
 * end it at once. In every case on_close runs once, from `later`.
 *
 * Keep-alive (`alive`, when the limits ask for it): evhttp's timeouts are
 * gone, and TCP alone may not notice a peer that vanished (no FIN, no
 * RST: a sleeping laptop, a dropped NAT entry) for hours, so the session
 * pings and closes like lc_ws_close (1011) when nothing comes back.
 */
#include "libcommon/ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "libcommon/buf.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEY_LEN 24                 /* base64 of 16 bytes */
#define ACCEPT_LEN 28              /* base64 of a SHA-1 */
#define DEF_MAX_MESSAGE (1u << 20)
#define DEF_MAX_OUTBUF (4u << 20)
#define CLOSE_WAIT_MS 3000         /* flush + the peer's close, at most */
#define KEEP_MSG_CAP (64u << 10)   /* reassembly memory kept when idle */
#define WRITE_CHUNK (1u << 20)     /* most bytes handed to one write */
#define MAX_CONTROL 125            /* payload of a control frame */
#define MAX_REASON (MAX_CONTROL - 2)

enum {
	OP_CONT = 0x0,
	OP_TEXT = 0x1,
	OP_BINARY = 0x2,
	OP_CLOSE = 0x8,
	OP_PING = 0x9,
	OP_PONG = 0xA,
};

/* Close codes that only this file uses. */
#define CODE_NO_STATUS 1005 /* a close frame without a code */
#define CODE_ABNORMAL 1006  /* no close frame: the connection was lost */
#define CODE_BAD_DATA 1007  /* text that is not UTF-8 */

enum ws_state {
	WS_OPEN,    /* messages flow both ways */
	WS_CLOSING, /* our close frame is queued: flush, shut down, wait */
	WS_DONE,    /* over: on_close and the free are queued in `later` */
};

struct lc_ws {
	struct evhttp_connection *evcon; /* evhttp's; freed by us at the end */
	struct bufferevent *bev;    /* evhttp's (owned by evcon), our cbs */
	struct event *later;        /* owned; first read, then on_close+free */
	struct event *linger;       /* owned; deadline of a close */
	struct event *alive;        /* owned; keep-alive, or NULL (off) */
	struct lc_ws_cbs cbs;
	void *arg;                  /* borrowed; passed to the callbacks */
	size_t max_message;
	size_t max_outbuf;
	int64_t ping_every_ms;      /* keep-alive interval; 0: off */
	int64_t pong_wait_ms;       /* how long a ping may go unanswered */
	bool ping_out;              /* waiting pong_wait_ms after a ping */
	bool heard;                 /* the peer sent bytes since that ping */
	enum ws_state state;
	bool shut;                  /* our write side is shut down */
	struct lc_buf msg;          /* message being reassembled */
	int msg_op;                 /* its opcode; 0: none in progress */
	int code;                   /* for on_close; 0: not known yet */
	char reason[MAX_REASON + 1]; /* for on_close */
	char peer[64];              /* "address:port" */
};

/* ---- small helpers ---- */

/* Is s[0..n) valid UTF-8 (no overlongs, surrogates, > U+10FFFF)? */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			k = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			k = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if (cp < min[k] || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k + 1;
	}
	return true;
}

/* A code a peer may send in a close frame (RFC 6455 7.4). */
static bool code_ok(int code)
{
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

static void unmask(unsigned char *p, size_t n, const unsigned char m[4])
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= m[i & 3];
}

/* Does the comma-separated header value v hold token (any case)? */
static bool has_token(const char *v, const char *token)
{
	size_t tlen = strlen(token);
	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *end = v + strcspn(v, ",");
		const char *last = end;
		while (last > v && (last[-1] == ' ' || last[-1] == '\t'))
			last--;
		if ((size_t)(last - v) == tlen &&
		    strncasecmp(v, token, tlen) == 0)
			return true;
		v = end;
	}
	return false;
}

/* 24 characters of base64 ending in "==": 16 bytes, as RFC 6455 asks. */
static bool key_ok(const char *k)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	if (!k || strlen(k) != KEY_LEN || strcmp(k + 22, "==") != 0)
		return false;
	return strspn(k, b64) == 22;
}

/* ---- ending: every path goes through finish() ---- */

/* Remember why the session ends; the first reason wins. */
static void set_close(struct lc_ws *ws, int code, const char *reason,
		      size_t rlen)
{
	if (ws->code)
		return;
	ws->code = code;
	if (rlen > MAX_REASON)
		rlen = MAX_REASON;
	memcpy(ws->reason, reason, rlen);
	ws->reason[rlen] = '\0';
}

/* Stop all I/O and queue on_close and the free for the loop. */
static void finish(struct lc_ws *ws)
{
	if (ws->state == WS_DONE)
		return;
	ws->state = WS_DONE;
	bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
	evtimer_del(ws->linger);
	if (ws->alive)
		evtimer_del(ws->alive);
	event_active(ws->later, EV_TIMEOUT, 0);
}

/* Run on_close, then free ws. free_conn is false only when evhttp is
 * freeing the connection itself (evhttp_free of the server). */
static void release(struct lc_ws *ws, bool free_conn)
{
	log_debug("ws.closed", LF_S("peer", ws->peer), LF_I("code", ws->code),
		  LF_S("reason", ws->reason));
	if (ws->cbs.on_close)
		ws->cbs.on_close(ws, ws->code, ws->reason, ws->arg);
	bufferevent_setcb(ws->bev, NULL, NULL, NULL, NULL);
	evhttp_connection_set_closecb(ws->evcon, NULL, NULL);
	if (free_conn)
		evhttp_connection_free(ws->evcon);
	event_free(ws->later);
	event_free(ws->linger);
	if (ws->alive)
		event_free(ws->alive);
	lc_buf_release(&ws->msg);
	free(ws);
}

/* evhttp is freeing the connection (evhttp_free): end here and now. */
static void on_evhttp_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct lc_ws *ws = arg;
	static const char why[] = "server shutting down";
	set_close(ws, LC_WS_GOING_AWAY, why, sizeof(why) - 1);
	ws->state = WS_DONE;
	release(ws, false);
}

/* ---- output ---- */

/* Queue one unmasked frame. With limit, passing max_outbuf drops the
 * connection (1008) instead. 0, or -1 when the frame was not queued. */
static int queue_frame(struct lc_ws *ws, int op, const void *p, size_t len,
		       bool limit)
{
	struct evbuffer *out = bufferevent_get_output(ws->bev);
	unsigned char h[10];
	size_t hlen;
	h[0] = (unsigned char)(0x80 | op);
	if (len < 126) {
		h[1] = (unsigned char)len;
		hlen = 2;
	} else if (len <= 0xFFFF) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hlen = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >>
						   (56 - 8 * i));
		hlen = 10;
	}
	size_t queued = evbuffer_get_length(out);
	if (limit && (len > ws->max_outbuf || len + hlen > ws->max_outbuf ||
		      queued > ws->max_outbuf - len - hlen)) {
		static const char why[] = "slow client";
		log_warn("ws.slow_client", LF_S("peer", ws->peer),
			 LF_I("queued_bytes", queued));
		set_close(ws, LC_WS_POLICY, why, sizeof(why) - 1);
		finish(ws);
		return -1;
	}
	if (evbuffer_add(out, h, hlen) != 0 ||
	    (len && evbuffer_add(out, p, len) != 0)) {
		static const char why[] = "out of memory";
		set_close(ws, LC_WS_INTERNAL, why, sizeof(why) - 1);
		finish(ws);
		return -1;
	}
	return 0;
}

/* Queue our close frame (code CODE_NO_STATUS: an empty one) and start
 * the closing handshake. */
static void start_close(struct lc_ws *ws, int code, const char *reason,
			size_t rlen)
{
	if (ws->state != WS_OPEN)
		return;
	set_close(ws, code, reason, rlen);
	unsigned char p[MAX_CONTROL];
	size_t n = 0;
	if (code != CODE_NO_STATUS) {
		p[0] = (unsigned char)(code >> 8);
		p[1] = (unsigned char)code;
		if (rlen > MAX_REASON)
			rlen = MAX_REASON;
		memcpy(p + 2, reason, rlen);
		n = 2 + rlen;
	}
	ws->state = WS_CLOSING;
	struct evbuffer *in = bufferevent_get_input(ws->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (queue_frame(ws, OP_CLOSE, p, n, false) != 0)
		return;
	struct timeval tv;
	lc_clock_tv(&tv, CLOSE_WAIT_MS);
	evtimer_add(ws->linger, &tv);
}

/* A protocol failure: tell the peer why and close. Returns 0 (stop). */
static int fail(struct lc_ws *ws, int code, const char *why)
{
	log_info("ws.protocol_error", LF_S("peer", ws->peer),
		 LF_I("code", code), LF_S("reason", why));
	start_close(ws, code, why, strlen(why));
	return 0;
}

/* ---- input ---- */

static void message_done(struct lc_ws *ws)
{
	int op = ws->msg_op;
	const char *data = ws->msg.data ? ws->msg.data : "";
	ws->msg_op = 0;
	if (op == OP_TEXT &&
	    !utf8_ok((const unsigned char *)data, ws->msg.len)) {
		fail(ws, CODE_BAD_DATA, "text message is not UTF-8");
		return;
	}
	if (ws->cbs.on_message)
		ws->cbs.on_message(ws, (enum lc_ws_opcode)op, data,
				   ws->msg.len, ws->arg);
	if (ws->msg.cap > KEEP_MSG_CAP)
		lc_buf_release(&ws->msg);
	else
		lc_buf_reset(&ws->msg);
}

static void control_frame(struct lc_ws *ws, int op, unsigned char *p,
			  size_t len)
{
	if (op == OP_PING) {
		queue_frame(ws, OP_PONG, p, len, true);
		return;
	}
	if (op == OP_PONG)
		return;
	/* close: echo the peer's code, keep it and its reason for on_close */
	int code = CODE_NO_STATUS;
	if (len == 1) {
		fail(ws, LC_WS_PROTOCOL_ERROR, "close frame of 1 byte");
		return;
	}
	if (len >= 2) {
		code = (p[0] << 8) | p[1];
		if (!code_ok(code)) {
			fail(ws, LC_WS_PROTOCOL_ERROR, "invalid close code");
			return;
		}
		if (!utf8_ok(p + 2, len - 2)) {
			fail(ws, CODE_BAD_DATA, "close reason is not UTF-8");
			return;
		}
	}
	start_close(ws, code, len > 2 ? (const char *)p + 2 : "",
		    len > 2 ? len - 2 : 0);
}

/* Why a frame with this header is refused here (*code: the close code
 * to send), or NULL if it is acceptable. */
static const char *frame_error(const struct lc_ws *ws,
			       const unsigned char *h, int op, bool fin,
			       uint64_t len, int *code)
{
	*code = LC_WS_PROTOCOL_ERROR;
	if (h[0] & 0x70)
		return "reserved bits set";
	if (!(h[1] & 0x80))
		return "unmasked frame";
	if (op & 0x8) {
		if (op != OP_CLOSE && op != OP_PING && op != OP_PONG)
			return "unknown opcode";
		if (!fin || len > MAX_CONTROL)
			return "fragmented or long control frame";
		return NULL;
	}
	if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY)
		return "unknown opcode";
	if (op == OP_CONT && ws->msg_op == 0)
		return "continuation of nothing";
	if (op != OP_CONT && ws->msg_op != 0)
		return "new message inside a fragmented one";
	*code = LC_WS_TOO_BIG;
	if (len > ws->max_message - ws->msg.len)
		return "message too big";
	return NULL;
}

/* Handle one frame from the input. 1: handled, look for another; 0: wait
 * for more input, or stop (the session is closing). Only a frame's
 * header is looked at until the whole frame is there, so a frame too big
 * is refused before its payload arrives. */
static int read_frame(struct lc_ws *ws, struct evbuffer *in)
{
	unsigned char h[14];
	size_t avail = evbuffer_get_length(in);
	if (avail < 2)
		return 0;
	evbuffer_copyout(in, h, avail < sizeof(h) ? avail : sizeof(h));
	bool fin = h[0] & 0x80;
	int op = h[0] & 0x0F;
	uint64_t len = h[1] & 0x7F;
	size_t hlen = 2;
	if (len == 126) {
		hlen = 4;
		if (avail < hlen)
			return 0;
		len = ((uint64_t)h[2] << 8) | h[3];
	} else if (len == 127) {
		hlen = 10;
		if (avail < hlen)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | h[2 + i];
		if (len >> 63)
			return fail(ws, LC_WS_PROTOCOL_ERROR, "bad length");
	}
	int code;
	const char *why = frame_error(ws, h, op, fin, len, &code);
	if (why)
		return fail(ws, code, why);
	if (avail < hlen + 4 || avail - hlen - 4 < len)
		return 0;
	unsigned char mask[4];
	memcpy(mask, h + hlen, 4);
	evbuffer_drain(in, hlen + 4);
	if (op & 0x8) {
		unsigned char p[MAX_CONTROL];
		evbuffer_remove(in, p, (size_t)len);
		unmask(p, (size_t)len, mask);
		control_frame(ws, op, p, (size_t)len);
		return ws->state == WS_OPEN;
	}
	if (len) {
		size_t old = ws->msg.len;
		unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
		if (!p || lc_buf_append(&ws->msg, p, (size_t)len) != 0)
			return fail(ws, LC_WS_INTERNAL, "out of memory");
		evbuffer_drain(in, (size_t)len);
		unmask((unsigned char *)ws->msg.data + old, (size_t)len, mask);
	}
	if (op != OP_CONT)
		ws->msg_op = op;
	if (fin)
		message_done(ws);
	return ws->state == WS_OPEN;
}

static void ws_read(struct lc_ws *ws)
{
	struct evbuffer *in = bufferevent_get_input(ws->bev);
	while (ws->state == WS_OPEN && read_frame(ws, in) > 0)
		;
	if (ws->state != WS_OPEN) /* a closing session ignores input */
		evbuffer_drain(in, evbuffer_get_length(in));
}

/* ---- events ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
	struct lc_ws *ws = arg;
	(void)bev;
	/* Any bytes prove the peer alive, not only a pong: a client busy
	 * sending a long message may well answer the ping after it. */
	ws->heard = true;
	ws_read(ws);
}

/* The output ran dry: when closing, shut our side down (the peer sees
 * our close frame, then EOF, and closes its side). */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct lc_ws *ws = arg;
	if (ws->state != WS_CLOSING || ws->shut ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	ws->shut = true;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct lc_ws *ws = arg;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (ws->state == WS_OPEN) {
		static const char lost[] = "connection lost";
		set_close(ws, CODE_ABNORMAL, lost, sizeof(lost) - 1);
	}
	finish(ws);
}

/* The peer did not finish the close in time. */
static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

static void arm(struct event *ev, int64_t ms)
{
	struct timeval tv;
	lc_clock_tv(&tv, ms > 0 ? ms : 0);
	evtimer_add(ev, &tv);
}

/* Keep-alive, two steps: send a ping and wait pong_wait_ms; then, if the
 * peer sent nothing meanwhile, close; else wait for the next ping. */
static void on_alive(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_ws *ws = arg;
	if (ws->state != WS_OPEN)
		return;
	if (ws->ping_out && !ws->heard) {
		static const char why[] = "keepalive ping timeout";
		log_info("ws.ping_timeout", LF_S("peer", ws->peer),
			 LF_I("waited_ms", ws->pong_wait_ms));
		start_close(ws, LC_WS_INTERNAL, why, sizeof(why) - 1);
		return;
	}
	if (ws->ping_out) { /* answered: the next ping an interval after
			       this one (or now, if the wait was longer) */
		ws->ping_out = false;
		arm(ws->alive, ws->ping_every_ms - ws->pong_wait_ms);
		return;
	}
	if (queue_frame(ws, OP_PING, "", 0, true) != 0)
		return; /* a slow client: already being dropped */
	ws->ping_out = true;
	ws->heard = false;
	arm(ws->alive, ws->pong_wait_ms);
}

/* Input that came with the handshake, or the end of the session. */
static void on_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_ws *ws = arg;
	if (ws->state == WS_DONE)
		release(ws, true);
	else
		ws_read(ws);
}

/* ---- handshake ---- */

/* Why req is not an acceptable upgrade, or NULL. */
static const char *handshake_error(struct evhttp_request *req,
				   bool *bad_version)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *version = evhttp_find_header(h, "Sec-WebSocket-Version");
	*bad_version = false;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
		return "a WebSocket upgrade must be a GET";
	if (!has_token(evhttp_find_header(h, "Upgrade"), "websocket"))
		return "no 'Upgrade: websocket' header";
	if (!has_token(evhttp_find_header(h, "Connection"), "upgrade"))
		return "no 'Connection: Upgrade' header";
	if (!version || strcmp(version, "13") != 0) {
		*bad_version = true;
		return "unsupported Sec-WebSocket-Version (need 13)";
	}
	if (!key_ok(evhttp_find_header(h, "Sec-WebSocket-Key")))
		return "missing or invalid Sec-WebSocket-Key";
	return NULL;
}

bool lc_ws_is_upgrade(struct evhttp_request *req)
{
	bool bad_version;
	return handshake_error(req, &bad_version) == NULL;
}

/* base64(SHA-1(key + GUID)) into out[ACCEPT_LEN + 1]. */
static int accept_key(const char *key, char *out)
{
	char in[KEY_LEN + sizeof(WS_GUID)];
	uint8_t md[SHA1_DIGEST_SIZE];
	struct sha1_ctx c;
	struct base64_encode_ctx e;
	int n = snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
	sha1_init(&c);
	sha1_update(&c, (size_t)n, (const uint8_t *)in);
	sha1_digest(&c, sizeof(md), md);
	base64_encode_init(&e);
	size_t k = base64_encode_update(&e, out, sizeof(md), md);
	k += base64_encode_final(&e, out + k);
	out[k] = '\0';
	return k == ACCEPT_LEN ? 0 : -1;
}

/* Refuse the upgrade with a JSON error; evhttp keeps serving. */
static void refuse(struct evhttp_request *req, int code, const char *why,
		   bool bad_version)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct lc_buf b;
	lc_buf_init(&b, 512);
	if (lc_buf_printf(&b, "{\"error\":\"%s\",\"detail\":",
			  code == 400 ? "bad_request" : "internal") == 0 &&
	    lc_buf_append_json_str(&b, why) == 0 &&
	    lc_buf_append_str(&b, "}") == 0)
		evbuffer_add(out, b.data, b.len);
	lc_buf_release(&b);
	evhttp_add_header(oh, "Content-Type", "application/json");
	if (bad_version)
		evhttp_add_header(oh, "Sec-WebSocket-Version", "13");
	evhttp_send_reply(req, code, code == 400 ? "Bad Request"
						 : "Internal Server Error",
			  NULL);
}

/*
 * Remove evhttp's timeouts (evhttp_set_timeout) from the bufferevent.
 * bufferevent_set_timeouts(bev, NULL, NULL) alone is not enough in 2.1:
 * a persistent event remembers its last timeout even while it is not
 * pending, re-arms it each time it fires, and event_add(ev, NULL) does
 * not forget it; only event_remove_timer() does, which
 * bufferevent_set_timeouts() calls for pending events that have a timer.
 * So with both events pending (enabled, output queued) give them a timer
 * first, then remove it.
 */
static void clear_timeouts(struct bufferevent *bev)
{
	const struct timeval day = { 86400, 0 };
	bufferevent_set_timeouts(bev, &day, &day);
	bufferevent_set_timeouts(bev, NULL, NULL);
}

/* Keep-alive from limits (see ws.h): a wait of 0 is the interval. */
static void keepalive_limits(struct lc_ws *ws,
			     const struct lc_ws_limits *limits)
{
	if (!limits || !limits->ping_interval_ms)
		return;
	ws->ping_every_ms = limits->ping_interval_ms;
	ws->pong_wait_ms = limits->pong_timeout_ms;
	if (!ws->pong_wait_ms)
		ws->pong_wait_ms = ws->ping_every_ms;
}

static struct lc_ws *ws_new(struct evhttp_connection *evcon,
			    const struct lc_ws_cbs *cbs, void *arg,
			    const struct lc_ws_limits *limits)
{
	struct event_base *base = evhttp_connection_get_base(evcon);
	struct lc_ws *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	ws->evcon = evcon;
	ws->bev = evhttp_connection_get_bufferevent(evcon);
	ws->later = event_new(base, -1, 0, on_later, ws);
	ws->linger = evtimer_new(base, on_linger, ws);
	if (limits && limits->ping_interval_ms)
		ws->alive = evtimer_new(base, on_alive, ws);
	if (!ws->bev || !ws->later || !ws->linger ||
	    (limits && limits->ping_interval_ms && !ws->alive)) {
		if (ws->later)
			event_free(ws->later);
		if (ws->linger)
			event_free(ws->linger);
		if (ws->alive)
			event_free(ws->alive);
		free(ws);
		return NULL;
	}
	if (cbs)
		ws->cbs = *cbs;
	ws->arg = arg;
	ws->max_message = limits && limits->max_message ? limits->max_message
							 : DEF_MAX_MESSAGE;
	ws->max_outbuf = limits && limits->max_outbuf ? limits->max_outbuf
						       : DEF_MAX_OUTBUF;
	keepalive_limits(ws, limits);
	lc_buf_init(&ws->msg, ws->max_message);
	char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(ws->peer, sizeof(ws->peer),
		 addr && strchr(addr, ':') ? "[%s]:%u" : "%s:%u",
		 addr ? addr : "?", (unsigned)port);
	return ws;
}

struct lc_ws *lc_ws_accept(struct evhttp_request *req,
			   const struct lc_ws_cbs *cbs, void *arg,
			   const struct lc_ws_limits *limits)
{
	bool bad_version;
	const char *why = handshake_error(req, &bad_version);
	if (why) {
		refuse(req, 400, why, bad_version);
		return NULL;
	}
	char key[ACCEPT_LEN + 1];
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct lc_ws *ws = NULL;
	if (accept_key(evhttp_find_header(h, "Sec-WebSocket-Key"), key) != 0 ||
	    !evcon || !(ws = ws_new(evcon, cbs, arg, limits))) {
		refuse(req, 500, "cannot accept the WebSocket", false);
		return NULL;
	}
	/* the takeover (see the top of this file) */
	struct bufferevent *bev = ws->bev;
	bufferevent_setcb(bev, on_read, on_write, on_event, ws);
	bufferevent_setwatermark(bev, EV_READ | EV_WRITE, 0, 0);
	/* A bufferevent writes 16 KiB per loop turn by default: on a busy
	 * loop (few turns a second) a reader fast enough would still fall
	 * behind a stream of large messages and be dropped as slow. The
	 * kernel takes what it can of a bigger write; the rest waits. */
	bufferevent_set_max_single_write(bev, WRITE_CHUNK);
	evhttp_connection_set_closecb(evcon, on_evhttp_close, ws);
	int rv = evbuffer_add_printf(bufferevent_get_output(bev),
				     "HTTP/1.1 101 Switching Protocols\r\n"
				     "Upgrade: websocket\r\n"
				     "Connection: Upgrade\r\n"
				     "Sec-WebSocket-Accept: %s\r\n\r\n",
				     key);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	clear_timeouts(bev);
	if (rv < 0) {
		/* ours now, so it ends the way every session does */
		static const char oom[] = "out of memory";
		set_close(ws, LC_WS_INTERNAL, oom, sizeof(oom) - 1);
		finish(ws);
		return ws;
	}
	if (ws->alive)
		arm(ws->alive, ws->ping_every_ms);
	/* frames the client sent right behind its request are already in
	 * the input; read them on the next loop turn, not in here */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		event_active(ws->later, EV_TIMEOUT, 0);
	log_debug("ws.open", LF_S("peer", ws->peer));
	return ws;
}

int lc_ws_send(struct lc_ws *ws, enum lc_ws_opcode op, const void *data,
	       size_t len)
{
	if (ws->state != WS_OPEN || (op != LC_WS_TEXT && op != LC_WS_BINARY))
		return -1;
	return queue_frame(ws, (int)op, data, len, true);
}

int lc_ws_ping(struct lc_ws *ws)
{
	if (ws->state != WS_OPEN)
		return -1;
	return queue_frame(ws, OP_PING, "", 0, true);
}

void lc_ws_close(struct lc_ws *ws, int code, const char *reason)
{
	if (!code_ok(code))
		code = LC_WS_NORMAL;
	if (!reason)
		reason = "";
	size_t n = strlen(reason);
	if (n > MAX_REASON) { /* cut, but not inside a UTF-8 sequence */
		n = MAX_REASON;
		while (n && ((unsigned char)reason[n] & 0xC0) == 0x80)
			n--;
	}
	start_close(ws, code, reason, n);
}

size_t lc_ws_outbuf(const struct lc_ws *ws)
{
	return evbuffer_get_length(bufferevent_get_output(ws->bev));
}

const char *lc_ws_peer(const struct lc_ws *ws)
{
	return ws->peer;
}
