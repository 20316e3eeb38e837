#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H
/*
 * The gateway's shared state: one struct gw per process, made in main.c,
 * touched only from the loop thread (the argon2 workers see nothing of
 * it: passwd.c).
 *
 * Modules:
 *   http.c        evhttp server, request context, dispatch, replies,
 *                 metrics per route          (http.h)
 *   router.c      route patterns and matching (router.h, pure)
 *   errors.c      bus error code -> HTTP status (errors.h, pure)
 *   validate.c    body and query checks       (validate.h, pure)
 *   auth.c        bearer tokens on requests, roles, token replies
 *   token.c       JWT HS256 issue / verify    (token.h, pure)
 *   passwd.c      argon2id on worker threads  (passwd.h)
 *   policy.c      password policy, usernames  (policy.h, pure)
 *   users.c       account rows in PostgreSQL  (users.h)
 *   bootstrap.c   first admin: environment and --create-admin
 *   downstream.c  bus clients to the other services, error mapping
 *   health.c      supervisor probe, readiness, /api/v1/health, upkeep
 *   routes_*.c    the REST API, one file per area (routes.h)
 *   authcache.c   tokens checked lately (authcache.h, pure)
 *   events.c      the bus subscriber (events.h)
 *   routes_table.c the bots' routes from the supervisor
 *   botpool.c     keep-alive HTTP/1.1 client per bot (botpool.h)
 *   proxy.c       /api/strategy/{id}/..., forwarding rules (proxy.h)
 *   botcheck.c    one GET to every bot at once (botcheck.h)
 *   routes_gateway.c  gateway health, strategies status, routes reload
 *   frequi.c      /bots/{id}/api/v1/... for FreqUI
 *   msgws.c       the bots' message websockets relayed (msgws.h)
 *   wsclient.c    WebSocket client (wsclient.h)
 *   livepush.c    /ws (livepush.h)
 *   sessions.c    live sessions' logins checked again (sessions.h)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "libcommon/db.h"

struct lc_svc;
struct lc_metric;
struct lc_cfg_sys_security;
struct event;
struct gw_http;
struct gw_passwd;
struct gw_downstream;
struct gw_authcache;
struct gw_routes;
struct gw_events;
struct gw_push;
struct gw_msgws;
struct gw_lives;

#define GW_JWT_KEY_MIN 32 /* bytes, as the config check wants */

struct gw_metrics {
	struct lc_metric *requests;  /* requests{route,method,status} */
	struct lc_metric *latency;   /* request seconds{route} */
	struct lc_metric *logins;    /* logins{result} */
	struct lc_metric *lockouts;  /* lockouts{scope} */
	struct lc_metric *downstream; /* bus call errors{service,code} */
	struct lc_metric *proxied;    /* proxied requests{result} */
	struct lc_metric *pushed;     /* /ws messages{result} */
};

struct gw {
	struct lc_svc *svc;           /* borrowed: config, loop, db, pub */
	struct gw_http *http;         /* owned: the public HTTP API */
	struct gw_passwd *pw;         /* owned: argon2 workers */
	struct gw_downstream *down;   /* owned: bus clients */
	struct gw_authcache *auth;    /* owned: tokens checked lately */
	struct gw_routes *routes;     /* owned: the bots' routes */
	struct gw_events *events;     /* owned: bus subscriber */
	struct gw_push *push;         /* owned: /ws sessions */
	struct gw_msgws *msgws;       /* owned: FreqUI websockets being
					 set up */
	struct gw_lives *lives;       /* owned: the logins of live
					 WebSocket sessions */
	unsigned char *jwt_key;       /* owned copy (restart-only key) */
	size_t jwt_key_len;
	char *dummy_hash;             /* owned: verified for unknown users,
					 so their login takes as long */
	struct event *upkeep;         /* owned: purge + supervisor probe */
	struct event *drain;          /* owned: shutdown's in-flight poll */
	int drain_polls;              /* polls since the last reply */
	struct gw_metrics m;          /* families in svc->metrics */
	bool supervisor_ok;           /* last probe or call got a reply */
	bool probe_inflight;          /* a probe call is pending */
	int64_t upkeep_runs;          /* timer ticks so far */
};

/*
 * Start the gateway on a service kit that lc_svc_init() set up (s is
 * borrowed and must outlive g): metrics, argon2 workers, bus clients, the
 * public HTTP port, the supervisor probe, the shutdown hook. Returns 0,
 * or -1 with the reason in err (then call gw_release()).
 */
int gw_init(struct gw *g, struct lc_svc *s, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * After lc_svc_run(): end pending work (each request still waiting is
 * answered 503), then free everything. Frees the kit's database pool too
 * (its callbacks need g), so call it before lc_svc_release().
 */
void gw_release(struct gw *g);

/*
 * lc_db_query() on the service's pool, or -1 when there is none (the pool
 * is freed first at shutdown, so late continuations fail cleanly).
 */
int gw_db_query(struct gw *g, const char *sql, int nparams,
		const char *const *params, lc_db_result_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* system.security of the current config (reloadable keys). */
const struct lc_cfg_sys_security *gw_security(const struct gw *g);

#endif
