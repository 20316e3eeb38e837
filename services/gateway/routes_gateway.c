/*
 * The gateway's own views of the bots:
 *   GET  /api/gateway/health          {status, health_score,
 *        (and gateway.health.get)      healthy_strategies,
 *                                      total_strategies, gateway_port,
 *                                      routes_loaded}: every routed bot's
 *                                      /ping, healthy iff score >=
 *                                      system.gateway.health_threshold
 *   POST /api/gateway/routes/reload   full resync from the supervisor
 *   GET  /api/strategies/status       every bot's /status at once:
 *                                      healthy / error / unreachable
 *   GET  /api/v1/strategies/gateway/status
 *                                      the health plus the monitor's
 *                                      strategy status list
 */
#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/gateway/botcheck.h"
#include "services/gateway/downstream.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/routes_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING_TIMEOUT_MS 5000 /* health: a bot slower than this is down */

static int64_t proxy_timeout_ms(const struct gw *g)
{
	return g->svc->cfg->system.gateway.proxy_timeout * 1000;
}

static int64_t ping_timeout_ms(const struct gw *g)
{
	int64_t t = proxy_timeout_ms(g);
	return t < PING_TIMEOUT_MS ? t : PING_TIMEOUT_MS;
}

/* ---- health ---- */

static cJSON *health_json(struct gw *g, const struct gw_check_out *outs,
			  size_t n)
{
	size_t healthy = 0;
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; i < n; i++)
		healthy += outs[i].state == GW_CHECK_HEALTHY;
	double score = n ? round(1000.0 * (double)healthy / (double)n) / 10
			 : 100;
	bool ok = score >= (double)g->svc->cfg->system.gateway
				   .health_threshold;
	cJSON_AddStringToObject(o, "status", ok ? "healthy" : "degraded");
	cJSON_AddNumberToObject(o, "health_score", score);
	cJSON_AddNumberToObject(o, "healthy_strategies", (double)healthy);
	cJSON_AddNumberToObject(o, "total_strategies", (double)n);
	cJSON_AddNumberToObject(o, "gateway_port",
				(double)lc_svc_self(g->svc)->http_port);
	cJSON_AddNumberToObject(o, "routes_loaded",
				(double)gw_routes_count(g->routes));
	return o;
}

static void on_health(struct gw_check_out *outs, size_t n, void *arg)
{
	struct gw_req *r = arg;
	gw_reply_json(r, 200, health_json(r->g, outs, n));
}

static void route_health(struct gw_req *r)
{
	if (gw_botcheck(r->g, "/api/v1/ping", ping_timeout_ms(r->g),
			on_health, r) != 0)
		gw_reply_internal(r, "out of memory");
}

struct rpc_health {
	struct gw *g;
	struct lc_bus_req *req;
};

static void on_rpc_health(struct gw_check_out *outs, size_t n, void *arg)
{
	struct rpc_health h = *(struct rpc_health *)arg;

	free(arg);
	lc_bus_reply_ok(h.req, health_json(h.g, outs, n));
}

static void rpc_health(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct gw *g = arg;
	struct rpc_health *h = malloc(sizeof(*h));

	(void)params;
	if (h)
		*h = (struct rpc_health){ g, req };
	if (!h || gw_botcheck(g, "/api/v1/ping", ping_timeout_ms(g),
			      on_rpc_health, h) != 0) {
		free(h);
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
	}
}

int gw_gateway_rpc_start(struct gw *g)
{
	return lc_bus_server_handle(g->svc->rpc,
				    BTCW_METHOD_GATEWAY_HEALTH_GET,
				    rpc_health, g);
}

/* ---- routes reload ---- */

static void on_reloaded(const struct gw_resync_result *res, void *arg)
{
	struct gw_req *r = arg;

	if (res->ok)
		gw_reply_json(r, 200, gw_routes_reload_json(res));
	else
		gw_reply_error(r, 503, "unavailable",
			       "cannot load the routes from ft-supervisor "
			       "(%s: %s)", res->code, res->message);
}

static void route_reload(struct gw_req *r)
{
	gw_routes_resync(r->g->routes, on_reloaded, r);
}

/* ---- every bot's /status ---- */

