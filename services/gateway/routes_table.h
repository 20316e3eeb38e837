#ifndef GW_ROUTES_TABLE_H
#define GW_ROUTES_TABLE_H
/*
 * The bots' routes, as ft-supervisor publishes them (proto/README.md,
 * "Delivery and resynchronisation"):
 *  - a full resync (supervisor.routes.list) at start, every
 *    GW_ROUTES_RESYNC_S, on gateway.routes.reload / POST
 *    /api/gateway/routes/reload, on a new supervisor boot_id and on a
 *    gap in route.update's seq;
 *  - route.update events in between: "remove" withdraws the route at
 *    once; "add" fetches the bot's credentials (supervisor.routes.get)
 *    and routes it when they arrive, unless a later event or a resync
 *    overtook the fetch.
 * Until the first resync succeeded no bot is routed (404); after that the
 * table stays as it was while the supervisor is unreachable.
 *
 * Each route owns a pool of keep-alive connections to its bot
 * (botpool.h); a withdrawn route's pool is retired (requests in flight
 * finish, nothing new is sent). The credentials never leave the gateway:
 * they go into an Authorization header prepared once per route.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct gw;
struct gw_pool;

#define GW_ROUTES_RESYNC_S 60
#define GW_BOT_NAME_MAX 64
#define GW_BOT_CRED_MAX 128

struct gw_bot {
	int64_t id;                      /* strategy id */
	char name[GW_BOT_NAME_MAX + 1];
	char host[254];
	int port;
	char ready_at[40];               /* RFC 3339 */
	char user[GW_BOT_CRED_MAX + 1];  /* secret */
	char pass[GW_BOT_CRED_MAX + 1];  /* secret */
	char *auth;                      /* owned: "Authorization: Basic
					    …\r\n" */
	struct gw_pool *pool;            /* owned */
	char *ws_token;                  /* owned: the bot's own access JWT
					    for its message websocket */
	int64_t ws_token_ms;             /* when it was fetched (mono) */
	bool kept;                       /* resync's mark */
};

struct gw_routes;

/* Outcome of a resync for whoever asked: counts and ids (borrowed for the
 * call), or ok false with the bus error's code and message. */
struct gw_resync_result {
	bool ok;
	const char *code;
	const char *message;
	size_t routes_loaded;
	const int64_t *added;
	size_t nadded;
	const int64_t *removed;
	size_t nremoved;
	int64_t seq;
};

typedef void (*gw_resync_cb)(const struct gw_resync_result *res,
			     void *arg);

/* Build the table, subscribe to route.update (gw->events), register the
 * gateway.routes.* bus methods, start the first resync and the periodic
 * one. 0, or -1 with err. */
int gw_routes_start(struct gw *g, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Free the table (pools are freed: requests in flight end cancelled).
 * NULL does nothing. */
void gw_routes_free(struct gw_routes *t);

/* The route of strategy id, or NULL (borrowed until the loop runs
 * again: an event may withdraw it). */
struct gw_bot *gw_routes_find(struct gw_routes *t, int64_t id);

/* Routes loaded, and the i-th one in id order (i < gw_routes_count). */
size_t gw_routes_count(const struct gw_routes *t);
struct gw_bot *gw_routes_at(struct gw_routes *t, size_t i);

/* Has a resync ever succeeded? */
bool gw_routes_loaded(const struct gw_routes *t);

/* Resync now; cb (may be NULL) runs once when it ended (a resync already
 * running counts, followed by another one). */
void gw_routes_resync(struct gw_routes *t, gw_resync_cb cb, void *arg);

/* gateway.routes.list's result (no credentials): a new object. */
cJSON *gw_routes_list_json(const struct gw_routes *t);

/* gateway.routes.reload's result for res: a new object. */
cJSON *gw_routes_reload_json(const struct gw_resync_result *res);

#endif
