#ifndef LC_WS_H
#define LC_WS_H
/*
 * WebSocket (RFC 6455), server side, on the port of an existing evhttp
 * server: an evhttp request handler hands an upgrade request to
 * lc_ws_accept(), which answers the handshake (101) and takes the
 * connection over from evhttp. libevent 2.1 has no WebSocket support of
 * its own. Used by ftsim's /api/v1/message/ws and the gateway's /ws.
 *
 * Messages are whole (fragments are reassembled), text or binary; pings
 * are answered with pongs automatically; a close frame is answered and
 * the connection closed. Output is bounded: a client too slow to read
 * (more than max_outbuf bytes queued) is disconnected with 1008, never
 * allowed to grow memory without bound. Protocol errors close with 1002
 * (e.g. an unmasked client frame), 1007 (text that is not UTF-8) or 1009
 * (message over max_message, refused from its frame header).
 *
 * The connection stays evhttp's (see the comment at the top of ws.c for
 * how it is taken over): the evhttp server's timeouts no longer apply to
 * it (lc_ws_limits' keep-alive finds dead peers instead), and freeing
 * the server with evhttp_free() ends every open session (on_close runs
 * from inside evhttp_free, with 1001 "server shutting down" unless the
 * session was already ending). Do not free the evhttp server from
 * inside an lc_ws callback.
 *
 * The process must ignore SIGPIPE: writes go through a bufferevent.
 * Single-threaded: call everything from the loop that runs the evhttp.
 */
#include <stdbool.h>
#include <stddef.h>

struct evhttp_request;
struct lc_ws;

enum lc_ws_opcode {
	LC_WS_TEXT = 1,
	LC_WS_BINARY = 2,
};

/* Close codes used by our services. */
#define LC_WS_NORMAL 1000
#define LC_WS_GOING_AWAY 1001
#define LC_WS_PROTOCOL_ERROR 1002
#define LC_WS_POLICY 1008     /* auth failed, slow client */
#define LC_WS_TOO_BIG 1009
#define LC_WS_INTERNAL 1011   /* out of memory, keep-alive timeout */

struct lc_ws_cbs {
	/* A complete message; data is borrowed for the call and
	 * NUL-terminated (the NUL is not counted in len); text is valid
	 * UTF-8. May be NULL. */
	void (*on_message)(struct lc_ws *ws, enum lc_ws_opcode op,
			   const char *data, size_t len, void *arg);
	/* The connection is gone (closed by either side or failed); called
	 * exactly once, on a later loop turn (never from inside an lc_ws_*
	 * call); ws is freed right after it returns, and until then it stays
	 * valid (lc_ws_send just fails once the session is ending). code and
	 * reason: the peer's close frame if it started the close (1005 when
	 * it had no code), ours if we did (lc_ws_close, 1002, 1007, 1008,
	 * 1009), 1006 "connection lost" when the TCP connection ended
	 * without a close frame. reason may be "". May be NULL. */
	void (*on_close)(struct lc_ws *ws, int code, const char *reason,
			 void *arg);
};

struct lc_ws_limits {
	size_t max_message;  /* largest message accepted; 0: 1 MiB; bigger
				closes with 1009 */
	size_t max_outbuf;   /* queued output before a slow client is
				dropped; 0: 4 MiB. Must exceed the largest
				message sent. */
	/* Keep-alive (0: off). Every ping_interval_ms a ping goes out; a
	 * peer that then sends nothing at all (no pong, no frame) for
	 * pong_timeout_ms is taken for dead: the session closes with 1011
	 * "keepalive ping timeout" (over within 3 s more even if the peer
	 * never reads). pong_timeout_ms 0 with pings on: the whole
	 * interval; longer than the interval: the next ping waits for
	 * the end of the wait. */
	unsigned ping_interval_ms;
	unsigned pong_timeout_ms;
};

/* Does this request ask for a WebSocket upgrade (GET, Upgrade:
 * websocket, Connection: upgrade, Sec-WebSocket-Key, version 13)? */
bool lc_ws_is_upgrade(struct evhttp_request *req);

/*
 * Inside an evhttp handler: complete the handshake and take the
 * connection over. On success returns the new connection (owned by the
 * library until on_close); the caller must not reply to req nor use it
 * again (it is freed with the connection when the session ends). On a
 * bad handshake replies 400 itself (JSON {error, detail}, plus
 * "Sec-WebSocket-Version: 13" for a wrong version; evhttp keeps serving
 * the connection) and returns NULL; on a failure to allocate, 500.
 * cbs and limits are copied; limits may be NULL; arg is passed to the
 * callbacks. No callback runs from inside this call.
 */
struct lc_ws *lc_ws_accept(struct evhttp_request *req,
			   const struct lc_ws_cbs *cbs, void *arg,
			   const struct lc_ws_limits *limits);

/* Queue a message (data is copied). 0, or -1 if op is not text or
 * binary, the connection is closing, or the output limit was passed (the
 * connection is then dropped at once: on_close gets 1008 "slow
 * client"). */
int lc_ws_send(struct lc_ws *ws, enum lc_ws_opcode op, const void *data,
	       size_t len) __attribute__((warn_unused_result));

/* Send a ping now (limits' keep-alive pings are sent by the library
 * itself); pongs are absorbed. */
int lc_ws_ping(struct lc_ws *ws) __attribute__((warn_unused_result));

/* Start a clean close: send a close frame with code (one a peer may
 * send, else 1000) and reason (may be NULL; cut to 123 bytes), flush,
 * shut our side down, and disconnect when the peer closes its side (3 s
 * at most). Input is ignored from now on. on_close runs once it is done.
 * Safe to call more than once and from inside a callback. */
void lc_ws_close(struct lc_ws *ws, int code, const char *reason);

/* Bytes queued for output. */
size_t lc_ws_outbuf(const struct lc_ws *ws);

/* The peer's address ("127.0.0.1:54321"), for logs. */
const char *lc_ws_peer(const struct lc_ws *ws);

#endif
