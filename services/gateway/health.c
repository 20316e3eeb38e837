/* Supervisor probe, readiness, GET /api/v1/health, periodic upkeep. */
#include "services/gateway/health.h"

#include "libcommon/admin.h"
#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/gateway/downstream.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/users.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

static bool supervisor_check(void *arg, char *detail, size_t n)
{
	const struct gw *g = arg;

	if (g->supervisor_ok)
		return true;
	snprintf(detail, n, "ft-supervisor does not answer on the bus");
	return false;
}

static void on_probe(const struct lc_bus_result *res, void *arg)
{
	struct gw *g = arg;
	bool ok = res->ok || (strcmp(res->code, "timeout") != 0 &&
			      strcmp(res->code, "unavailable") != 0 &&
			      strcmp(res->code, "cancelled") != 0);

	g->probe_inflight = false;
	if (ok != g->supervisor_ok)
		log_info(ok ? "supervisor.reachable"
			    : "supervisor.unreachable",
			 LF_S("detail", res->ok ? "ok" : res->message));
	g->supervisor_ok = ok;
}

static void probe(struct gw *g)
{
	struct lc_bus_client *c =
		gw_downstream_client(g->down, LC_CFG_SVC_SUPERVISOR);

	if (!c || g->probe_inflight)
		return;
	if (lc_bus_call(c, BTCW_METHOD_SUPERVISOR_CAPACITY_GET, NULL,
			GW_PROBE_TIMEOUT_MS, on_probe, g) == 0)
		g->probe_inflight = true;
}

static void on_upkeep(evutil_socket_t fd, short what, void *arg)
{
	struct gw *g = arg;

	(void)fd;
	(void)what;
	g->upkeep_runs++;
	if (!g->supervisor_ok || g->upkeep_runs % GW_PROBE_OK_S == 0)
		probe(g);
	if (g->upkeep_runs % GW_PURGE_S == 1)
		gw_users_purge(g);
}

int gw_health_start(struct gw *g, char *err, size_t errlen)
{
	struct timeval tv;

	if (lc_admin_add_check(g->svc->admin, "supervisor", supervisor_check,
			       g, err, errlen) != 0)
		return -1;
	g->upkeep = event_new(g->svc->d.base, -1, EV_PERSIST, on_upkeep, g);
	lc_clock_tv(&tv, 1000);
	if (!g->upkeep || event_add(g->upkeep, &tv) != 0) {
		snprintf(err, errlen, "cannot start the upkeep timer");
		return -1;
	}
	probe(g);
	return 0;
}

void gw_health_stop(struct gw *g)
{
	if (g->upkeep) {
		event_free(g->upkeep);
		g->upkeep = NULL;
	}
}

/* ---- GET /api/v1/health: no token, nothing secret ---- */

static void route_health(struct gw_req *r)
{
	struct gw *g = r->g;
	bool db = g->svc->db && lc_db_ready(g->svc->db);
	bool sup = g->supervisor_ok;
	cJSON *o = cJSON_CreateObject();
	cJSON *checks = cJSON_AddObjectToObject(o, "checks");

	cJSON_AddStringToObject(o, "status", db && sup ? "ok" : "degraded");
	cJSON_AddStringToObject(o, "service", "gateway");
	cJSON_AddStringToObject(o, "version", BTCW_VERSION);
	cJSON_AddStringToObject(checks, "database", db ? "ok" : "down");
	cJSON_AddStringToObject(checks, "supervisor",
				sup ? "ok" : "unreachable");
	if (!db || !sup) {
		cJSON_AddStringToObject(o, "error", "unavailable");
		cJSON_AddStringToObject(o, "detail",
					!db ? "no connection to the database"
					    : "ft-supervisor does not answer");
	}
	gw_reply_json(r, db && sup ? 200 : 503, o);
}

const struct gw_route gw_routes_health[] = {
	{ "GET", "/api/v1/health", 0, GW_R_PUBLIC, route_health },
	{ 0 },
};
