/*
 * bot: the worker (worker.py) and a simulated strategy (freqtradebot.py).
 *
 * One iteration every process_throttle_secs: announce a state change
 * (STATUS "<state>", startup messages when trading starts), manage open
 * trades (ROI, stoploss, exit signal), open new ones at the configured
 * rate while RUNNING (not PAUSED), log the heartbeat. Every message goes
 * through the outbox, and the iteration only ends once the outbox has
 * drained: a slow webhook (with its retries) delays trading exactly as
 * FreqTrade's synchronous webhook does, while the API keeps answering.
 */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libcommon/clock.h"
#include "services/ftsim/ftsim.h"

#define LOG_W "freqtrade.worker"
#define LOG_B "freqtrade.freqtradebot"
#define LOG_PL "freqtrade.plugins.pairlistmanager"
#define MIN_STAKE 5.0 /* an exchange's minimum order value */

static void on_tick(evutil_socket_t fd, short what, void *arg);

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	app_reconfigure(arg);
}

/* ---- setup ---- */

static void whitelist_to_market(struct ft_app *app, int64_t now_s)
{
	const cJSON *p;
	cJSON_ArrayForEach (p, app->cfg.whitelist)
		if (market_add(&app->mk, p->valuestring, now_s) < 0)
			ftlog(FTL_WARNING, LOG_B,
			      "Too many pairs, ignoring %s", p->valuestring);
}

int bot_init(struct ft_app *app)
{
	struct ft_cfg *c = &app->cfg;
	int64_t now_s = ft_now_us() / 1000000;
	if (app->mk.n == 0) { /* first start; a reload keeps the market */
		market_init(&app->mk, c->sim.seed, NULL, 0, c->tf_secs,
		            c->sim.volatility, now_s);
		book_init(&app->book, c->wallet, c->tradable_ratio);
		app->rng = c->sim.seed * 2654435761ULL + 0x9E3779B9ULL;
	}
	app->book.tradable_ratio = c->tradable_ratio;
	whitelist_to_market(app, now_s);
	cJSON_Delete(app->blacklist);
	app->blacklist = c->blacklist ? cJSON_Duplicate(c->blacklist, 1)
	                              : cJSON_CreateArray();
	/* PairListManager starts from the configured list; the first
	 * iteration's refresh applies the blacklist */
	cJSON_Delete(app->active_wl);
	app->active_wl = cJSON_Duplicate(c->whitelist, 1);
	/* a new strategy object has seen no candle yet */
	memset(app->candle_seen, 0, sizeof(app->candle_seen));
	app->state =
	        c->initial_state == FT_NONE ? FT_STOPPED : c->initial_state;
	struct lc_buf wl;
	const cJSON *p;
	int rc = 0;
	lc_buf_init(&wl, 8192);
	cJSON_ArrayForEach (p, c->whitelist)
		rc |= lc_buf_printf(&wl, "%s'%s'", wl.len ? ", " : "",
		                    p->valuestring);
	ftlog(FTL_INFO, LOG_B, "Starting initial pairlist refresh");
	ftlog(FTL_INFO, "freqtrade.plugins.pairlistmanager",
	      "Whitelist with %d pairs: [%s]",
	      cJSON_GetArraySize(c->whitelist),
	      rc == 0 && wl.data ? wl.data : "");
	lc_buf_release(&wl);
	return 0;
}

void bot_release(struct ft_app *app)
{
	bot_stop_worker(app);
	cJSON_Delete(app->blacklist);
	app->blacklist = NULL;
	cJSON_Delete(app->active_wl);
	app->active_wl = NULL;
}

void bot_start_worker(struct ft_app *app)
{
	if (!app->tick_ev)
		app->tick_ev = evtimer_new(app->base, on_tick, app);
	app->worker_started = true;
	struct timeval tv = { 0, 0 };
	if (app->tick_ev)
		evtimer_add(app->tick_ev, &tv);
}

void bot_stop_worker(struct ft_app *app)
{
	if (app->tick_ev)
		event_free(app->tick_ev);
	app->tick_ev = NULL;
	app->worker_started = false;
	app->tick_waiting = false;
}

/* ---- helpers ---- */

double bot_rate(struct ft_app *app, uint16_t pair)
{
	return market_price(&app->mk, pair);
}

