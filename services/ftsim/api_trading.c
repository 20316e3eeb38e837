/*
 * api_trading: trades and money (api_trading.py, rpc.py): status, trades,
 * trade/{id}, profit, profit_all, balance, count, performance,
 * daily/weekly/monthly, stats, entries/exits/mix_tags, historic_balance.
 * A trade is LocalTrade.to_json() (/trades, every field) or, for /status
 * and /trade/{id}, its OpenTradeSchema (schema fields in schema order,
 * plus current rate and profit).
 */
#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ftsim/api.h"

struct tinfo {
	char base[MK_NAME_LEN], quote[MK_NAME_LEN];
	char tag[32], whybuf[32];
	const char *pair, *why;
	double tick, step;
};

static void info(struct ft_app *app, const struct ft_trade *t, struct tinfo *i)
{
	i->pair = app->mk.pairs[t->pair].name;
	bot_base(app, t->pair, i->base);
	bot_quote(app, t->pair, i->quote);
	char tag[32];
	snprintf(i->tag, sizeof(i->tag), "%s", trade_enter_tag(t, tag));
	i->why = trade_exit_reason(t, i->whybuf);
	i->tick = market_price_tick(t->open_rate);
	i->step = market_amount_step(t->open_rate);
}

static void add_date(cJSON *o, const char *key, int64_t us)
{
	char d[24];
	if (us)
		cJSON_AddStringToObject(o, key, ft_date(d, us));
	else
		cJSON_AddNullToObject(o, key);
}

static void add_ms(cJSON *o, const char *key, int64_t us)
{
	if (us)
		json_add_int(o, key, us / 1000);
	else
		cJSON_AddNullToObject(o, key);
}

