/* /api/v1/strategies -> supervisor.strategies.*, logs, monitor status. */
#include "libcommon/log.h"
#include "proto/btcw_proto.h"
#include "services/gateway/downstream.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/validate.h"

#include <stdio.h>
#include <string.h>

#define SUP LC_CFG_SVC_SUPERVISOR
#define MON LC_CFG_SVC_MONITOR

static const char *const statuses[] = { "created", "starting", "running",
					"stopping", "stopped", "failed",
					"deleted", NULL };
static const char *const commands[] = { "start", "stop", "reload_config",
					"pause", NULL };

static const struct gw_field thresholds[] = {
	{ .name = "strong", .type = GW_T_NUM, .flags = GW_F_REQ, .max = 1 },
	{ .name = "medium", .type = GW_T_NUM, .flags = GW_F_REQ, .max = 1 },
	{ .name = "weak", .type = GW_T_NUM, .flags = GW_F_REQ, .max = 1 },
	{ 0 },
};

static const struct gw_field pair[] = {
	{ .name = "pair", .type = GW_T_STR, .check = gw_fmt_pair,
	  .format = "BASE/QUOTE (BTC/USDT)" },
	{ 0 },
};

/* The writable fields of a strategy; req marks create's required ones. */
#define STRATEGY_FIELDS(req)                                                \
	{ .name = "name", .type = GW_T_STR, .flags = (req),                 \
	  .check = gw_fmt_name,                                             \
	  .format = "1-64 of A-Z a-z 0-9 space _ . -, starting with a "     \
		    "letter or digit" },                                    \
	{ .name = "strategy_class", .type = GW_T_STR, .flags = (req),       \
	  .check = gw_fmt_ident, .format = "a Python class name" },         \
	{ .name = "exchange", .type = GW_T_STR, .flags = (req),             \
	  .check = gw_fmt_exchange, .format = "a lowercase ccxt id" },      \
	{ .name = "timeframe", .type = GW_T_STR, .flags = (req),            \
	  .check = gw_fmt_timeframe, .format = "5m, 1h, 1d" },              \
	{ .name = "pair_whitelist", .type = GW_T_ARR,                       \
	  .flags = (req) | GW_F_UNIQUE,                                     \
	  .min = 1, .max = 500, .sub = pair },                              \
	{ .name = "proxy_id", .type = GW_T_INT, .flags = GW_F_NULL,         \
	  .min = 1, .max = GW_ID_MAX },                                     \
	{ .name = "thresholds", .type = GW_T_OBJ, .sub = thresholds },      \
	{ .name = "auto_start", .type = GW_T_BOOL },                        \
	{ .name = "version", .type = GW_T_STR, .check = gw_fmt_label,       \
	  .format = "a version label such as v1.0" },                       \
	{ .name = "extra_config", .type = GW_T_OPEN, .max = 64 }

static const struct gw_field create_spec[] = { STRATEGY_FIELDS(GW_F_REQ),
					       { 0 } };
static const struct gw_field update_spec[] = { STRATEGY_FIELDS(0), { 0 } };

static const struct gw_field list_query[] = {
	{ .name = "status", .type = GW_T_STR, .values = statuses },
	{ .name = "include_deleted", .type = GW_T_BOOL },
	{ .name = "after_id", .type = GW_T_INT, .min = 1, .max = GW_ID_MAX },
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ 0 },
};

static const struct gw_field logs_query[] = {
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ 0 },
};

/* {"<key>": id} for the path's {id}; NULL after answering 422. */
static cJSON *id_params(struct gw_req *r, const char *key)
{
	int64_t id;
	cJSON *p;

	if (!gw_param_id(r, "id", &id))
		return NULL;
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, key, (double)id);
	return p;
}

static void route_list(struct gw_req *r)
{
	cJSON *q = gw_query(r, list_query);
	if (q)
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_LIST, q,
			 GW_CALL_DEFAULT, 200);
}

static void route_create(struct gw_req *r)
{
	if (gw_body_valid(r, create_spec))
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_CREATE,
			 cJSON_Duplicate(r->body, true), GW_CALL_DEFAULT, 201);
}

static void route_get(struct gw_req *r)
{
	cJSON *p = id_params(r, "id");
	if (p)
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_GET, p,
			 GW_CALL_DEFAULT, 200);
}

static void route_update(struct gw_req *r)
{
	cJSON *p;

	if (!gw_body_valid(r, update_spec))
		return;
	if (cJSON_GetArraySize(r->body) == 0) {
		gw_reply_error(r, 422, "invalid",
			       "body: name at least one field to change");
		return;
	}
	p = id_params(r, "id");
	if (!p)
		return;
	for (cJSON *m = r->body->child; m; m = m->next)
		cJSON_AddItemToObject(p, m->string,
				      cJSON_Duplicate(m, true));
	gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_UPDATE, p,
		 GW_CALL_DEFAULT, 200);
}

static void route_delete(struct gw_req *r)
{
	cJSON *p = id_params(r, "id");
	if (p)
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_DELETE, p,
			 GW_CALL_DEFAULT, 200);
}

/* start and stop answer at once (the bot follows): 202 */
static void route_start(struct gw_req *r)
{
	cJSON *p = id_params(r, "id");
	if (p)
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_START, p,
			 GW_CALL_DEFAULT, 202);
}

static void route_stop(struct gw_req *r)
{
	cJSON *p = id_params(r, "id");
	if (p)
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_STOP, p,
			 GW_CALL_DEFAULT, 202);
}