const char *bot_base(struct ft_app *app, uint16_t pair, char *out)
{
	const char *n = app->mk.pairs[pair].name;
	snprintf(out, MK_NAME_LEN, "%.*s", (int)strcspn(n, "/"), n);
	return out;
}

const char *bot_quote(struct ft_app *app, uint16_t pair, char *out)
{
	const char *n = app->mk.pairs[pair].name;
	const char *s = strchr(n, '/');
	snprintf(out, MK_NAME_LEN, "%.*s", s ? (int)strcspn(s + 1, ":") : 0,
	         s ? s + 1 : "");
	return out;
}

/* "binance" -> "Binance" (str.capitalize) */
static void exchange_cap(const char *ex, char *out, size_t n)
{
	snprintf(out, n, "%s", ex);
	for (char *c = out; *c; c++)
		*c = (char)(c == out
		                    ? (*c >= 'a' && *c <= 'z' ? *c - 32 : *c)
		                    : (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
}

static void add_common(struct ft_app *app, struct ft_msg *m,
                       const struct ft_trade *t)
{
	char ex[64];
	exchange_cap(app->cfg.exchange, ex, sizeof(ex));
	msg_add(m, "trade_id", PV_I(t->id));
	msg_add_str(m, "exchange", ex);
	msg_add_str(m, "pair", app->mk.pairs[t->pair].name);
	msg_add(m, "leverage", PV_F(1.0));
	msg_add(m, "direction", PV_S("Long"));
}

static void add_currencies(struct ft_app *app, struct ft_msg *m,
                           const struct ft_trade *t)
{
	char b[MK_NAME_LEN], q[MK_NAME_LEN];
	msg_add_str(m, "stake_currency", app->cfg.stake_currency);
	msg_add_str(m, "base_currency", bot_base(app, t->pair, b));
	msg_add_str(m, "quote_currency", bot_quote(app, t->pair, q));
	msg_add_str(m, "fiat_currency", app->cfg.fiat);
}

/* _notify_enter */
static void notify_enter(struct ft_app *app, const struct ft_trade *t,
                         bool fill)
{
	struct ft_msg *m = msg_new(fill ? MSG_ENTRY_FILL : MSG_ENTRY);
	char tag[32];
	if (!m)
		return;
	trade_enter_tag(t, tag);
	add_common(app, m, t);
	msg_add_str(m, "buy_tag", tag);
	msg_add_str(m, "enter_tag", tag);
	msg_add(m, "limit", PV_F(t->open_rate));
	msg_add(m, "order_rate", PV_F(t->open_rate));
	msg_add(m, "open_rate", PV_F(t->open_rate));
	msg_add(m, "order_type", PV_S("limit"));
	msg_add(m, "stake_amount", PV_F(t->stake_amount));
	add_currencies(app, m, t);
	msg_add(m, "amount", PV_F(t->amount));
	msg_add(m, "open_date", PV_D(t->open_us, true));
	msg_add(m, "current_rate", PV_F(bot_rate(app, t->pair)));
	msg_add(m, "sub_trade", PV_B(false));
	rpc_send(app, m);
}

/* _notify_exit: before the fill the trade is still open. */
static void notify_exit(struct ft_app *app, const struct ft_trade *t,
                        bool fill)
{
	struct ft_msg *m = msg_new(fill ? MSG_EXIT_FILL : MSG_EXIT);
	char tag[32], why[32];
	if (!m)
		return;
	struct ft_profit p = trade_profit(t, t->close_rate);
	add_common(app, m, t);
	msg_add(m, "gain", PV_S(p.ratio > 0 ? "profit" : "loss"));
	msg_add(m, "limit", PV_F(t->close_rate));
	msg_add(m, "order_rate", PV_F(t->close_rate));
	msg_add(m, "order_type",
	        PV_S(t->exit_kind == EXIT_STOP_LOSS ? "market" : "limit"));
	msg_add(m, "amount", PV_F(t->amount));
	msg_add(m, "open_rate", PV_F(t->open_rate));
	msg_add(m, "close_rate", PV_F(t->close_rate));
	msg_add(m, "current_rate",
	        fill ? PV_NONE_V : PV_F(bot_rate(app, t->pair)));
	msg_add(m, "profit_amount", PV_F(p.abs));
	msg_add(m, "profit_ratio", PV_F(p.ratio));
	msg_add_str(m, "buy_tag", trade_enter_tag(t, tag));
	msg_add_str(m, "enter_tag", tag);
	msg_add_str(m, "exit_reason", trade_exit_reason(t, why));
	msg_add(m, "open_date", PV_D(t->open_us, true));
	msg_add(m, "close_date",
	        PV_D(t->is_open ? ft_now_us() : t->close_us, true));
	msg_add(m, "stake_amount", PV_F(t->stake_amount));
	add_currencies(app, m, t);
	msg_add(m, "sub_trade", PV_B(false));
	msg_add(m, "cumulative_profit",
	        PV_F(t->is_open ? 0.0 : t->close_profit_abs));
	msg_add(m, "final_profit_ratio",
	        t->is_open ? PV_NONE_V : PV_F(t->close_profit));
	msg_add(m, "is_final_exit", PV_B(!t->is_open));
	rpc_send(app, m);
}

/* The strategy's own message (dp.send_msg): JSON with the strength. */
static void strategy_msg(struct ft_app *app, const struct ft_trade *t)
{
	if (!app->cfg.sim.strategy_msg || !app->cfg.wh.allow_custom)
		return;
	double rsi = 20 + 20 * mk_rand(&app->rng);
	char f1[FMT_FLOAT_LEN], f2[FMT_FLOAT_LEN], f3[FMT_FLOAT_LEN];
	char text[400];
	snprintf(text, sizeof(text),
	         "{\"signal_strength\": %s, \"pair\": \"%s\", \"side\": "
	         "\"long\", \"rsi\": %s, \"close\": %s, \"timeframe\": "
	         "\"%s\"}",
	         fmt_float_repr(f1, fmt_round(t->strength, 2)),
	         app->mk.pairs[t->pair].name,
	         fmt_float_repr(f2, fmt_round(rsi, 2)),
	         fmt_float_repr(f3, t->open_rate), app->cfg.timeframe);
	ftlog(FTL_INFO, "freqtrade.rpc.rpc_manager",
	      "Sending rpc strategy_msg: %s", text);
	struct ft_msg *m = msg_new(MSG_STRATEGY_MSG);
	msg_add_str(m, "msg", text);
	rpc_send(app, m);
}

/* ---- trading ---- */

static bool in_whitelist(struct ft_app *app, size_t pair)
{
	const cJSON *w;
	cJSON_ArrayForEach (w, app->cfg.whitelist)
		if (strcmp(w->valuestring, app->mk.pairs[pair].name) == 0)
			return true;
	return false;
}

static bool pair_busy(struct ft_app *app, size_t pair)
{
	for (size_t i = 0; i < app->book.n; i++)
		if (app->book.t[i].is_open && app->book.t[i].pair == pair)
			return true;
	const cJSON *b;
	cJSON_ArrayForEach (b, app->blacklist)
		if (cJSON_IsString(b) &&
		    strcmp(b->valuestring, app->mk.pairs[pair].name) == 0)
			return true;
	return false;
}

/* Wallets.get_trade_stake_amount */
static double stake_for_trade(struct ft_app *app)
{
	struct ft_book *b = &app->book;
	double avail = book_total_stake(b) - book_open_stakes(b);
	double fr = book_free(b);
	avail = avail < fr ? avail : fr;
	double stake = app->cfg.stake_amount;
	if (stake < 0) { /* unlimited */
		int slots = app->cfg.max_open_trades - (int)book_open_count(b);
		if (app->cfg.max_open_trades < 0 || slots <= 0)
			return 0;
		stake = avail / slots;
	}
	return stake < avail ? stake : avail;
}

static struct ft_trade *open_trade(struct ft_app *app, uint16_t pair,
                                   double stake, float strength)
{
	double rate = bot_rate(app, pair);
	if (!(rate > 0) || stake < MIN_STAKE)
		return NULL;
	double amount =
	        market_floor_amount(stake / rate, market_amount_step(rate));
	if (amount * rate < MIN_STAKE)
		return NULL;
	struct ft_trade *t = book_add(&app->book);
	if (!t)
		return NULL;
	int64_t now = ft_now_us();
	t->pair = pair;
	t->strength = strength;
	t->open_us = now;
	t->open_rate = rate;
	t->amount = amount;
	t->stake_amount = fmt_round(amount * rate, 8);
	t->fee = 0.001;
	t->stop_loss_pct = app->cfg.stoploss;
	t->stop_loss = market_round_price(rate * (1 + app->cfg.stoploss),
	                                  market_price_tick(rate));
	t->min_rate = t->max_rate = rate;
	double span = app->cfg.sim.max_trade_s - app->cfg.sim.min_trade_s;
	t->planned_exit_us = now + (int64_t)((app->cfg.sim.min_trade_s +
	                                      span * mk_rand(&app->rng)) *
	                                     1e6);
	if (!app->bot_start_us)
		app->bot_start_us = now;
	char sa[FMT_FLOAT_LEN], pr[FMT_FLOAT_LEN];
	ftlog(FTL_INFO, LOG_B,
	      "Long signal found: about create a new trade for %s with "
	      "stake_amount: %s and price: %s ...",
	      app->mk.pairs[pair].name, fmt_float_repr(sa, t->stake_amount),
	      fmt_float_repr(pr, rate));
	return t;
}

static void enter_notify(struct ft_app *app, struct ft_trade *t)
{
	/* the book may move: notify by id */
	int id = t->id;
	notify_enter(app, book_find(&app->book, id), false);
	notify_enter(app, book_find(&app->book, id), true);
}

struct ft_trade *bot_force_enter(struct ft_app *app, uint16_t pair,
                                 double stake)
{
	if (stake <= 0)
		stake = stake_for_trade(app);
	struct ft_trade *t = open_trade(app, pair, stake, -1);
	if (t)
		enter_notify(app, t);
	return t;
}

static void maybe_enter(struct ft_app *app)
{
	struct ft_cfg *c = &app->cfg;
	double expect = c->sim.entries_per_minute * c->throttle_secs / 60.0;
	int n = (int)expect + (mk_rand(&app->rng) < expect - floor(expect));
	for (int k = 0; k < n; k++) {
		int open = (int)book_open_count(&app->book);
		if (c->max_open_trades >= 0 && open >= c->max_open_trades)
			return;
		size_t np = app->mk.n,
		       start = (size_t)(mk_rand(&app->rng) * np);
		for (size_t j = 0; j < np; j++) {
			size_t p = (start + j) % np;
			if (pair_busy(app, p) || !in_whitelist(app, p))
				continue;
			float s = (float)fmt_round(
			        0.3 + 0.69 * mk_rand(&app->rng), 2);
			struct ft_trade *t = open_trade(
			        app, (uint16_t)p, stake_for_trade(app), s);
			if (t) {
				int id = t->id;
				enter_notify(app, t);
				strategy_msg(app, book_find(&app->book, id));
			}
			break;
		}
	}
}

static void close_trade(struct ft_app *app, struct ft_trade *t, int kind,
                        double rate)
{
	char why[32];
	t->exit_kind = (uint8_t)kind;
	t->close_rate = rate;
	if (kind == EXIT_SIGNAL)
		t->exit_strength =
		        (float)fmt_round(0.3 + 0.69 * mk_rand(&app->rng), 2);
	const char *r = trade_exit_reason(t, why);
	if (kind == EXIT_SIGNAL)
		ftlog(FTL_INFO, LOG_B,
		      "Exit for %s detected. Reason: exit_signal Tag: %s",
		      app->mk.pairs[t->pair].name, r);
	else
		ftlog(FTL_INFO, LOG_B, "Exit for %s detected. Reason: %s",
		      app->mk.pairs[t->pair].name, r);
	notify_exit(app, t, false);
	struct ft_profit p = trade_profit(t, rate);
	t->is_open = false;
	t->close_us = ft_now_us();
	t->close_profit = p.ratio;
	t->close_profit_abs = p.abs;
	notify_exit(app, t, true);
}

int bot_force_exit(struct ft_app *app, struct ft_trade *t)
{
	if (!t || !t->is_open)
		return -1;
	close_trade(app, t, EXIT_FORCE, bot_rate(app, t->pair));
	return 0;
}

/* minimal_roi: the threshold for the largest key <= the trade's age. */
static bool roi_reached(struct ft_app *app, const struct ft_trade *t,
                        double ratio, int64_t now)
{
	double age_min = (double)(now - t->open_us) / 60e6;
	double best_key = -1, thr = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, app->cfg.minimal_roi) {
		double k = strtod(e->string, NULL);
		if (cJSON_IsNumber(e) && k <= age_min && k > best_key) {
			best_key = k;
			thr = e->valuedouble;
		}
	}
	return best_key >= 0 && ratio >= thr;
}

static void manage_open(struct ft_app *app, int64_t now)
{
	for (size_t i = 0; i < app->book.n; i++) {
		struct ft_trade *t = &app->book.t[i];
		if (!t->is_open)
			continue;
		double rate = bot_rate(app, t->pair);
		t->min_rate = rate < t->min_rate ? rate : t->min_rate;
		t->max_rate = rate > t->max_rate ? rate : t->max_rate;
		double ratio = trade_profit(t, rate).ratio;
		int kind = EXIT_NONE;
		if (rate <= t->stop_loss)
			kind = EXIT_STOP_LOSS;
		else if (roi_reached(app, t, ratio, now))
			kind = EXIT_ROI;
		else if (now >= t->planned_exit_us)
			kind = EXIT_SIGNAL;
		if (kind != EXIT_NONE)
			close_trade(app, t, kind, rate);
	}
}

static void sample_wallet(struct ft_app *app, int64_t now)
{
	size_t cap = sizeof(app->historic) / sizeof(app->historic[0]);
	if (app->nhistoric == cap) {
		memmove(app->historic, app->historic + 1,
		        (cap - 1) * sizeof(app->historic[0]));
		app->nhistoric--;
	}
	double total = book_free(&app->book);
	for (size_t i = 0; i < app->book.n; i++)
		if (app->book.t[i].is_open)
			total += app->book.t[i].amount *
			         bot_rate(app, app->book.t[i].pair);
	app->historic[app->nhistoric][0] = (double)(now / 1000000);
	app->historic[app->nhistoric][1] = total;
	app->nhistoric++;
}

/* ---- pairlist and candles ---- */

static bool listed(const cJSON *list, const char *pair)
{
	const cJSON *e;
	cJSON_ArrayForEach (e, list)
		if (cJSON_IsString(e) && strcmp(e->valuestring, pair) == 0)
			return true;
	return false;
}

/* A list of pairs as Python prints it: ['BTC/USDT', 'ETH/USDT'] */
static char *py_list(const cJSON *list)
{
	struct lc_buf b;
	const cJSON *e;
	int rc = 0;
	lc_buf_init(&b, 65536);
	rc |= lc_buf_append_str(&b, "[");
	cJSON_ArrayForEach (e, list)
		rc |= lc_buf_printf(&b, "%s'%s'", e == list->child ? "" : ", ",
		                    e->valuestring);
	rc |= lc_buf_append_str(&b, "]");
	char *s = rc == 0 ? lc_buf_detach(&b, NULL) : NULL;
	lc_buf_release(&b);
	return s;
}

/* _refresh_active_whitelist: the configured pairs minus the blacklist,
 * plus the pairs of open trades; a WHITELIST message when it changed. */
static void refresh_whitelist(struct ft_app *app)
{
	cJSON *wl = cJSON_CreateArray();
	const cJSON *p;
	cJSON_ArrayForEach (p, app->cfg.whitelist) {
		const char *pair = p->valuestring;
		if (!listed(app->blacklist, pair))
			cJSON_AddItemToArray(wl, cJSON_CreateString(pair));
		else if (listed(app->active_wl, pair))
			ftlog(FTL_WARNING, LOG_PL,
			      "Pair %s in your blacklist. Removing it from "
			      "whitelist...",
			      pair);
	}
	for (size_t i = 0; i < app->book.n; i++) {
		const char *name = app->mk.pairs[app->book.t[i].pair].name;
		if (app->book.t[i].is_open && !listed(wl, name))
			cJSON_AddItemToArray(wl, cJSON_CreateString(name));
	}
	if (cJSON_Compare(wl, app->active_wl, true)) {
		cJSON_Delete(wl);
		return;
	}
	cJSON_Delete(app->active_wl);
	app->active_wl = wl;
	struct ft_msg *m = msg_new(MSG_WHITELIST);
	char *repr = py_list(wl), *js = cJSON_PrintUnformatted(wl);
	msg_add_str(m, "data", repr ? repr : "[]");
	msg_add_str(m, "data_json", js ? js : "[]");
	free(repr);
	free(js);
	rpc_send(app, m);
}

/* A (pair, timeframe, candle_type) key as JSON and as Python. */
static void pair_key(struct ft_app *app, size_t pair, char *js, char *py,
                     size_t n)
{
	const char *name = app->mk.pairs[pair].name;
	snprintf(js, n, "[\"%s\",\"%s\",\"spot\"]", name,
	         app->cfg.timeframe);
	snprintf(py, n, "('%s', '%s', <CandleType.SPOT: 'spot'>)", name,
	         app->cfg.timeframe);
}

/* DataProvider._emit_df for a new candle: ANALYZED_DF with the closed
 * candle (dataframe.tail(1)), then NEW_CANDLE with the pair's key. */
static void emit_candle(struct ft_app *app, size_t pair, int64_t candle_s)
{
	char kj[MK_NAME_LEN + 64], kp[MK_NAME_LEN + 64], la[48], lp[120];
	int64_t now = ft_now_us();
	pair_key(app, pair, kj, kp, sizeof(kj));
	fmt_date_str(la, now, true);
	la[10] = 'T'; /* orjson's datetime */
	struct tm tm;
	time_t secs = (time_t)(now / 1000000);
	gmtime_r(&secs, &tm);
	snprintf(lp, sizeof(lp),
	         "datetime.datetime(%d, %d, %d, %d, %d, %d, %d, "
	         "tzinfo=datetime.timezone.utc)",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(now % 1000000));
	char *df = msgws_frame_json(app, pair, 1, candle_s);
	cJSON *data = cJSON_CreateObject();
	cJSON_AddRawToObject(data, "key", kj);
	cJSON *f = cJSON_AddObjectToObject(data, "df");
	cJSON_AddStringToObject(f, "__type__", "dataframe");
	cJSON_AddStringToObject(f, "__value__", df ? df : "{}");
	cJSON_AddStringToObject(data, "la", la);
	char *js = cJSON_PrintUnformatted(data);
	cJSON_Delete(data);
	free(df);
	char repr[512];
	snprintf(repr, sizeof(repr),
	         "{'key': %s, 'df': <DataFrame: 1 rows x 6 columns>, "
	         "'la': %s}",
	         kp, lp);
	struct ft_msg *m = msg_new(MSG_ANALYZED_DF);
	msg_add_str(m, "data", repr);
	msg_add_str(m, "data_json", js ? js : "{}");
	free(js);
	rpc_send(app, m);
	m = msg_new(MSG_NEW_CANDLE);
	msg_add_str(m, "data", kp);
	msg_add_str(m, "data_json", kj);
	rpc_send(app, m);
}

/* strategy.analyze(active_pair_whitelist) with process_only_new_candles:
 * a pair's dataframe is analysed (and emitted) when its last closed
 * candle is one the strategy has not seen. */
static void analyze(struct ft_app *app, int64_t now_s)
{
	int tf = app->cfg.tf_secs;
	int64_t closed = now_s - now_s % tf - tf;
	const cJSON *p;
	cJSON_ArrayForEach (p, app->active_wl) {
		int i = market_find(&app->mk, p->valuestring);
		if (i < 0 || app->candle_seen[i] == closed)
			continue;
		app->candle_seen[i] = closed;
		emit_candle(app, (size_t)i, closed);
	}
}

/* FreqtradeBot.process */
static void process(struct ft_app *app)
{
	int64_t now = ft_now_us();
	market_advance(&app->mk, now / 1000000);
	refresh_whitelist(app);
	analyze(app, now / 1000000);
	size_t closed_before = app->book.n - book_open_count(&app->book);
	manage_open(app, now);
	if (app->state == FT_RUNNING)
		maybe_enter(app);
	book_trim(&app->book, app->cfg.sim.max_closed_trades);
	size_t closed_after = app->book.n - book_open_count(&app->book);
	if (closed_after != closed_before || app->nhistoric == 0 ||
	    now / 1000000 - (int64_t)app->historic[app->nhistoric - 1][0] >=
	            3600)
		sample_wallet(app, now);
	app->last_process_us = ft_now_us();
}

/* ---- the worker ---- */

static void stake_repr(struct ft_app *app, char *out, size_t n)
{
	double s = app->cfg.stake_amount;
	char f[FMT_FLOAT_LEN];
	if (s < 0)
		snprintf(out, n, "unlimited");
	else if (s == floor(s) && fabs(s) < 1e15)
		snprintf(out, n, "%.0f", s);
	else
		snprintf(out, n, "%s", fmt_float_repr(f, s));
}

/* A JSON value printed as Python (dict repr for minimal_roi). */
static int py_repr(const cJSON *v, struct lc_buf *b)
{
	char f[FMT_FLOAT_LEN];
	int rc = 0;
	if (cJSON_IsObject(v)) {
		rc |= lc_buf_append_str(b, "{");
		for (const cJSON *e = v->child; e; e = e->next) {
			rc |= lc_buf_printf(
			        b, "%s'%s': ", e == v->child ? "" : ", ",
			        e->string);
			rc |= py_repr(e, b);
		}
		return rc | lc_buf_append_str(b, "}");
	}
	if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
	    fabs(v->valuedouble) < 1e15)
		return lc_buf_printf(b, "%.0f", v->valuedouble);
	if (cJSON_IsNumber(v))
		return lc_buf_append_str(b, fmt_float_repr(f, v->valuedouble));
	if (cJSON_IsRaw(v))
		return lc_buf_append_str(b, v->valuestring);
	if (cJSON_IsString(v))
		return lc_buf_printf(b, "'%s'", v->valuestring);
	return lc_buf_append_str(b, cJSON_IsTrue(v) ? "True" : "None");
}