static void add_opt(cJSON *o, const char *key, bool have, double v)
{
	if (have)
		json_add_float(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

/* ---- orders (Order.to_json / OrderSchema) ---- */

static cJSON *order_json(const struct ft_trade *t, const struct tinfo *i,
                         bool entry, bool schema)
{
	double price = entry ? t->open_rate : t->close_rate;
	int64_t us = entry ? t->open_us : t->close_us;
	double cost = fmt_round(t->amount * price, 8);
	char id[96];
	snprintf(id, sizeof(id), "dry_run_%s_%s_%d", entry ? "buy" : "sell",
	         i->pair, (t->id * 7919 + (entry ? 0 : 104729)) % 1000000);
	const char *otype =
	        !entry && t->exit_kind == EXIT_STOP_LOSS ? "market" : "limit";
	const char *tag = entry ? i->tag : i->why;
	cJSON *o = cJSON_CreateObject();
	if (schema) {
		cJSON_AddStringToObject(o, "pair", i->pair);
		cJSON_AddStringToObject(o, "order_id", id);
		cJSON_AddStringToObject(o, "status", "closed");
		json_add_float(o, "remaining", 0.0);
	}
	json_add_float(o, "amount", t->amount);
	json_add_float(o, "safe_price", price);
	if (schema) {
		json_add_float(o, "cost", cost);
		json_add_float(o, "filled", t->amount);
	}
	cJSON_AddStringToObject(o, "ft_order_side", entry ? "buy" : "sell");
	if (schema) {
		cJSON_AddStringToObject(o, "order_type", otype);
		cJSON_AddFalseToObject(o, "is_open");
		json_add_int(o, "order_timestamp", us / 1000);
	}
	json_add_int(o, "order_filled_timestamp", us / 1000);
	if (schema) {
		cJSON_AddNullToObject(o, "ft_fee_base");
		json_add_str(o, "ft_order_tag", tag);
		return o;
	}
	cJSON_AddBoolToObject(o, "ft_is_entry", entry);
	json_add_str(o, "ft_order_tag", tag);
	json_add_float(o, "cost", cost);
	cJSON_AddStringToObject(o, "pair", i->pair);
	cJSON_AddStringToObject(o, "order_id", id);
	cJSON_AddStringToObject(o, "status", "closed");
	json_add_float(o, "average", fmt_round(price, 8));
	json_add_float(o, "filled", t->amount);
	cJSON_AddFalseToObject(o, "is_open");
	add_date(o, "order_date", us);
	json_add_int(o, "order_timestamp", us / 1000);
	add_date(o, "order_filled_date", us);
	cJSON_AddStringToObject(o, "order_type", otype);
	json_add_float(o, "price", price);
	json_add_float(o, "remaining", 0.0);
	cJSON_AddNullToObject(o, "ft_fee_base");
	cJSON_AddNullToObject(o, "funding_fee");
	return o;
}

static cJSON *orders(const struct ft_trade *t, const struct tinfo *i,
                     bool schema)
{
	cJSON *a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, order_json(t, i, true, schema));
	if (!t->is_open)
		cJSON_AddItemToArray(a, order_json(t, i, false, schema));
	return a;
}

/* ---- the trade ---- */

static void head(cJSON *o, struct ft_app *app, const struct ft_trade *t,
                 const struct tinfo *i, bool schema)
{
	json_add_int(o, "trade_id", t->id);
	cJSON_AddStringToObject(o, "pair", i->pair);
	cJSON_AddStringToObject(o, "base_currency", i->base);
	cJSON_AddStringToObject(o, "quote_currency", i->quote);
	cJSON_AddBoolToObject(o, "is_open", t->is_open);
	if (schema)
		cJSON_AddFalseToObject(o, "is_short");
	cJSON_AddStringToObject(o, "exchange", app->cfg.exchange);
	json_add_float(o, "amount", fmt_round(t->amount, 8));
	json_add_float(o, "amount_requested", fmt_round(t->amount, 8));
	json_add_float(o, "stake_amount", fmt_round(t->stake_amount, 8));
	json_add_float(o, "max_stake_amount", fmt_round(t->stake_amount, 8));
	cJSON_AddStringToObject(o, "strategy", app->cfg.strategy);
	cJSON_AddStringToObject(o, "enter_tag", i->tag);
	json_add_int(o, "timeframe", app->cfg.tf_secs / 60);
	json_add_float(o, "fee_open", t->fee);
	json_add_float(o, "fee_open_cost",
	               fmt_round(t->amount * t->open_rate * t->fee, 8));
	cJSON_AddStringToObject(o, "fee_open_currency", i->quote);
	json_add_float(o, "fee_close", t->fee);
	add_opt(o, "fee_close_cost", !t->is_open,
	        fmt_round(t->amount * t->close_rate * t->fee, 8));
	json_add_str(o, "fee_close_currency", t->is_open ? NULL : i->quote);
	add_date(o, "open_date", t->open_us);
	json_add_int(o, "open_timestamp", t->open_us / 1000);
	add_date(o, "open_fill_date", t->open_us);
	json_add_int(o, "open_fill_timestamp", t->open_us / 1000);
	json_add_float(o, "open_rate", t->open_rate);
	json_add_float(o, "open_rate_requested", t->open_rate);
	json_add_float(o, "open_trade_value",
	               fmt_round(trade_open_value(t), 8));
	add_date(o, "close_date", t->is_open ? 0 : t->close_us);
	add_ms(o, "close_timestamp", t->is_open ? 0 : t->close_us);
}

static void stops(cJSON *o, const struct ft_trade *t)
{
	json_add_float(o, "stop_loss_abs", t->stop_loss);
	json_add_float(o, "stop_loss_ratio", t->stop_loss_pct);
	json_add_float(o, "stop_loss_pct", t->stop_loss_pct * 100);
	cJSON_AddNullToObject(o, "stoploss_last_update");
	cJSON_AddNullToObject(o, "stoploss_last_update_timestamp");
	json_add_float(o, "initial_stop_loss_abs", t->stop_loss);
	json_add_float(o, "initial_stop_loss_ratio", t->stop_loss_pct);
	json_add_float(o, "initial_stop_loss_pct", t->stop_loss_pct * 100);
	json_add_float(o, "min_rate", t->min_rate);
	json_add_float(o, "max_rate", t->max_rate);
	json_add_int(o, "nr_of_successful_entries", 1);
	json_add_int(o, "nr_of_successful_exits", t->is_open ? 0 : 1);
}

static void closed_profit(cJSON *o, const struct ft_trade *t, bool pct_keys)
{
	bool c = !t->is_open;
	bool nz = c && t->close_profit != 0;
	add_opt(o, "close_profit", c, t->close_profit);
	add_opt(o, "close_profit_pct", nz,
	        fmt_round(t->close_profit * 100, 2));
	add_opt(o, "close_profit_abs", c, t->close_profit_abs);
	if (!pct_keys)
		return;
	int64_t dur = c ? (t->close_us - t->open_us) / 1000000 : 0;
	if (c) {
		json_add_int(o, "trade_duration_s", dur);
		json_add_int(o, "trade_duration", dur / 60);
	} else {
		cJSON_AddNullToObject(o, "trade_duration_s");
		cJSON_AddNullToObject(o, "trade_duration");
	}
	add_opt(o, "profit_ratio", c, t->close_profit);
	add_opt(o, "profit_pct", nz, fmt_round(t->close_profit * 100, 2));
	add_opt(o, "profit_abs", c, t->close_profit_abs);
}

static void tail(cJSON *o, const struct ft_trade *t, const struct tinfo *i,
                 bool schema)
{
	if (!schema) {
		json_add_float(o, "leverage", 1.0);
		json_add_float(o, "interest_rate", 0.0);
		cJSON_AddNullToObject(o, "liquidation_price");
		cJSON_AddFalseToObject(o, "is_short");
		cJSON_AddStringToObject(o, "trading_mode", "spot");
		json_add_float(o, "funding_fees", 0.0);
	} else {
		cJSON_AddFalseToObject(o, "has_open_orders");
		cJSON_AddItemToObject(o, "orders", orders(t, i, true));
		json_add_float(o, "leverage", 1.0);
		json_add_float(o, "interest_rate", 0.0);
		cJSON_AddNullToObject(o, "liquidation_price");
		json_add_float(o, "funding_fees", 0.0);
		cJSON_AddStringToObject(o, "trading_mode", "spot");
	}
	json_add_float(o, "amount_precision", i->step);
	json_add_float(o, "price_precision", i->tick);
	json_add_int(o, "precision_mode", 4);
	if (schema)
		return;
	json_add_int(o, "precision_mode_price", 4);
	json_add_float(o, "contract_size", 1.0);
	cJSON_AddFalseToObject(o, "has_open_orders");
	cJSON_AddItemToObject(o, "orders", orders(t, i, false));
}

/* LocalTrade.to_json */
static cJSON *trade_full(struct ft_app *app, const struct ft_trade *t,
                         const struct tinfo *i)
{
	cJSON *o = cJSON_CreateObject();
	bool c = !t->is_open;
	head(o, app, t, i, false);
	json_add_float(o, "realized_profit", c ? t->close_profit_abs : 0.0);
	add_opt(o, "realized_profit_ratio", c && t->close_profit != 0,
	        t->close_profit);
	add_opt(o, "close_rate", c, t->close_rate);
	add_opt(o, "close_rate_requested", c, t->close_rate);
	closed_profit(o, t, true);
	json_add_str(o, "exit_reason", i->why);
	json_add_str(o, "exit_order_status", c ? "closed" : NULL);
	stops(o, t);
	tail(o, t, i, false);
	return o;
}

/* OpenTradeSchema, with _rpc_trade_status' current values. */
static cJSON *trade_status(struct ft_app *app, const struct ft_trade *t,
                           const struct tinfo *i)
{
	cJSON *o = cJSON_CreateObject();
	bool c = !t->is_open;
	double rate = c ? t->close_rate : bot_rate(app, t->pair);
	struct ft_profit p = trade_profit(t, rate);
	double ratio = c ? t->close_profit : p.ratio;
	double abs = c ? t->close_profit_abs : p.abs;
	bool fiat = app->cfg.fiat != NULL;
	head(o, app, t, i, true);
	add_opt(o, "close_rate", c, t->close_rate);
	add_opt(o, "close_rate_requested", c, t->close_rate);
	closed_profit(o, t, false);
	json_add_float(o, "profit_ratio", ratio);
	json_add_float(o, "profit_pct", fmt_round(ratio * 100, 2));
	json_add_float(o, "profit_abs", abs);
	add_opt(o, "profit_fiat", fiat, abs);
	json_add_float(o, "realized_profit", c ? t->close_profit_abs : 0.0);
	add_opt(o, "realized_profit_ratio", c && t->close_profit != 0,
	        t->close_profit);
	json_add_str(o, "exit_reason", i->why);
	json_add_str(o, "exit_order_status", c ? "closed" : NULL);
	stops(o, t);
	tail(o, t, i, true);
	double dist = market_round_price(t->stop_loss - rate, i->tick);
	double dr = fmt_round(dist / rate, 8);
	struct ft_profit se = trade_profit(t, t->stop_loss);
	json_add_float(o, "stoploss_current_dist", dist);
	json_add_float(o, "stoploss_current_dist_pct", fmt_round(dr * 100, 2));
	json_add_float(o, "stoploss_current_dist_ratio", dr);
	json_add_float(o, "stoploss_entry_dist", se.abs);
	json_add_float(o, "stoploss_entry_dist_ratio", fmt_round(se.ratio, 8));
	json_add_float(o, "current_rate", rate);
	json_add_float(o, "total_profit_abs", c ? 0.0 : p.total);
	add_opt(o, "total_profit_fiat", fiat, c ? 0.0 : p.total);
	add_opt(o, "total_profit_ratio", !c, p.total_ratio);
	return o;
}

cJSON *trade_json(struct ft_app *app, const struct ft_trade *t, bool status)
{
	struct tinfo i;
	info(app, t, &i);
	return status ? trade_status(app, t, &i) : trade_full(app, t, &i);
}

/* ---- endpoints ---- */

void h_status(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *a = cJSON_CreateArray();
	for (size_t k = 0; k < app->book.n; k++)
		if (app->book.t[k].is_open)
			cJSON_AddItemToArray(
			        a, trade_json(app, &app->book.t[k], true));
	reply_json(rq, 200, a);
}

void h_trades(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	long limit, offset;
	if (query_int(rq, "limit", 500, 1, 1000, &limit) != 0 ||
	    query_int(rq, "offset", 0, 0, 1L << 40, &offset) != 0)
		return;
	if (offset > 100000) {
		reply_detail(rq, 400, "Offset too large.");
		return;
	}
	cJSON *list = cJSON_CreateArray();
	long seen = 0, total = 0, got = 0;
	for (size_t k = 0; k < app->book.n; k++) {
		const struct ft_trade *t = &app->book.t[k];
		if (t->is_open)
			continue;
		total++;
		if (seen++ < offset || got >= limit)
			continue;
		cJSON_AddItemToArray(list, trade_json(app, t, false));
		got++;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "trades", list);
	json_add_int(o, "trades_count", got);
	json_add_int(o, "offset", offset);
	json_add_int(o, "total_trades", total);
	reply_json(rq, 200, o);
}

void h_trade(struct ft_req *rq)
{
	char *end;
	long id = strtol(rq->param, &end, 10);
	if (*end || !*rq->param) {
		cJSON *o = cJSON_CreateObject();
		cJSON *d = cJSON_AddArrayToObject(o, "detail");
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "type", "int_parsing");
		cJSON *loc = cJSON_AddArrayToObject(e, "loc");
		cJSON_AddItemToArray(loc, cJSON_CreateString("path"));
		cJSON_AddItemToArray(loc, cJSON_CreateString("tradeid"));
		cJSON_AddStringToObject(
		        e, "msg",
		        "Input should be a valid "
		        "integer, unable to parse string as an "
		        "integer");
		cJSON_AddStringToObject(e, "input", rq->param);
		cJSON_AddItemToArray(d, e);
		reply_json(rq, 422, o);
		return;
	}
	struct ft_trade *t = book_find(&rq->app->book, (int)id);
	if (!t) {
		reply_detail(rq, 404, "Trade not found.");
		return;
	}
	reply_json(rq, 200, trade_json(rq->app, t, true));
}

