/* /api/v1/backups -> backup.backups.* and backup.status.get (admins). */
#include "proto/btcw_proto.h"
#include "services/gateway/downstream.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/validate.h"

#define BAK LC_CFG_SVC_BACKUP

static const char *const components[] = { "postgres", "redis", "files",
					  NULL };
static const char *const triggers[] = { "manual", "pre_upgrade", NULL };
static const char *const statuses[] = { "running", "ok", "failed", NULL };

static const struct gw_field component[] = {
	{ .name = "component", .type = GW_T_STR, .values = components },
	{ 0 },
};

static const struct gw_field list_query[] = {
	{ .name = "status", .type = GW_T_STR, .values = statuses },
	{ .name = "before", .type = GW_T_STR, .check = gw_fmt_backup_id,
	  .format = "a backup id such as 20250601T030000Z" },
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ 0 },
};

static const struct gw_field run_spec[] = {
	{ .name = "components", .type = GW_T_ARR, .flags = GW_F_UNIQUE,
	  .min = 1, .max = 3, .sub = component },
	{ .name = "trigger", .type = GW_T_STR, .values = triggers },
	{ .name = "note", .type = GW_T_STR, .max = 256 },
	{ 0 },
};

static const struct gw_field restore_spec[] = {
	{ .name = "confirm", .type = GW_T_BOOL, .flags = GW_F_REQ },
	{ .name = "components", .type = GW_T_ARR, .flags = GW_F_UNIQUE,
	  .min = 1, .max = 3, .sub = component },
	{ 0 },
};

/* {"id": <the path's backup id>}; NULL after answering 422. */
static cJSON *id_params(struct gw_req *r)
{
	char id[40];
	cJSON *p;

	if (!gw_param(r, "id", id, sizeof(id)) || !gw_fmt_backup_id(id)) {
		gw_reply_error(r, 422, "invalid", "id: must be a backup id "
			       "such as 20250601T030000Z");
		return NULL;
	}
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "id", id);
	return p;
}

static void route_list(struct gw_req *r)
{
	cJSON *q = gw_query(r, list_query);
	if (q)
		gw_relay(r, BAK, BTCW_METHOD_BACKUP_BACKUPS_LIST, q,
			 GW_CALL_DEFAULT, 200);
}

static void route_run(struct gw_req *r)
{
	if (gw_body_valid(r, run_spec))
		gw_relay(r, BAK, BTCW_METHOD_BACKUP_BACKUPS_RUN,
			 r->body ? cJSON_Duplicate(r->body, true) : NULL,
			 GW_CALL_DEFAULT, 202);
}

static void route_status(struct gw_req *r)
{
	gw_relay(r, BAK, BTCW_METHOD_BACKUP_STATUS_GET, NULL, GW_CALL_DEFAULT,
		 200);
}

static void route_get(struct gw_req *r)
{
	cJSON *p = id_params(r);
	if (p)
		gw_relay(r, BAK, BTCW_METHOD_BACKUP_BACKUPS_GET, p,
			 GW_CALL_DEFAULT, 200);
}

static void route_restore(struct gw_req *r)
{
	cJSON *p, *m;

	if (!gw_body_valid(r, restore_spec))
		return;
	if (!cJSON_IsTrue(cJSON_GetObjectItem(r->body, "confirm"))) {
		gw_reply_error(r, 422, "invalid", "confirm: must be true: a "
			       "restore overwrites the current data");
		return;
	}
	p = id_params(r);
	if (!p)
		return;
	cJSON_ArrayForEach(m, r->body)
		cJSON_AddItemToObject(p, m->string, cJSON_Duplicate(m, true));
	gw_relay(r, BAK, BTCW_METHOD_BACKUP_BACKUPS_RESTORE, p,
		 GW_CALL_DEFAULT, 202);
}

const struct gw_route gw_routes_backups[] = {
	{ "GET", "/api/v1/backups", GW_ROLE_ADMIN, 0, route_list },
	{ "POST", "/api/v1/backups", GW_ROLE_ADMIN, GW_R_BODY_OPT,
	  route_run },
	{ "GET", "/api/v1/backups/status", GW_ROLE_ADMIN, 0, route_status },
	{ "GET", "/api/v1/backups/{id}", GW_ROLE_ADMIN, 0, route_get },
	{ "POST", "/api/v1/backups/{id}/restore", GW_ROLE_ADMIN, GW_R_BODY,
	  route_restore },
	{ 0 },
};