static cJSON *status_entry(const struct gw_check_out *o)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddNumberToObject(e, "strategy_id", (double)o->id);
	cJSON_AddStringToObject(e, "name", o->name);
	cJSON_AddNumberToObject(e, "port", o->port);
	cJSON_AddStringToObject(e, "state", gw_check_state_name(o->state));
	if (o->http_status)
		cJSON_AddNumberToObject(e, "http_status", o->http_status);
	else
		cJSON_AddNullToObject(e, "http_status");
	cJSON_AddNumberToObject(e, "response_ms", (double)o->ms);
	if (o->state == GW_CHECK_HEALTHY && cJSON_IsArray(o->body))
		cJSON_AddNumberToObject(e, "open_trades",
					cJSON_GetArraySize(o->body));
	else
		cJSON_AddNullToObject(e, "open_trades");
	if (o->body)
		cJSON_AddItemToObject(e, "status",
				      cJSON_Duplicate(o->body, true));
	else
		cJSON_AddNullToObject(e, "status");
	if (o->state == GW_CHECK_HEALTHY)
		cJSON_AddNullToObject(e, "error");
	else
		cJSON_AddStringToObject(e, "error", o->error);
	return e;
}

static void on_statuses(struct gw_check_out *outs, size_t n, void *arg)
{
	struct gw_req *r = arg;
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	double count[3] = { 0, 0, 0 };
	char ts[LC_CLOCK_RFC3339_LEN];

	for (size_t i = 0; i < n; i++) {
		count[outs[i].state]++;
		cJSON_AddItemToArray(arr, status_entry(&outs[i]));
	}
	cJSON_AddItemToObject(o, "strategies", arr);
	cJSON_AddNumberToObject(o, "total", (double)n);
	cJSON_AddNumberToObject(o, "healthy", count[GW_CHECK_HEALTHY]);
	cJSON_AddNumberToObject(o, "error", count[GW_CHECK_ERROR]);
	cJSON_AddNumberToObject(o, "unreachable",
				count[GW_CHECK_UNREACHABLE]);
	cJSON_AddNumberToObject(o, "timeout_seconds",
				(double)proxy_timeout_ms(r->g) / 1000);
	cJSON_AddStringToObject(o, "checked_at",
				lc_clock_rfc3339(ts, lc_clock_wall_ms()));
	gw_reply_json(r, 200, o);
}

static void route_statuses(struct gw_req *r)
{
	if (gw_botcheck(r->g, "/api/v1/status", proxy_timeout_ms(r->g),
			on_statuses, r) != 0)
		gw_reply_internal(r, "out of memory");
}

/* ---- /api/v1/strategies/gateway/status ---- */

struct combined {
	cJSON *health; /* owned */
};

static void combined_free(void *p)
{
	struct combined *c = p;
	cJSON_Delete(c->health);
	free(c);
}

static void on_monitor(struct gw_req *r, const struct lc_bus_result *res)
{
	struct combined *c = r->state;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "gateway", c->health);
	c->health = NULL;
	if (res->ok) {
		cJSON_AddItemToObject(o, "strategies",
				      cJSON_Duplicate(res->result, true));
		cJSON_AddNullToObject(o, "health_error");
	} else {
		cJSON_AddNullToObject(o, "strategies");
		cJSON_AddStringToObject(o, "health_error", res->message);
	}
	gw_reply_json(r, 200, o);
}

static void on_combined_health(struct gw_check_out *outs, size_t n,
			       void *arg)
{
	struct gw_req *r = arg;
	struct combined *c = calloc(1, sizeof(*c));

	if (!c) {
		gw_reply_internal(r, "out of memory");
		return;
	}
	c->health = health_json(r->g, outs, n);
	r->state = c;
	r->state_free = combined_free;
	gw_call(r, LC_CFG_SVC_MONITOR,
		BTCW_METHOD_MONITOR_STRATEGY_STATUS_LIST, NULL,
		GW_CALL_DEFAULT, on_monitor);
}

static void route_combined(struct gw_req *r)
{
	if (gw_botcheck(r->g, "/api/v1/ping", ping_timeout_ms(r->g),
			on_combined_health, r) != 0)
		gw_reply_internal(r, "out of memory");
}

const struct gw_route gw_routes_gateway[] = {
	{ "GET", "/api/gateway/health", GW_ROLES_ANY, 0, route_health },
	{ "POST", "/api/gateway/routes/reload", GW_ROLES_WRITE, 0,
	  route_reload },
	{ "GET", "/api/strategies/status", GW_ROLES_ANY, 0, route_statuses },
	{ "GET", "/api/v1/strategies/gateway/status", GW_ROLES_ANY, 0,
	  route_combined },
	{ 0 },
};