void h_profit(struct ft_req *rq)
{
	reply_json(rq, 200, stats_profit(rq->app));
}

/* ProfitAll: long and short are filled in futures mode only; spot (all
 * ftsim simulates) leaves the model's defaults, null. */
void h_profit_all(struct ft_req *rq)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "all", stats_profit(rq->app));
	cJSON_AddNullToObject(o, "long");
	cJSON_AddNullToObject(o, "short");
	reply_json(rq, 200, o);
}

void h_balance(struct ft_req *rq)
{
	reply_json(rq, 200, stats_balance(rq->app));
}

void h_count(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	if (app->state == FT_STOPPED) {
		reply_rpc_error(rq, "trader is not running");
		return;
	}
	double stake = 0;
	for (size_t k = 0; k < app->book.n; k++)
		if (app->book.t[k].is_open)
			stake += app->book.t[k].open_rate *
			         app->book.t[k].amount;
	cJSON *o = cJSON_CreateObject();
	json_add_int(o, "current", (int64_t)book_open_count(&app->book));
	json_add_int(o, "max", app->cfg.max_open_trades);
	json_add_float(o, "total_stake", stake);
	reply_json(rq, 200, o);
}

void h_performance(struct ft_req *rq)
{
	reply_json(rq, 200, stats_performance(rq->app, "pair"));
}

