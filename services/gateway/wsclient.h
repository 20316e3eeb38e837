#ifndef GW_WSCLIENT_H
#define GW_WSCLIENT_H
/*
 * A small WebSocket client (RFC 6455) on a bufferevent: the gateway's
 * side of a bot's message websocket (frequi.c relays FreqUI's to it).
 * libcommon/ws.h is the server side only.
 *
 * Connect, handshake (101 and Sec-WebSocket-Accept checked), then whole
 * messages: fragments are reassembled, pings answered, our frames masked
 * with fresh random keys. Input is bounded (a message over max_message
 * closes with 1009), output too (over max_outbuf queued: closed, 1008).
 *
 * on_close runs exactly once, on a later loop turn than any gw_wsc_*
 * call, and the client is freed when it returns. Single-threaded.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct gw_wsc;

struct gw_wsc_cbs {
	/* The handshake succeeded. */
	void (*on_open)(struct gw_wsc *c, void *arg);
	/* A whole text (1) or binary (2) message, borrowed for the call. */
	void (*on_message)(struct gw_wsc *c, int opcode, const char *data,
			   size_t len, void *arg);
	/* The end: http_status is the handshake's answer when it was not
	 * 101 (0 otherwise); code the close code (1006 for a lost or
	 * refused connection). */
	void (*on_close)(struct gw_wsc *c, int http_status, int code,
			 const char *reason, void *arg);
};

struct gw_wsc_opts {
	const char *host;      /* numeric address */
	int port;
	const char *target;    /* "/api/v1/message/ws?token=…" */
	int64_t timeout_ms;    /* connect + handshake */
	size_t max_message;    /* 0: 16 MiB */
	size_t max_outbuf;     /* 0: 1 MiB */
};

/* Start connecting; NULL on a bad address or ENOMEM (no callback). */
struct gw_wsc *gw_wsc_connect(struct event_base *base,
			      const struct gw_wsc_opts *o,
			      const struct gw_wsc_cbs *cbs, void *arg);

/* Send a text (1) or binary (2) message; -1 if not open or the output
 * limit was passed (then it closes). */
int gw_wsc_send(struct gw_wsc *c, int opcode, const void *data,
		size_t len) __attribute__((warn_unused_result));

/* Send a close frame (code, reason) and end: the connection is closed
 * once it is written (2 s at most); on_close does NOT run. c must not be
 * used again. */
void gw_wsc_close(struct gw_wsc *c, int code, const char *reason);

/* Free every client still alive (those lingering after gw_wsc_close
 * included), without callbacks: at exit, after the loop stopped. */
void gw_wsc_free_all(void);

#endif