static int pairlist_desc(struct ft_app *app, struct lc_buf *b)
{
	const cJSON *p;
	int k = 0, rc = lc_buf_append_str(b, "[");
	cJSON_ArrayForEach (p, app->cfg.pairlists) {
		const cJSON *m = jget(p, "method");
		if (!cJSON_IsString(m))
			continue;
		rc |= lc_buf_printf(b, "%s{'%s': '%s'}", k++ ? ", " : "",
		                    m->valuestring, m->valuestring);
	}
	if (k == 0)
		rc |= lc_buf_append_str(
		        b, "{'StaticPairList': 'StaticPairList'}");
	return rc | lc_buf_append_str(b, "]");
}

/* rpc_manager.startup_messages */
static void startup_messages(struct ft_app *app)
{
	struct ft_cfg *c = &app->cfg;
	struct lc_buf roi, pl, st;
	char stake[48], sl[FMT_FLOAT_LEN];
	const cJSON *ts = jget(c->root, "trailing_stop");
	if (c->dry_run)
		rpc_status(app, MSG_WARNING,
		           "Dry run is enabled. All trades are simulated.");
	lc_buf_init(&roi, 4096);
	lc_buf_init(&pl, 4096);
	lc_buf_init(&st, 8192);
	int rc = py_repr(c->minimal_roi, &roi);
	rc |= pairlist_desc(app, &pl);
	stake_repr(app, stake, sizeof(stake));
	rc |= lc_buf_printf(&st,
	                    "*Exchange:* `%s`\n*Stake per trade:* `%s %s`\n"
	                    "*Minimum ROI:* `%s`\n*%sStoploss:* `%s`\n"
	                    "*Position adjustment:* `Off`\n*Timeframe:* `%s`\n"
	                    "*Strategy:* `%s`",
	                    c->exchange, stake, c->stake_currency,
	                    roi.data ? roi.data : "{}",
	                    cJSON_IsTrue(ts) ? "Trailing " : "",
	                    fmt_float_repr(sl, c->stoploss), c->timeframe,
	                    c->strategy);
	rpc_status(app, MSG_STARTUP, st.data ? st.data : "");
	lc_buf_reset(&st);
	rc |= lc_buf_printf(
	        &st, "Searching for %s pairs to buy and sell based on %s",
	        c->stake_currency, pl.data ? pl.data : "[]");
	rpc_status(app, MSG_STARTUP, st.data ? st.data : "");
	(void)rc; /* a message cut at 8 KiB is still sent */
	lc_buf_release(&roi);
	lc_buf_release(&pl);
	lc_buf_release(&st);
}

