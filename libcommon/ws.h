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
 * allowed to grow memory without bound.
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

struct lc_ws_cbs {
	/* A complete message; data is borrowed for the call. May be NULL. */
	void (*on_message)(struct lc_ws *ws, enum lc_ws_opcode op,
			   const char *data, size_t len, void *arg);
	/* The connection is gone (closed by either side or failed); called
	 * exactly once; ws is freed right after it returns. May be NULL. */
	void (*on_close)(struct lc_ws *ws, int code, const char *reason,
			 void *arg);
};

struct lc_ws_limits {
	size_t max_message;  /* largest message accepted; 0: 1 MiB; bigger
				closes with 1009 */
	size_t max_outbuf;   /* queued output before a slow client is
				dropped; 0: 4 MiB */
};

/* Does this request ask for a WebSocket upgrade (GET, Upgrade:
 * websocket, Connection: upgrade, Sec-WebSocket-Key, version 13)? */
bool lc_ws_is_upgrade(struct evhttp_request *req);

/*
 * Inside an evhttp handler: complete the handshake and take the
 * connection over. On success returns the new connection (owned by the
 * library until on_close) and evhttp no longer owns req. On a bad
 * handshake replies 400 itself and returns NULL. limits may be NULL.
 */
struct lc_ws *lc_ws_accept(struct evhttp_request *req,
			   const struct lc_ws_cbs *cbs, void *arg,
			   const struct lc_ws_limits *limits);

/* Queue a message. 0, or -1 if the connection is closing or the output
 * limit was passed (the connection is then being closed with 1008). */
int lc_ws_send(struct lc_ws *ws, enum lc_ws_opcode op, const void *data,
	       size_t len) __attribute__((warn_unused_result));

/* Send a ping (keep-alive); pongs are absorbed. */
int lc_ws_ping(struct lc_ws *ws) __attribute__((warn_unused_result));

/* Start a clean close: send a close frame with code and reason (may be
 * NULL), flush, disconnect. on_close runs once it is done. Safe to call
 * more than once and from inside a callback. */
void lc_ws_close(struct lc_ws *ws, int code, const char *reason);

/* Bytes queued for output. */
size_t lc_ws_outbuf(const struct lc_ws *ws);

/* The peer's address ("127.0.0.1:54321"), for logs. */
const char *lc_ws_peer(const struct lc_ws *ws);

#endif
