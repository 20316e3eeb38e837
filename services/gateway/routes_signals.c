/* /api/v1/signals -> ingest.signals.list / get, ingest.signal_stats.get */
#include "proto/btcw_proto.h"
#include "services/gateway/downstream.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/validate.h"

#define ING LC_CFG_SVC_INGEST

static const char *const actions[] = {
	"entry", "entry_fill", "entry_cancel", "exit", "exit_fill",
	"exit_cancel", "status", "warning", "exception", "startup",
	"protection_trigger", "protection_trigger_global", "strategy_msg",
	NULL
};
static const char *const levels[] = { "strong", "medium", "weak",
				      "ignore", NULL };
static const char *const orders[] = { "asc", "desc", NULL };

#define ID_FIELD(n)                                                         \
	{ .name = (n), .type = GW_T_INT, .min = 1, .max = GW_BIGID_MAX }
#define TIME_FIELD(n)                                                       \
	{ .name = (n), .type = GW_T_STR, .check = gw_fmt_timestamp,         \
	  .format = "an RFC 3339 UTC time such as 2025-06-01T08:00:00Z" }

/* Filters AND together; keyset paging on id (proto/README.md). */
static const struct gw_field list_query[] = {
	{ .name = "strategy_id", .type = GW_T_INT, .min = 1,
	  .max = GW_ID_MAX },
	{ .name = "pair", .type = GW_T_STR, .check = gw_fmt_pair,
	  .format = "BASE/QUOTE (BTC/USDT)" },
	{ .name = "action", .type = GW_T_STR, .values = actions },
	{ .name = "level", .type = GW_T_STR, .values = levels },
	TIME_FIELD("since"),
	TIME_FIELD("until"),
	ID_FIELD("after_id"),
	ID_FIELD("before_id"),
	{ .name = "order", .type = GW_T_STR, .values = orders },
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ .name = "include_raw", .type = GW_T_BOOL },
	{ 0 },
};

static const struct gw_field stats_query[] = {
	{ .name = "strategy_id", .type = GW_T_INT, .min = 1,
	  .max = GW_ID_MAX },
	TIME_FIELD("since"),
	TIME_FIELD("until"),
	{ 0 },
};

static void route_list(struct gw_req *r)
{
	cJSON *q = gw_query(r, list_query);
	if (q)
		gw_relay(r, ING, BTCW_METHOD_INGEST_SIGNALS_LIST, q,
			 GW_CALL_DEFAULT, 200);
}

static void route_stats(struct gw_req *r)
{
	cJSON *q = gw_query(r, stats_query);
	if (q)
		gw_relay(r, ING, BTCW_METHOD_INGEST_SIGNAL_STATS_GET, q,
			 GW_CALL_DEFAULT, 200);
}

static void route_get(struct gw_req *r)
{
	int64_t id;
	cJSON *p;

	if (!gw_param_bigid(r, "id", &id))
		return;
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "id", (double)id);
	gw_relay(r, ING, BTCW_METHOD_INGEST_SIGNALS_GET, p, GW_CALL_DEFAULT,
		 200);
}

const struct gw_route gw_routes_signals[] = {
	{ "GET", "/api/v1/signals", GW_ROLES_ANY, 0, route_list },
	{ "GET", "/api/v1/signals/stats", GW_ROLES_ANY, 0, route_stats },
	{ "GET", "/api/v1/signals/{id}", GW_ROLES_ANY, 0, route_get },
	{ 0 },
};
