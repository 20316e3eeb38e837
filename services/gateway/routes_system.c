/*
 * /api/v1/system: capacity and port pool (supervisor), capacity reports,
 * statistics and health (monitor), every service's config; and
 * /api/v1/freqtrade/upgrade (supervisor).
 */
#include "proto/btcw_proto.h"
#include "services/gateway/downstream.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/validate.h"

#include <stdio.h>
#include <string.h>

#define SUP LC_CFG_SVC_SUPERVISOR
#define MON LC_CFG_SVC_MONITOR

static const struct gw_field trend_query[] = {
	{ .name = "hours", .type = GW_T_INT, .min = 1, .max = 168 },
	{ 0 },
};

static const struct gw_field threshold_spec[] = {
	{ .name = "threshold_percent", .type = GW_T_NUM, .flags = GW_F_REQ,
	  .max = 100 },
	{ 0 },
};

static const struct gw_field reload_query[] = {
	{ .name = "name", .type = GW_T_STR, .min = 1, .max = 32 },
	{ 0 },
};

static const struct gw_field argv_item[] = {
	{ .name = "arg", .type = GW_T_STR, .min = 1, .max = 1024 },
	{ 0 },
};

static const struct gw_field upgrade_spec[] = {
	{ .name = "target_version", .type = GW_T_STR, .flags = GW_F_REQ,
	  .check = gw_fmt_label, .format = "a version such as 2025.9" },
	{ .name = "command", .type = GW_T_ARR, .min = 1, .max = 32,
	  .sub = argv_item },
	{ 0 },
};

