/*
 * supervisor.strategies.start / stop / stop_all / command, logs.get,
 * processes.list, port_pool.get, capacity.get, routes.list / get.
 *
 * start and stop answer at once (the outcome follows as strategy.state);
 * command and logs wait on the bot's own API (slow: up to 30 s).
 */
#include "services/ft-supervisor/rpc.h"

#include "libcommon/bus.h"
#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/ft-supervisor/botapi.h"
#include "services/ft-supervisor/botops.h"
#include "services/ft-supervisor/logs.h"
#include "services/ft-supervisor/sup.h"
#include "services/ft-supervisor/validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOT_CALL_TIMEOUT_MS 30000
#define LOGS_DEFAULT 100

static const char *const id_only[] = { "id", NULL };

static bool no_upgrade(struct sup *s, struct lc_bus_req *req)
{
	if (!upgrade_active(s))
		return true;
	lc_bus_reply_err(req, BTCW_ERR_CONFLICT,
			 "a FreqTrade upgrade is in progress");
	return false;
}

/* ---- start / stop ---- */

static void rpc_start(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, id_only) ||
	    !no_upgrade(s, req))
		return;
	struct bot *b = rpc_bot(s, req, params, "id", BTCW_ERR_CONFLICT);
	if (!b)
		return;
	const char *code;
	char msg[512];
	if (bot_request_start(b, &code, msg, sizeof(msg)) != 0) {
		lc_bus_reply_err(req, code, "%s", msg);
		return;
	}
	lc_bus_reply_ok(req, bot_json(b));
}

static void rpc_stop(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, id_only) ||
	    !no_upgrade(s, req))
		return;
	struct bot *b = rpc_bot(s, req, params, "id", NULL);
	if (!b)
		return;
	bot_request_stop(b, STOP_USER);
	lc_bus_reply_ok(req, bot_json(b));
}

static void rpc_stop_all(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const none[] = { NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, none) ||
	    !no_upgrade(s, req))
		return;
	cJSON *ids = cJSON_CreateArray();
	int n = 0;
	for (size_t i = 0; i < s->nbots; i++) {
		struct bot *b = s->bots[i];
		bool active = b->state != BOT_IDLE &&
			      b->state != BOT_STOPPING;
		if (b->want_run || active)
			bot_request_stop(b, STOP_USER);
		if (active) {
			cJSON_AddItemToArray(ids, cJSON_CreateNumber(b->id));
			n++;
		}
	}
	cJSON *r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "strategy_ids", ids);
	cJSON_AddNumberToObject(r, "count", n);
	lc_bus_reply_ok(req, r);
}

/* ---- command ---- */

struct bot_call {
	struct sup *s;
	struct lc_bus_req *req;
	struct botapi_target t;
	int id;
	int limit;
	char command[16];
	bool fallback_tried;
};

static bool reply_upstream(struct lc_bus_req *req,
			   const struct lc_curl_response *r)
{
	if (r->error) {
		lc_bus_reply_err(req, r->timed_out ? BTCW_ERR_UPSTREAM_TIMEOUT
						   : BTCW_ERR_UPSTREAM_ERROR,
				 "the bot did not answer: %s", r->error);
		return true;
	}
	if (r->status >= 200 && r->status < 300)
		return false;
	char text[256];
	botapi_status_text(r, text, sizeof(text));
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "upstream_status", r->status);
	lc_bus_reply_err_details(req, BTCW_ERR_UPSTREAM_ERROR, d,
				 "the bot answered %ld: %s", r->status, text);
	return true;
}

static void on_command(const struct lc_curl_response *r, void *arg);

static bool send_command(struct bot_call *c, const char *path)
{
	return botapi_call(c->s->curl, &c->t, "POST", path,
			   BOT_CALL_TIMEOUT_MS, on_command, c) != NULL;
}

/* pause is /pause from FreqTrade 2025.4, /stopentry before. */
static void on_command(const struct lc_curl_response *r, void *arg)
{
	struct bot_call *c = arg;
	if (!r->error && (r->status == 404 || r->status == 405) &&
	    strcmp(c->command, "pause") == 0 && !c->fallback_tried &&
	    !c->s->dying) {
		c->fallback_tried = true;
		if (send_command(c, "stopentry"))
			return;
	}
	if (!reply_upstream(c->req, r)) {
		char text[1024];
		botapi_status_text(r, text, sizeof(text));
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", c->id);
		cJSON_AddStringToObject(o, "command", c->command);
		cJSON_AddStringToObject(o, "message", text);
		lc_bus_reply_ok(c->req, o);
	}
	free(c);
}

/* reload_config re-reads the file: write it again first, so an update
 * made since the start takes effect (same port and credentials). */
static int rewrite_config(struct bot *b, char *err, size_t n);

