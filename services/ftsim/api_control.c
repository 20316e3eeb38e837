/*
 * api_control: login and token refresh (api_auth.py), the bot-control
 * endpoints (start, stop, pause and its aliases, reload_config: rpc.py
 * _rpc_start/_rpc_stop/_rpc_pause/_rpc_reload_config) and the trade
 * commands forceenter, forceexit and DELETE /trades/{id}.
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "services/ftsim/api.h"

static void status_msg(struct ft_req *rq, const char *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", s);
	reply_json(rq, 200, o);
}

static void unauthorized(struct ft_req *rq, const char *text, const char *www)
{
	if (www)
		evhttp_add_header(evhttp_request_get_output_headers(rq->r),
		                  "WWW-Authenticate", www);
	reply_detail(rq, 401, text);
}

static const char *scheme_param(struct ft_req *rq, const char *scheme)
{
	const char *h = evhttp_find_header(
	        evhttp_request_get_input_headers(rq->r), "Authorization");
	size_t sl = strlen(scheme);
	if (!h || strncasecmp(h, scheme, sl) != 0 || h[sl] != ' ')
		return NULL;
	return h + sl + 1;
}

static void tokens_reply(struct ft_req *rq, const char *user, bool refresh)
{
	char *acc = auth_token(&rq->app->cfg, user, "access");
	char *ref =
	        refresh ? auth_token(&rq->app->cfg, user, "refresh") : NULL;
	if (!acc || (refresh && !ref)) {
		free(acc);
		free(ref);
		reply_detail(rq, 500, "Internal Server Error");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "access_token", acc);
	if (ref)
		cJSON_AddStringToObject(o, "refresh_token", ref);
	free(acc);
	free(ref);
	reply_json(rq, 200, o);
}

void h_login(struct ft_req *rq)
{
	char user[256], pass[256];
	const char *b = scheme_param(rq, "basic");
	if (!b) {
		unauthorized(rq, "Not authenticated", "Basic");
		return;
	}
	if (auth_parse_basic(b, user, sizeof(user), pass, sizeof(pass)) != 0) {
		unauthorized(rq, "Invalid authentication credentials",
		             "Basic");
		return;
	}
	if (!auth_check_password(&rq->app->cfg, user, pass)) {
		unauthorized(rq, "Incorrect username or password", NULL);
		return;
	}
	tokens_reply(rq, user, true);
}

void h_refresh(struct ft_req *rq)
{
	char user[64];
	const char *t = scheme_param(rq, "bearer");
	if (!t || !auth_check_token(&rq->app->cfg, t, "refresh", user)) {
		unauthorized(rq, "Could not validate credentials", "Bearer");
		return;
	}
	tokens_reply(rq, user, false);
}

void h_start(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	if (app->state == FT_RUNNING) {
		status_msg(rq, "already running");
		return;
	}
	app->state = FT_RUNNING;
	status_msg(rq, "starting trader ...");
}

void h_stop(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	if (app->state == FT_STOPPED) {
		status_msg(rq, "already stopped");
		return;
	}
	app->state = FT_STOPPED;
	status_msg(rq, "stopping trader ...");
}

void h_pause(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	if (app->state == FT_RUNNING)
		app->state = FT_PAUSED;
	if (app->state == FT_STOPPED) {
		app->state = FT_PAUSED;
		status_msg(rq, "starting bot with trader in paused state, no "
		               "entries will occur. Run /start to enable "
		               "entries.");
		return;
	}
	status_msg(rq, "paused, no more entries will occur from now. Run "
	               "/start to enable entries.");
}

void h_reload_config(struct ft_req *rq)
{
	rq->app->state = FT_RELOAD_CONFIG;
	status_msg(rq, "Reloading config ...");
}

static void missing_field(struct ft_req *rq, const char *name)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *d = cJSON_AddArrayToObject(o, "detail");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "missing");
	cJSON *loc = cJSON_AddArrayToObject(e, "loc");
	cJSON_AddItemToArray(loc, cJSON_CreateString("body"));
	cJSON_AddItemToArray(loc, cJSON_CreateString(name));
	cJSON_AddStringToObject(e, "msg", "Field required");
	cJSON_AddItemToArray(d, e);
	reply_json(rq, 422, o);
}

static const char *force_enter_check(struct ft_app *app, const char *pair,
                                     const char *side, char *buf, size_t n)
{
	if (!app->cfg.force_entry_enable)
		return "Force_entry not enabled.";
	if (app->state != FT_RUNNING)
		return "trader is not running";
	if (side && strcmp(side, "short") == 0)
		return "Can't go short on Spot markets.";
	int i = market_find(&app->mk, pair);
	if (i < 0)
		return "Symbol does not exist or market is not active.";
	char q[MK_NAME_LEN];
	if (strcmp(bot_quote(app, (uint16_t)i, q), app->cfg.stake_currency)) {
		snprintf(buf, n,
		         "Wrong pair selected. Only pairs with "
		         "stake-currency %s allowed.",
		         app->cfg.stake_currency);
		return buf;
	}
	for (size_t k = 0; k < app->book.n; k++)
		if (app->book.t[k].is_open && app->book.t[k].pair == i) {
			snprintf(buf, n,
			         "position for %s already open - id: %d", pair,
			         app->book.t[k].id);
			return buf;
		}
	int max = app->cfg.max_open_trades;
	if (max >= 0 && (int)book_open_count(&app->book) >= max)
		return "Maximum number of trades is reached.";
	return NULL;
}

void h_forceenter(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *b = request_json(rq);
	const char *pair = cJSON_GetStringValue(jget(b, "pair"));
	const char *side = cJSON_GetStringValue(jget(b, "side"));
	const cJSON *st = jget(b, "stakeamount");
	char buf[200];
	if (!pair) {
		cJSON_Delete(b);
		missing_field(rq, "pair");
		return;
	}
	const char *err = force_enter_check(app, pair, side, buf, sizeof(buf));
	if (err) {
		cJSON_Delete(b);
		reply_rpc_error(rq, err);
		return;
	}
	struct ft_trade *t =
	        bot_force_enter(app, (uint16_t)market_find(&app->mk, pair),
	                        cJSON_IsNumber(st) ? st->valuedouble : 0);
	cJSON_Delete(b);
	if (!t) {
		snprintf(buf, sizeof(buf), "Failed to enter position for %s.",
		         pair);
		reply_rpc_error(rq, buf);
		return;
	}
	reply_json(rq, 200, trade_json(app, t, false));
}

static void result_msg(struct ft_req *rq, const char *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "result", s);
	reply_json(rq, 200, o);
}

void h_forceexit(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *b = request_json(rq);
	const cJSON *id = jget(b, "tradeid");
	char buf[128];
	if (!id) {
		cJSON_Delete(b);
		missing_field(rq, "tradeid");
		return;
	}
	if (app->state == FT_STOPPED) {
		cJSON_Delete(b);
		reply_rpc_error(rq, "trader is not running");
		return;
	}
	if (cJSON_IsString(id) && strcmp(id->valuestring, "all") == 0) {
		cJSON_Delete(b);
		for (size_t i = 0; i < app->book.n; i++)
			if (app->book.t[i].is_open)
				bot_force_exit(app, &app->book.t[i]);
		result_msg(rq, "Created exit orders for all open trades.");
		return;
	}
	int n = cJSON_IsNumber(id)   ? (int)id->valuedouble
	        : cJSON_IsString(id) ? (int)strtol(id->valuestring, NULL, 10)
	                             : -1;
	cJSON_Delete(b);
	struct ft_trade *t = book_find(&app->book, n);
	if (!t || !t->is_open) {
		ftlog(FTL_WARNING, "freqtrade.rpc.rpc",
		      "force_exit: Invalid argument received");
		reply_rpc_error(rq, "invalid argument");
		return;
	}
	bot_force_exit(app, t);
	snprintf(buf, sizeof(buf), "Created exit order for trade %d.", n);
	result_msg(rq, buf);
}

void h_delete_trade(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	char *end;
	long id = strtol(rq->param, &end, 10);
	char buf[200];
	if (*end || !*rq->param) {
		reply_invalid_int(rq, "tradeid", rq->param, "int_parsing",
		                  "Input should be a valid integer, unable to "
		                  "parse string as an integer");
		return;
	}
	struct ft_trade *t = book_find(&app->book, (int)id);
	if (!t) {
		snprintf(buf, sizeof(buf), "Trade with id '%ld' not found.",
		         id);
		reply_rpc_error(rq, buf);
		return;
	}
	char pair[MK_NAME_LEN];
	snprintf(pair, sizeof(pair), "%s", app->mk.pairs[t->pair].name);
	size_t idx = (size_t)(t - app->book.t);
	memmove(t, t + 1, (app->book.n - idx - 1) * sizeof(*t));
	app->book.n--;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "result", "success");
	json_add_int(o, "trade_id", id);
	snprintf(buf, sizeof(buf),
	         "Deleted trade #%ld for pair %s. Closed 0 open orders.", id,
	         pair);
	cJSON_AddStringToObject(o, "result_msg", buf);
	json_add_int(o, "cancel_order_count", 0);
	reply_json(rq, 200, o);
}