static void route_capacity(struct gw_req *r)
{
	gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_CAPACITY_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

static void route_port_pool(struct gw_req *r)
{
	gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_PORT_POOL_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

static void route_detailed(struct gw_req *r)
{
	gw_relay(r, MON, BTCW_METHOD_MONITOR_CAPACITY_REPORT_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

static void route_trend(struct gw_req *r)
{
	cJSON *q = gw_query(r, trend_query);
	if (q)
		gw_relay(r, MON, BTCW_METHOD_MONITOR_CAPACITY_TREND_GET, q,
			 GW_CALL_DEFAULT, 200);
}

static void route_threshold_get(struct gw_req *r)
{
	gw_relay(r, MON, BTCW_METHOD_MONITOR_ALERT_THRESHOLD_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

static void route_threshold_set(struct gw_req *r)
{
	if (gw_body_valid(r, threshold_spec))
		gw_relay(r, MON, BTCW_METHOD_MONITOR_ALERT_THRESHOLD_SET,
			 cJSON_Duplicate(r->body, true), GW_CALL_DEFAULT, 200);
}

static void route_statistics(struct gw_req *r)
{
	gw_relay(r, MON, BTCW_METHOD_MONITOR_STATISTICS_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

static void route_health(struct gw_req *r)
{
	gw_relay(r, MON, BTCW_METHOD_MONITOR_HEALTH_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

/* ---- config of any service ---- */

/* Config names: the service prefixes, the daemons' names, and the
 * seed's names (proto/README.md, REST -> bus). */
static const struct {
	const char *name;
	enum lc_cfg_service_id svc;
} config_names[] = {
	{ "supervisor", LC_CFG_SVC_SUPERVISOR },
	{ "ft-supervisor", LC_CFG_SVC_SUPERVISOR },
	{ "gateway", LC_CFG_SVC_GATEWAY },
	{ "ingest", LC_CFG_SVC_INGEST },
	{ "signal-ingest", LC_CFG_SVC_INGEST },
	{ "monitor", LC_CFG_SVC_MONITOR },
	{ "monitoring", LC_CFG_SVC_MONITOR },
	{ "proxy", LC_CFG_SVC_MONITOR },
	{ "notifier", LC_CFG_SVC_NOTIFIER },
	{ "notifications", LC_CFG_SVC_NOTIFIER },
	{ "backup", LC_CFG_SVC_BACKUP },
};

/* The service a config name means; false after answering 404. */
static bool config_service(struct gw_req *r, const char *name,
			   enum lc_cfg_service_id *out)
{
	for (size_t i = 0; i < sizeof(config_names) / sizeof(*config_names);
	     i++) {
		if (strcmp(config_names[i].name, name) == 0) {
			*out = config_names[i].svc;
			return true;
		}
	}
	gw_reply_error(r, 404, "not_found",
		       "no config named '%.32s'; one of supervisor, gateway, "
		       "ingest, monitor, notifier, backup (or monitoring, "
		       "notifications, proxy)", name);
	return false;
}

static void admin_call(struct gw_req *r, enum lc_cfg_service_id svc,
		       const char *verb)
{
	char method[64];

	snprintf(method, sizeof(method), "%s.config.%s",
		 gw_service_prefix(svc), verb);
	gw_relay(r, svc, method, NULL, GW_CALL_DEFAULT, 200);
}

static void route_config_show(struct gw_req *r)
{
	char name[40];
	enum lc_cfg_service_id svc;

	if (!gw_param(r, "name", name, sizeof(name)))
		name[0] = '\0';
	if (config_service(r, name, &svc))
		admin_call(r, svc, "show");
}

/* Every service reloaded: 200 if all did, else 502 naming who failed. */
static void on_reload_all(struct gw_req *r, struct gw_fan_out *outs,
			  size_t n)
{
	cJSON *o = cJSON_CreateObject(), *list;
	char failed[256] = "";
	size_t nfailed = 0, used = 0;

	list = cJSON_AddArrayToObject(o, "results");
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "service",
					gw_service_prefix(outs[i].svc));
		cJSON_AddBoolToObject(e, "ok", outs[i].ok);
		if (outs[i].ok) {
			cJSON_AddItemToObject(e, "result", outs[i].result);
			outs[i].result = NULL;
		} else {
			cJSON *err = cJSON_AddObjectToObject(e, "error");
			cJSON_AddStringToObject(err, "code", outs[i].code);
			cJSON_AddStringToObject(err, "message",
						outs[i].message);
			if (used < sizeof(failed))
				used += (size_t)snprintf(
					failed + used, sizeof(failed) - used,
					"%s%s (%s)", nfailed ? ", " : "",
					gw_service_prefix(outs[i].svc),
					outs[i].code);
			nfailed++;
		}
		cJSON_AddItemToArray(list, e);
	}
	if (nfailed == 0) {
		gw_reply_json(r, 200, o);
		return;
	}
	cJSON_AddStringToObject(o, "error", "upstream_error");
	cJSON_AddNumberToObject(o, "failed", (double)nfailed);
	char detail[320];
	snprintf(detail, sizeof(detail), "%zu of %zu services did not "
		 "reload: %s", nfailed, n, failed);
	cJSON_AddStringToObject(o, "detail", detail);
	gw_reply_json(r, 502, o);
}

static void route_config_reload(struct gw_req *r)
{
	static const char *const methods[LC_CFG_NSVC] = {
		BTCW_METHOD_SUPERVISOR_CONFIG_RELOAD,
		BTCW_METHOD_GATEWAY_CONFIG_RELOAD,
		BTCW_METHOD_INGEST_CONFIG_RELOAD,
		BTCW_METHOD_MONITOR_CONFIG_RELOAD,
		BTCW_METHOD_NOTIFIER_CONFIG_RELOAD,
		BTCW_METHOD_BACKUP_CONFIG_RELOAD,
	};
	struct gw_fan_call calls[LC_CFG_NSVC];
	enum lc_cfg_service_id svc;
	cJSON *q = gw_query(r, reload_query), *name;

	if (!q)
		return;
	name = cJSON_GetObjectItem(q, "name");
	if (name) {
		if (config_service(r, name->valuestring, &svc))
			admin_call(r, svc, "reload");
		cJSON_Delete(q);
		return;
	}
	cJSON_Delete(q);
	for (int i = 0; i < LC_CFG_NSVC; i++)
		calls[i] = (struct gw_fan_call){ (enum lc_cfg_service_id)i,
						 methods[i], NULL, 0 };
	gw_fanout(r, calls, LC_CFG_NSVC, on_reload_all);
}

/* ---- FreqTrade upgrade ---- */

static void route_upgrade_start(struct gw_req *r)
{
	if (gw_body_valid(r, upgrade_spec))
		gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_UPGRADE_START,
			 cJSON_Duplicate(r->body, true), GW_CALL_DEFAULT, 202);
}

static void route_upgrade_get(struct gw_req *r)
{
	gw_relay(r, SUP, BTCW_METHOD_SUPERVISOR_UPGRADE_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

#define SYS "/api/v1/system"
const struct gw_route gw_routes_system[] = {
	{ "GET", SYS "/capacity", GW_ROLES_ANY, 0, route_capacity },
	{ "GET", SYS "/port-pool", GW_ROLES_ANY, 0, route_port_pool },
	{ "GET", SYS "/capacity/detailed", GW_ROLES_ANY, 0, route_detailed },
	{ "GET", SYS "/capacity/utilization-trend", GW_ROLES_ANY, 0,
	  route_trend },
	{ "GET", SYS "/capacity/alert-threshold", GW_ROLES_ANY, 0,
	  route_threshold_get },
	{ "POST", SYS "/capacity/alert-threshold", GW_ROLE_ADMIN, GW_R_BODY,
	  route_threshold_set },
	{ "GET", SYS "/statistics", GW_ROLES_ANY, 0, route_statistics },
	{ "GET", SYS "/health", GW_ROLES_ANY, 0, route_health },
	{ "GET", SYS "/config/{name}", GW_ROLE_ADMIN, 0, route_config_show },
	{ "POST", SYS "/config/reload", GW_ROLE_ADMIN, 0,
	  route_config_reload },
	{ "POST", "/api/v1/freqtrade/upgrade", GW_ROLE_ADMIN, GW_R_BODY,
	  route_upgrade_start },
	{ "GET", "/api/v1/freqtrade/upgrade", GW_ROLES_ANY, 0,
	  route_upgrade_get },
	{ 0 },
};