static void route_command(struct gw_req *r)
{
	char cmd[32];
	bool known = false;
	cJSON *p;

	if (gw_param(r, "command", cmd, sizeof(cmd)))
		for (size_t i = 0; commands[i]; i++)
			known = known || strcmp(commands[i], cmd) == 0;
	if (!known) {
		gw_reply_error(r, 404, "not_found", "command: must be one of "
			       "start, stop, reload_config, pause");
		return;
	}
	p = id_params(r, "id");
	if (!p)
		return;
	cJSON_AddStringToObject(p, "command", cmd);
	gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_COMMAND, p,
		 GW_CALL_SLOW_MS, 200);
}

static void route_logs(struct gw_req *r)
{
	cJSON *q = gw_query(r, logs_query), *p;

	if (!q)
		return;
	p = id_params(r, "strategy_id");
	if (!p) {
		cJSON_Delete(q);
		return;
	}
	cJSON *limit = cJSON_DetachItemFromObject(q, "limit");
	if (limit)
		cJSON_AddItemToObject(p, "limit", limit);
	cJSON_Delete(q);
	gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_LOGS_GET, p, GW_CALL_SLOW_MS,
		 200);
}

/* ---- combined views: the registry plus the monitor's health ---- */

/* Add the monitor's part as key (null, and key_error, when it failed:
 * health is a bonus, the registry is the answer). */
static void add_health(cJSON *o, const char *key, struct gw_fan_out *m)
{
	char err[320], ekey[48];

	snprintf(ekey, sizeof(ekey), "%s_error", key);
	if (m->ok) {
		cJSON_AddItemToObject(o, key, m->result);
		m->result = NULL;
		cJSON_AddNullToObject(o, ekey);
		return;
	}
	snprintf(err, sizeof(err), "monitor: %s: %s", m->code, m->message);
	cJSON_AddNullToObject(o, key);
	cJSON_AddStringToObject(o, ekey, err);
}

static void on_detailed(struct gw_req *r, struct gw_fan_out *outs,
			size_t n)
{
	cJSON *o;

	(void)n;
	if (!outs[0].ok) {
		gw_reply_bus_error(r, SUP, &outs[0].res);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "strategy", outs[0].result);
	outs[0].result = NULL;
	add_health(o, "health", &outs[1]);
	gw_reply_json(r, 200, o);
}

static void route_detailed(struct gw_req *r)
{
	cJSON *a = id_params(r, "id"), *b;

	if (!a)
		return;
	b = cJSON_CreateObject();
	cJSON_AddNumberToObject(b, "strategy_id",
				cJSON_GetObjectItem(a, "id")->valuedouble);
	struct gw_fan_call calls[] = {
		{ SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_GET, a, 0 },
		{ MON, BTCW_METHOD_MONITOR_STRATEGY_STATUS_GET, b, 0 },
	};
	gw_fanout(r, calls, 2, on_detailed);
}

static void on_overview(struct gw_req *r, struct gw_fan_out *outs,
			size_t n)
{
	cJSON *o, *by, *list, *s;

	(void)n;
	if (!outs[0].ok) {
		gw_reply_bus_error(r, SUP, &outs[0].res);
		return;
	}
	list = cJSON_GetObjectItem(outs[0].result, "strategies");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "total", cJSON_GetArraySize(list));
	by = cJSON_AddObjectToObject(o, "by_status");
	for (size_t i = 0; statuses[i]; i++)
		if (strcmp(statuses[i], "deleted") != 0)
			cJSON_AddNumberToObject(by, statuses[i], 0);
	cJSON_ArrayForEach(s, list) {
		cJSON *st = cJSON_GetObjectItem(s, "status");
		cJSON *cnt = cJSON_IsString(st)
				     ? cJSON_GetObjectItem(by, st->valuestring)
				     : NULL;
		if (cnt)
			cJSON_SetNumberValue(cnt, cnt->valuedouble + 1);
	}
	cJSON_AddItemToObject(o, "strategies",
			      cJSON_DetachItemViaPointer(outs[0].result,
							 list));
	add_health(o, "health", &outs[1]);
	gw_reply_json(r, 200, o);
}

static void route_overview(struct gw_req *r)
{
	struct gw_fan_call calls[] = {
		{ SUP, BTCW_METHOD_SUPERVISOR_STRATEGIES_LIST, NULL, 0 },
		{ MON, BTCW_METHOD_MONITOR_STRATEGY_STATUS_LIST, NULL, 0 },
	};
	gw_fanout(r, calls, 2, on_overview);
}

const struct gw_route gw_routes_strategies[] = {
	{ "GET", "/api/v1/strategies", GW_ROLES_ANY, 0, route_list },
	{ "POST", "/api/v1/strategies", GW_ROLES_WRITE, GW_R_BODY,
	  route_create },
	{ "GET", "/api/v1/strategies/overview", GW_ROLES_ANY, 0,
	  route_overview },
	{ "GET", "/api/v1/strategies/{id}", GW_ROLES_ANY, 0, route_get },
	{ "PUT", "/api/v1/strategies/{id}", GW_ROLES_WRITE, GW_R_BODY,
	  route_update },
	{ "DELETE", "/api/v1/strategies/{id}", GW_ROLES_WRITE, 0,
	  route_delete },
	{ "POST", "/api/v1/strategies/{id}/start", GW_ROLES_WRITE, 0,
	  route_start },
	{ "POST", "/api/v1/strategies/{id}/stop", GW_ROLES_WRITE, 0,
	  route_stop },
	{ "POST", "/api/v1/strategies/{id}/commands/{command}",
	  GW_ROLES_WRITE, 0, route_command },
	{ "GET", "/api/v1/strategies/{id}/logs", GW_ROLES_ANY, 0,
	  route_logs },
	{ "GET", "/api/v1/strategies/{id}/status/detailed", GW_ROLES_ANY, 0,
	  route_detailed },
	{ 0 },
};
