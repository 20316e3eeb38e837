#ifndef GW_HTTP_H
#define GW_HTTP_H
/*
 * The public HTTP API on services.yml's gateway http_port (libevent
 * evhttp on the daemon's loop).
 *
 * Every request gets a struct gw_req and ends in exactly one reply
 * through gw_reply_*(), which also frees the gw_req: a handler either
 * replies at once or starts one asynchronous step (a bus call, a query,
 * an argon2 job) whose callback continues or replies. So one request has
 * at most one operation pending, and a gw_req is never freed while one
 * is.
 *
 * Dispatch: route (404, 405 with Allow) -> body size (413) -> bearer token
 * and role (401, 403; auth.c) unless the route is public -> body type and
 * JSON (415, 400) -> the route's handler. Every error is
 * {"error": code, "detail": sentence}. Bodies over GW_MAX_BODY get a JSON
 * 413; past GW_MAX_BODY_TRANSPORT libevent 2.1 answers 413 itself (with
 * an HTML body: 2.1 has no hook for it) without reading the body.
 *
 * The strategy proxy and FreqUI's paths answer with the bot's own reply
 * (gw_reply_raw); the WebSockets (/ws, a bot's message websocket) take
 * the connection over (lc_ws_accept) and end their gw_req with
 * gw_req_detach().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "services/gateway/router.h"
#include "services/gateway/token.h"

struct gw;
struct evhttp_request;
struct evbuffer;
struct gw_field;

#define GW_MAX_BODY (64 * 1024)              /* JSON 413 past this */
#define GW_MAX_BODY_TRANSPORT (1024 * 1024)  /* libevent's own 413 */
#define GW_MAX_HEADERS (16 * 1024)
#define GW_HTTP_TIMEOUT_S 60                  /* idle client */

/* Who called, once authenticated (auth.c). */
struct gw_user {
	int64_t id;
	char username[GW_USERNAME_MAX + 1];
	unsigned role;              /* one enum gw_role bit */
	char jti[GW_JTI_LEN + 1];   /* the token's id */
	int64_t ver;                /* the token's ver claim */
	int64_t exp;                /* the token's expiry, epoch s */
	int64_t bot;                /* a bot token's strategy id, or 0 */
	enum gw_token_kind kind;    /* which kind of token it was */
};

struct gw_req {
	struct gw *g;                 /* borrowed */
	struct evhttp_request *ev;    /* borrowed until the reply */
	const char *method;           /* "GET", ... (static) */
	char *path;                   /* owned copy of the path */
	char *query;                  /* owned copy of the query or NULL */
	struct gw_match match;        /* route and path parameters */
	cJSON *body;                  /* owned: the JSON body, or NULL */
	struct gw_user user;          /* set by auth before the handler */
	char client_addr[64];         /* see gw_client_addr() */
	int64_t started_ms;           /* monotonic */
	void *state;                  /* a handler's own, freed with
					 state_free at the reply */
	void (*state_free)(void *);
	void (*auth_done)(struct gw_req *r); /* auth.c: runs once the
						token passed */
};

/* The list of route tables the server dispatches on (NULL-ended). */
extern const struct gw_route *const gw_route_tables[];

struct gw_http;

/*
 * Listen on host:port (numeric host) and serve on g's loop. Returns the
 * server or NULL with the reason in err.
 */
struct gw_http *gw_http_new(struct gw *g, const char *host, int port,
			    char *err, size_t errlen);

/* Stop accepting connections; requests in flight still get replies. */
void gw_http_stop(struct gw_http *h);

/* Requests accepted and not yet answered. */
unsigned gw_http_inflight(const struct gw_http *h);

/* Replies given to libevent and not yet written out (a client that went
 * away leaves its reply counted here: shutdown waits for these only a
 * little). */
unsigned gw_http_flushing(const struct gw_http *h);

/* Close every connection and free the server. NULL does nothing. */
void gw_http_free(struct gw_http *h);

/* Authentication succeeded (auth.c): read the body, run the handler. */
void gw_http_continue(struct gw_req *r);

/* ---- replies (each takes ownership of r and frees it) ---- */

/* Reply status with body (owned; NULL: no body). */
void gw_reply_json(struct gw_req *r, int status, cJSON *body);

/* Reply {"error": code, "detail": printf(fmt, ...)} with status. */
void gw_reply_error(struct gw_req *r, int status, const char *code,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Reply status with reason (NULL or "": the standard one) and body
 * (borrowed; its bytes are moved out), with the output headers the
 * caller set. For answers passed through from a bot (proxy.c). */
void gw_reply_raw(struct gw_req *r, int status, const char *reason,
		  struct evbuffer *body);

/* The connection was taken over (a WebSocket, lc_ws_accept): count the
 * request as answered with status and free r, without touching r->ev. */
void gw_req_detach(struct gw_req *r, int status);

/* 500 {"error":"internal"} after logging what failed. */
void gw_reply_internal(struct gw_req *r, const char *what);

/* 503 {"error":"unavailable"}: a dependency (the database) is down. */
void gw_reply_unavailable(struct gw_req *r, const char *what);

/* ---- reading the request ---- */

/* The value of path parameter name, copied into out (outlen bytes).
 * False if there is no such parameter or it does not fit. */
bool gw_param(const struct gw_req *r, const char *name, char *out,
	      size_t outlen) __attribute__((warn_unused_result));

/* Path parameter name as an id (1..2^31-1). On false the request has
 * been answered 422 (and freed). */
bool gw_param_id(struct gw_req *r, const char *name, int64_t *out)
	__attribute__((warn_unused_result));

/* The same for a bigint id (1..2^53-1). */
bool gw_param_bigid(struct gw_req *r, const char *name, int64_t *out)
	__attribute__((warn_unused_result));

/* The query string parsed with spec (validate.h): a new object (caller
 * owns it), or NULL after answering 422 (r freed). */
cJSON *gw_query(struct gw_req *r, const struct gw_field *spec);

/* Validate r->body against spec; false after answering 422 (r freed).
 * A missing body counts as {}. */
bool gw_body_valid(struct gw_req *r, const struct gw_field *spec)
	__attribute__((warn_unused_result));

/* A request header (borrowed from the request), or NULL. */
const char *gw_header(const struct gw_req *r, const char *name);

/* Milliseconds since the request arrived. */
int64_t gw_req_elapsed_ms(const struct gw_req *r);

#endif