/* FreqtradeBot.startup */
static void startup(struct ft_app *app)
{
	int64_t now = ft_now_us();
	app->startup_us = now;
	if (!app->bot_start_us)
		app->bot_start_us = app->book.n ? app->book.t[0].open_us : now;
	startup_messages(app);
}

void bot_check_open_trades(struct ft_app *app)
{
	size_t n = book_open_count(&app->book);
	if (n == 0 || app->state == FT_RELOAD_CONFIG)
		return;
	char ex[64], text[512];
	exchange_cap(app->cfg.exchange, ex, sizeof(ex));
	snprintf(
	        text, sizeof(text),
	        "%zu open trades active.\n\nHandle these trades manually on "
	        "%s, or '/start' the bot again and use '/stopentry' to handle "
	        "open trades gracefully. \n%s",
	        n, ex,
	        app->cfg.dry_run ? "Note: Trades are simulated (dry run)."
	                         : "");
	rpc_status(app, MSG_WARNING, text);
}

static void state_changed(struct ft_app *app, enum ft_state st)
{
	enum ft_state old = app->old_state;
	if (old != FT_RELOAD_CONFIG)
		rpc_status(app, MSG_STATUS, ft_state_name(st));
	if (old == FT_NONE)
		ftlog(FTL_INFO, LOG_W, "Changing state to: %s",
		      ft_state_upper(st));
	else
		ftlog(FTL_INFO, LOG_W, "Changing state from %s to: %s",
		      ft_state_upper(old), ft_state_upper(st));
	bool trading = st == FT_RUNNING || st == FT_PAUSED;
	bool was = old == FT_RUNNING || old == FT_PAUSED;
	if (trading && !was)
		startup(app);
	if (st == FT_STOPPED)
		bot_check_open_trades(app);
	app->last_heartbeat_ms = 0;
}