static const char *parse_command(struct lc_bus_req *req,
				 const cJSON *params)
{
	static const char *const cmds[] = { "start", "stop", "reload_config",
					    "pause", NULL };
	const cJSON *c = cJSON_GetObjectItem(params, "command");
	for (int i = 0; cJSON_IsString(c) && cmds[i]; i++)
		if (strcmp(c->valuestring, cmds[i]) == 0)
			return cmds[i];
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "field", "command");
	lc_bus_reply_err_details(req, BTCW_ERR_INVALID, d,
				 "command must be start, stop, reload_config"
				 " or pause");
	return NULL;
}

static void rpc_command(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const keys[] = { "id", "command", NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	struct bot *b = rpc_bot(s, req, params, "id", NULL);
	const char *cmd = b ? parse_command(req, params) : NULL;
	if (!cmd)
		return;
	if (b->state != BOT_RUNNING) {
		lc_bus_reply_err(req, BTCW_ERR_CONFLICT,
				 "strategy %d is not running (%s)", b->id,
				 status_name(b->status));
		return;
	}
	char err[256];
	if (strcmp(cmd, "reload_config") == 0 &&
	    rewrite_config(b, err, sizeof(err)) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL,
				 "cannot rewrite the config: %s", err);
		return;
	}
	struct bot_call *c = calloc(1, sizeof(*c));
	if (!c) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
		return;
	}
	*c = (struct bot_call){ .s = s, .req = req, .id = b->id };
	botapi_target_of(b, &c->t);
	snprintf(c->command, sizeof(c->command), "%s", cmd);
	if (!send_command(c, cmd)) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL,
				 "cannot call the bot");
		free(c);
	}
}

static int rewrite_config(struct bot *b, char *err, size_t n)
{
	/* A new jwt secret only logs out API sessions; the credentials
	 * the gateway uses stay. */
	return botops_write_config(b, b->port, err, n);
}

/* ---- logs ---- */

static void on_logs(const struct lc_curl_response *r, void *arg)
{
	struct bot_call *c = arg;
	cJSON *res = NULL;
	if (!reply_upstream(c->req, r)) {
		res = logs_from_api(r->body, c->id, c->limit);
		if (res)
			lc_bus_reply_ok(c->req, res);
		else
			lc_bus_reply_err(c->req, BTCW_ERR_UPSTREAM_ERROR,
					 "the bot's /logs reply is malformed");
	}
	free(c);
}

static int parse_limit(struct lc_bus_req *req, const cJSON *params)
{
	const cJSON *l = cJSON_GetObjectItem(params, "limit");
	if (!l)
		return LOGS_DEFAULT;
	double d = cJSON_IsNumber(l) ? l->valuedouble : 0;
	if (!cJSON_IsNumber(l) || d != floor(d) || d < 1 || d > 1000) {
		cJSON *det = cJSON_CreateObject();
		cJSON_AddStringToObject(det, "field", "limit");
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID, det,
					 "limit must be an integer 1-1000");
		return -1;
	}
	return (int)d;
}

static void rpc_logs(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const keys[] = { "strategy_id", "limit", NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	struct bot *b = rpc_bot(s, req, params, "strategy_id", NULL);
	int limit = b ? parse_limit(req, params) : -1;
	if (limit < 0)
		return;
	if (b->state != BOT_RUNNING) {
		char path[4096];
		if (sup_path(s, b->id, "log", path, sizeof(path)) != 0) {
			lc_bus_reply_err(req, BTCW_ERR_INTERNAL,
					 "path too long");
			return;
		}
		lc_bus_reply_ok(req, logs_from_file(path, b->id, limit));
		return;
	}
	struct bot_call *c = calloc(1, sizeof(*c));
	char path[32];
	if (!c) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
		return;
	}
	*c = (struct bot_call){ .s = s, .req = req, .id = b->id,
				.limit = limit };
	botapi_target_of(b, &c->t);
	snprintf(path, sizeof(path), "logs?limit=%d", limit);
	if (!botapi_call(s->curl, &c->t, "GET", path, BOT_CALL_TIMEOUT_MS,
			 on_logs, c)) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL,
				 "cannot call the bot");
		free(c);
	}
}

/* ---- processes, pool, capacity ---- */

static bool wanted_id(const cJSON *ids, int id)
{
	if (!ids)
		return true;
	for (const cJSON *c = ids->child; c; c = c->next)
		if (cJSON_IsNumber(c) && (int)c->valuedouble == id)
			return true;
	return false;
}

static bool valid_ids(struct lc_bus_req *req, const cJSON *ids)
{
	bool ok = cJSON_IsArray(ids);
	for (const cJSON *c = ok ? ids->child : NULL; c && ok; c = c->next)
		ok = cJSON_IsNumber(c) && c->valuedouble >= 1 &&
		     c->valuedouble == floor(c->valuedouble);
	if (!ok) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "field", "strategy_ids");
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID, d,
					 "strategy_ids must be a list of ids");
	}
	return ok;
}

