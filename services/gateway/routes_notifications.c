/* /api/v1/notifications -> notifier.settings / history / test / channels */
#include "proto/btcw_proto.h"
#include "services/gateway/downstream.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/validate.h"

#define NOT LC_CFG_SVC_NOTIFIER

static const char *const channels[] = { "sms", "feishu", "wechat",
					"email", "telegram", "slack",
					"discord", "pushover", "webhook",
					NULL };
static const char *const priorities[] = { "P0", "P1", "P2", NULL };
static const char *const statuses[] = { "queued", "held", "sent",
					"failed", NULL };
static const char *const kinds[] = { "signal", "alert", "digest", "test",
				     NULL };
static const char *const orders[] = { "asc", "desc", NULL };

#define TIME_FIELD(n)                                                       \
	{ .name = (n), .type = GW_T_STR, .check = gw_fmt_timestamp,         \
	  .format = "an RFC 3339 UTC time such as 2025-06-01T08:00:00Z" }

static const struct gw_field history_query[] = {
	{ .name = "strategy_id", .type = GW_T_INT, .min = 1,
	  .max = GW_ID_MAX },
	{ .name = "channel", .type = GW_T_STR, .values = channels },
	{ .name = "priority", .type = GW_T_STR, .values = priorities },
	{ .name = "status", .type = GW_T_STR, .values = statuses },
	{ .name = "kind", .type = GW_T_STR, .values = kinds },
	TIME_FIELD("since"),
	TIME_FIELD("until"),
	{ .name = "after_id", .type = GW_T_INT, .min = 1,
	  .max = GW_BIGID_MAX },
	{ .name = "before_id", .type = GW_T_INT, .min = 1,
	  .max = GW_BIGID_MAX },
	{ .name = "order", .type = GW_T_STR, .values = orders },
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ 0 },
};

static const struct gw_field test_spec[] = {
	{ .name = "channel", .type = GW_T_STR, .flags = GW_F_REQ,
	  .values = channels },
	{ .name = "message", .type = GW_T_STR, .min = 1, .max = 1000 },
	{ .name = "url", .type = GW_T_STR, .min = 3, .max = 2048 },
	{ 0 },
};

static void route_settings_get(struct gw_req *r)
{
	gw_relay(r, NOT, BTCW_METHOD_NOTIFIER_SETTINGS_GET, NULL,
		 GW_CALL_DEFAULT, 200);
}

/* The settings' shape is the notifier's to check (partial, merged). */
static void route_settings_set(struct gw_req *r)
{
	if (cJSON_GetArraySize(r->body) == 0) {
		gw_reply_error(r, 422, "invalid",
			       "body: name at least one setting to change");
		return;
	}
	gw_relay(r, NOT, BTCW_METHOD_NOTIFIER_SETTINGS_SET,
		 cJSON_Duplicate(r->body, true), GW_CALL_DEFAULT, 200);
}

static void route_history(struct gw_req *r)
{
	cJSON *q = gw_query(r, history_query);
	if (q)
		gw_relay(r, NOT, BTCW_METHOD_NOTIFIER_HISTORY_LIST, q,
			 GW_CALL_DEFAULT, 200);
}

static void route_test(struct gw_req *r)
{
	if (gw_body_valid(r, test_spec))
		gw_relay(r, NOT, BTCW_METHOD_NOTIFIER_TEST_SEND,
			 cJSON_Duplicate(r->body, true), GW_CALL_SLOW_MS, 200);
}

static void route_channels(struct gw_req *r)
{
	gw_relay(r, NOT, BTCW_METHOD_NOTIFIER_CHANNELS_LIST, NULL,
		 GW_CALL_DEFAULT, 200);
}

#define NOTI "/api/v1/notifications"
const struct gw_route gw_routes_notifications[] = {
	{ "GET", NOTI "/settings", GW_ROLES_ANY, 0, route_settings_get },
	{ "PUT", NOTI "/settings", GW_ROLES_WRITE, GW_R_BODY,
	  route_settings_set },
	{ "GET", NOTI "/history", GW_ROLES_ANY, 0, route_history },
	{ "POST", NOTI "/test", GW_ROLES_WRITE, GW_R_BODY, route_test },
	{ "GET", NOTI "/channels", GW_ROLES_ANY, 0, route_channels },
	{ 0 },
};
