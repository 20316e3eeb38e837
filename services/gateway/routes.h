#ifndef GW_ROUTES_H
#define GW_ROUTES_H
/*
 * The REST API's route tables, one per file (routes_*.c, login.c,
 * health.c), listed in gw_route_tables (http.c). Each route names the
 * roles that may call it; proto/openapi.yaml documents every one
 * (tests/integration/test_gateway_openapi.py keeps the two equal via
 * `gateway --print-routes`).
 */
#include "services/gateway/router.h"

extern const struct gw_route gw_routes_auth[];
extern const struct gw_route gw_routes_users[];
extern const struct gw_route gw_routes_strategies[];
extern const struct gw_route gw_routes_signals[];
extern const struct gw_route gw_routes_system[];
extern const struct gw_route gw_routes_notifications[];
extern const struct gw_route gw_routes_backups[];
extern const struct gw_route gw_routes_health[];
extern const struct gw_route gw_routes_proxy[];   /* proxy.c */
extern const struct gw_route gw_routes_gateway[]; /* routes_gateway.c */
extern const struct gw_route gw_routes_frequi[];  /* frequi.c */
extern const struct gw_route gw_routes_push[];    /* livepush.c */

struct gw;

/* Register gateway.health.get on the bus (routes_gateway.c); 0 or -1. */
int gw_gateway_rpc_start(struct gw *g);

/* POST /api/v1/auth/login (login.c). */
void gw_route_login(struct gw_req *r);

#include <stdint.h>

/* A login succeeded: answer r (the account as stored, its role's name
 * and token_version). */
typedef void (*gw_login_ok)(struct gw_req *r, int64_t uid,
			    const char *username, const char *role,
			    int64_t ver);

/*
 * The login flow of POST /api/v1/auth/login for username (borrowed) and
 * password (taken: a heap string, wiped and freed at the end): address
 * lockout (429), argon2 check on a worker, lockout counting, the same 401
 * for every failure; on success ok (NULL: the API token reply). Used by
 * FreqUI's /bots/{id}/api/v1/token/login too (frequi.c).
 */
void gw_login(struct gw_req *r, const char *username, char *password,
	      gw_login_ok ok);

#endif
