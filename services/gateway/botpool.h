#ifndef GW_BOTPOOL_H
#define GW_BOTPOOL_H
/*
 * HTTP/1.1 to the bots: one pool of keep-alive connections per bot, on
 * raw bufferevents (a small client written for this path: measured
 * faster than evhttp's client, see bench/gateway/README.md), never
 * blocking the loop.
 *
 * A request takes an idle connection (the newest), else opens one while
 * the pool has fewer than GW_POOL_MAX_CONNS, else waits for one, all
 * within its own deadline. The response is read whole (status, headers,
 * a body framed by Content-Length, chunked coding or the end of the
 * connection) up to a size limit. A connection goes back to the pool
 * when the response was complete and the bot did not ask to close; an
 * idle one is closed after GW_POOL_IDLE_MS (below uvicorn's 5 s
 * keep-alive, so the bot seldom closes first). If a reused connection
 * fails before a single byte of the response, an idempotent request
 * (GET, HEAD, PUT, DELETE, OPTIONS) is sent once more on a new one: that
 * is the race of a bot closing an idle connection just as it is used.
 *
 * Single-threaded: everything on the loop given to gw_pool_new().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct gw_pool;
struct gw_upreq;

#define GW_POOL_MAX_CONNS 128        /* per bot */
#define GW_POOL_IDLE_MS 4000
#define GW_POOL_MAX_HEAD (64 * 1024)  /* status line + headers */
#define GW_POOL_MAX_HEADERS 100

enum gw_up_error {
	GW_UP_OK,         /* a complete response (any status) */
	GW_UP_REFUSED,    /* could not connect (nobody listens) */
	GW_UP_TIMEOUT,    /* no complete response before the deadline */
	GW_UP_BROKEN,     /* connection lost mid-way, or not HTTP */
	GW_UP_TOO_BIG,    /* body over the request's limit */
	GW_UP_CANCELLED,  /* the pool was freed */
};

struct gw_up_header {
	const char *name;   /* NUL-terminated, as received */
	const char *value;  /* trimmed */
};

/* A response; everything is borrowed for the callback only, except that
 * the callback may move the body's bytes out (evbuffer_add_buffer). */
struct gw_up_res {
	enum gw_up_error error;
	int status;                        /* 0 unless GW_UP_OK */
	const char *reason;                /* status text ("" if none) */
	const struct gw_up_header *headers;
	size_t nheaders;
	struct evbuffer *body;             /* never NULL */
	int64_t elapsed_ms;
};

typedef void (*gw_up_cb)(const struct gw_up_res *res, void *arg);

/*
 * A pool for the bot at host:port (host numeric, or a name resolved
 * without blocking). Returns NULL on ENOMEM. base is borrowed.
 */
struct gw_pool *gw_pool_new(struct event_base *base, const char *host,
			    int port);

/*
 * Free the pool now: idle connections close, and every request still
 * waiting or in flight ends with GW_UP_CANCELLED (its callback runs from
 * inside this call). NULL does nothing.
 */
void gw_pool_free(struct gw_pool *p);

/*
 * Stop using the pool (its bot's route was withdrawn): idle connections
 * close now, requests in flight or waiting finish normally, and the pool
 * frees itself after the last one. p must not be used again.
 */
void gw_pool_retire(struct gw_pool *p);

/*
 * Send "METHOD target HTTP/1.1" with a Host header, the caller's header
 * lines (headers: "Name: value\r\n"…, borrowed, may be NULL) and, when
 * body is not NULL or the method is POST/PUT/PATCH, Content-Length and
 * body (copied). cb(res, arg) runs exactly once, later, unless the
 * request is cancelled; timeout_ms bounds the whole exchange; a body
 * over max_body bytes is GW_UP_TOO_BIG. Returns the request handle
 * (valid until the callback starts or gw_upreq_cancel), or NULL on
 * ENOMEM (cb never runs).
 */
struct gw_upreq *gw_pool_request(struct gw_pool *p, const char *method,
				 const char *target, const char *headers,
				 const void *body, size_t body_len,
				 int64_t timeout_ms, size_t max_body,
				 gw_up_cb cb, void *arg);

/* Forget a request: its callback never runs; its connection is closed
 * if it was in use. */
void gw_upreq_cancel(struct gw_upreq *q);

/* The header named name (case-insensitive) of res, or NULL. */
const char *gw_up_header(const struct gw_up_res *res, const char *name);

/* Connections open (idle + busy) and idle, for /metrics and tests. */
unsigned gw_pool_conns(const struct gw_pool *p);
unsigned gw_pool_idle(const struct gw_pool *p);

#endif