static void rpc_processes(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const keys[] = { "strategy_ids", NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	const cJSON *ids = cJSON_GetObjectItem(params, "strategy_ids");
	if (ids && !valid_ids(req, ids))
		return;
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < s->nbots; i++) {
		struct bot *b = s->bots[i];
		if (b->pid <= 0 || b->port <= 0 || !wanted_id(ids, b->id))
			continue;
		cJSON *p = stats_process(b);
		if (p)
			cJSON_AddItemToArray(arr, p);
	}
	cJSON *r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "processes", arr);
	lc_bus_reply_ok(req, r);
}

static void add_range(cJSON *o, const struct sup *s)
{
	char range[32];
	snprintf(range, sizeof(range), "%d-%d", s->pool.base,
		 s->pool.base + s->pool.n - 1);
	cJSON_AddStringToObject(o, "port_range", range);
}

static void rpc_port_pool(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const none[] = { NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, none))
		return;
	int64_t max = sup_cfg(s)->system.capacity.max_strategies;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "total_ports", s->pool.n);
	cJSON_AddNumberToObject(o, "available_ports",
				ports_available(&s->pool));
	cJSON_AddNumberToObject(o, "allocated_ports", s->pool.used);
	cJSON_AddNumberToObject(o, "running_strategies", s->slots_used);
	add_range(o, s);
	cJSON_AddNumberToObject(o, "max_concurrent",
				(double)(max < s->pool.n ? max : s->pool.n));
	lc_bus_reply_ok(req, o);
}

static void rpc_capacity(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const none[] = { NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, none))
		return;
	int64_t max = sup_cfg(s)->system.capacity.max_strategies;
	int64_t run = s->slots_used;
	double util = max > 0 ? round((double)run * 10000.0 / (double)max)
					/ 100.0 : 100.0;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "max_strategies", (double)max);
	cJSON_AddNumberToObject(o, "running_strategies", (double)run);
	cJSON_AddNumberToObject(o, "available_slots",
				(double)(run < max ? max - run : 0));
	cJSON_AddNumberToObject(o, "utilization_percent",
				util > 100 ? 100 : util);
	add_range(o, s);
	cJSON_AddBoolToObject(o, "can_start_more",
			      run < max && ports_available(&s->pool) > 0);
	cJSON_AddStringToObject(o, "architecture",
				"multi_instance_reverse_proxy");
	lc_bus_reply_ok(req, o);
}

/* ---- routes ---- */

static cJSON *route_json(const struct bot *b)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "strategy_id", b->id);
	cJSON_AddStringToObject(o, "name", bot_name(b));
	cJSON_AddStringToObject(o, "host", "127.0.0.1");
	cJSON_AddNumberToObject(o, "port", b->port);
	cJSON_AddStringToObject(o, "username", b->api_user);
	cJSON_AddStringToObject(o, "password", b->api_pass);
	cJSON_AddStringToObject(o, "ready_at",
				lc_clock_rfc3339(ts, b->started_ms > 0
						 ? b->started_ms
						 : lc_clock_wall_ms()));
	return o;
}

static void rpc_routes_list(struct lc_bus_req *req, cJSON *params,
			    void *arg)
{
	static const char *const none[] = { NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, none))
		return;
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < s->nbots; i++)
		if (s->bots[i]->state == BOT_RUNNING)
			cJSON_AddItemToArray(arr, route_json(s->bots[i]));
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "boot_id", s->boot_id);
	cJSON_AddNumberToObject(o, "seq", (double)s->route_seq);
	cJSON_AddItemToObject(o, "routes", arr);
	lc_bus_reply_ok(req, o);
}

static void rpc_routes_get(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const keys[] = { "strategy_id", NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	struct bot *b = rpc_bot(s, req, params, "strategy_id", NULL);
	if (!b)
		return;
	if (b->state != BOT_RUNNING) {
		lc_bus_reply_err(req, BTCW_ERR_NOT_FOUND,
				 "strategy %d is not running", b->id);
		return;
	}
	lc_bus_reply_ok(req, route_json(b));
}

int rpc_register_ops(struct sup *s)
{
	int rv = rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_START,
			    rpc_start);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_STOP, rpc_stop);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_STOP_ALL,
			 rpc_stop_all);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_COMMAND,
			 rpc_command);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_LOGS_GET, rpc_logs);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_PROCESSES_LIST,
			 rpc_processes);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_PORT_POOL_GET,
			 rpc_port_pool);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_CAPACITY_GET,
			 rpc_capacity);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_ROUTES_LIST,
			 rpc_routes_list);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_ROUTES_GET,
			 rpc_routes_get);
	return rv ? -1 : 0;
}