static void heartbeat(struct ft_app *app, enum ft_state st)
{
	int64_t now = lc_clock_mono_ms();
	int iv = app->cfg.heartbeat_interval;
	if (iv <= 0 || (app->last_heartbeat_ms &&
	                now - app->last_heartbeat_ms < (int64_t)iv * 1000))
		return;
	ftlog(FTL_INFO, LOG_W,
	      "Bot heartbeat. PID=%d, version='%s', "
	      "state='%s'",
	      (int)getpid(), app->cfg.sim.version, ft_state_upper(st));
	app->last_heartbeat_ms = now;
}

/* Worker._worker: one iteration. FreqTrade sends its messages
 * synchronously, so the state change's messages (and startup's) are
 * delivered before the trades are processed: phase 1 waits for them,
 * phase 2 (bot_outbox_drained) processes and waits again. */
static void iterate(struct ft_app *app)
{
	app->tick_start_ms = lc_clock_mono_ms();
	enum ft_state st = app->state;
	if (st != app->old_state)
		state_changed(app, st);
	app->old_state = st;
	app->tick_state = st;
	app->tick_phase = 1;
	app->tick_waiting = true;
	if (rpc_idle(app))
		bot_outbox_drained(app);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_app *app = arg;
	if (!app->stopping)
		iterate(app);
}

void bot_outbox_drained(struct ft_app *app)
{
	if (!app->tick_waiting || app->stopping)
		return;
	if (app->tick_phase == 1) {
		enum ft_state st = app->tick_state;
		app->tick_phase = 2;
		if (st == FT_RUNNING || st == FT_PAUSED)
			process(app);
		heartbeat(app, st);
		if (!rpc_idle(app))
			return; /* called again once delivered */
	}
	app->tick_waiting = false;
	if (app->old_state == FT_RELOAD_CONFIG) {
		/* from the loop, not from inside the outbox's callback:
		 * the reload frees the outbox */
		struct timeval now = { 0, 0 };
		if (event_base_once(app->base, -1, EV_TIMEOUT, on_reload, app,
				    &now) != 0)
			app_reconfigure(app);
		return;
	}
	int64_t spent = lc_clock_mono_ms() - app->tick_start_ms;
	int64_t wait = (int64_t)(app->cfg.throttle_secs * 1000) - spent;
	struct timeval tv;
	lc_clock_tv(&tv, wait > 0 ? wait : 0);
	if (app->tick_ev)
		evtimer_add(app->tick_ev, &tv);
}
