#ifndef INGEST_HTTPD_H
#define INGEST_HTTPD_H
/*
 * A small HTTP/1.1 server for the webhook port, on the daemon's
 * libevent loop.
 *
 * Why not evhttp: libevent 2.1's evhttp answers a body over its limit,
 * and any request it cannot parse, itself, with an HTML page, before
 * the application sees the request; the webhook contract is a JSON
 * {error, detail} for every refusal, and a 413 must come from the
 * Content-Length header without reading the body. evhttp also allocates
 * every header and the parsed URI per request, which at tens of
 * thousands of webhooks a second on one core matters. This server does
 * only what the webhook needs:
 *
 *  - request line and headers up to HTTPD_MAX_HEAD bytes (431 past it),
 *    CRLF line ends; Content-Length bodies only (chunked bodies get 411:
 *    FreqTrade, like every HTTP client posting a rendered template,
 *    sends a length);
 *  - a body over the current limit gets 413 as soon as the headers
 *    are in (Expect: 100-continue is honoured, so such a client never
 *    sends it); the connection is then closed after a short lingering
 *    read, so the client sees the answer rather than a reset;
 *  - keep-alive (HTTP/1.1 by default, 1.0 on request), one request at a
 *    time per connection: the next is not read before the answer to the
 *    previous one is written, so answers stay in order;
 *  - timeouts: HTTPD_IDLE_MS between requests, HTTPD_READ_MS while a
 *    request is arriving or an answer is being written;
 *  - at most HTTPD_MAX_CONNS connections (the listener pauses past it).
 *
 * The handler gets a complete request and answers it exactly once, now
 * or later (after a database commit), with httpd_reply(). If the client
 * went away meanwhile the answer is dropped; the request stays valid
 * until it is answered, even after httpd_free().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define HTTPD_MAX_HEAD (16u << 10)
#define HTTPD_MAX_CONNS 4096
#define HTTPD_IDLE_MS 60000
#define HTTPD_READ_MS 15000

struct httpd;

/* A complete request. Every pointer is borrowed from the server and
 * valid until the request is answered. */
struct httpd_req {
	const char *method;        /* "POST" */
	const char *path;          /* "/api/v1/...", not decoded */
	const char *query;         /* after '?', not decoded, or NULL */
	size_t query_len;
	const char *content_type;  /* header value, or NULL */
	const char *body;          /* NUL-terminated (not counted) */
	size_t body_len;
	int64_t received_us;       /* wall time the request was complete */
};

/* The request handler: answer r with httpd_reply, now or later. */
typedef void (*httpd_handler)(struct httpd_req *r, void *arg);

/* A request the server refused itself (413, 431, 400 ...): for
 * counting. code is the JSON error code. */
typedef void (*httpd_refused)(int status, const char *code, void *arg);

/*
 * Listen on addr:port (numeric address; NULL or "" = 127.0.0.1) on
 * base (borrowed). max_body: largest body accepted. Returns the server
 * or NULL with the reason in err.
 */
struct httpd *httpd_new(struct event_base *base, const char *addr, int port,
			size_t max_body, httpd_handler fn,
			httpd_refused refused, void *arg, char *err,
			size_t errlen);

/* Change the body limit (config reload); applies to new requests. */
void httpd_set_max_body(struct httpd *h, size_t max_body);

/* Stop accepting connections (draining); idle ones are closed, busy
 * ones after their answer. */
void httpd_stop_accepting(struct httpd *h);

/* Requests handed to the handler and not yet answered. */
unsigned httpd_pending(const struct httpd *h);

/* The port bound (for port 0). */
int httpd_port(const struct httpd *h);

/* Close every connection and the listener, free the server. Requests
 * still with the handler stay valid until answered. NULL: nothing. */
void httpd_free(struct httpd *h);

/*
 * Answer r: status, a JSON body[0..len) (copied; Content-Type
 * application/json), and extra_headers (NULL, or "Name: value\r\n"
 * lines). r is invalid afterwards.
 */
void httpd_reply(struct httpd_req *r, int status, const char *body,
		 size_t len, const char *extra_headers);

/* Answer r with {"error":code,"detail":detail}. */
void httpd_reply_error(struct httpd_req *r, int status, const char *code,
		       const char *detail);

#endif