void h_entries(struct ft_req *rq)
{
	const char *by = strcmp(rq->path, "/entries") == 0 ? "enter_tag"
	                 : strcmp(rq->path, "/exits") == 0 ? "exit_reason"
	                                                   : "mix_tag";
	reply_json(rq, 200, stats_performance(rq->app, by));
}

void h_daily(struct ft_req *rq)
{
	char unit = rq->path[1]; /* 'd', 'w', 'm' */
	long n;
	long def = unit == 'd' ? 7 : unit == 'w' ? 4 : 3;
	if (query_int(rq, "timescale", def, 1, 100000, &n) != 0)
		return;
	reply_json(rq, 200, stats_timeunit(rq->app, (int)n, unit));
}

void h_stats(struct ft_req *rq)
{
	reply_json(rq, 200, stats_stats(rq->app));
}

void h_historic_balance(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *o = cJSON_CreateObject();
	cJSON *cols = cJSON_AddArrayToObject(o, "columns");
	cJSON_AddItemToArray(cols, cJSON_CreateString("__date_ts"));
	cJSON_AddItemToArray(cols, cJSON_CreateString("total_quote"));
	cJSON_AddItemToArray(cols, cJSON_CreateString("total_bot"));
	cJSON *data = cJSON_AddArrayToObject(o, "data");
	for (size_t k = 0; k < app->nhistoric; k++) {
		cJSON *r = cJSON_CreateArray();
		cJSON_AddItemToArray(
		        r, json_int((int64_t)app->historic[k][0] * 1000));
		cJSON_AddItemToArray(r, json_float(app->historic[k][1]));
		cJSON_AddItemToArray(r, json_float(app->historic[k][1]));
		cJSON_AddItemToArray(data, r);
	}
	json_add_int(o, "length", (int64_t)app->nhistoric);
	if (app->nhistoric)
		json_add_int(o, "capture_start_ts",
		             (int64_t)app->historic[0][0] * 1000);
	else
		cJSON_AddNullToObject(o, "capture_start_ts");
	reply_json(rq, 200, o);
}
