/*
 * api_info: the informational endpoints (api_v1.py, api_trading.py):
 * ping, version, show_config, health, sysinfo, logs, white/blacklist,
 * locks, plot_config, strategies, strategy/{name}, pair_candles.
 * Shapes and field order follow api_schemas.py.
 */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/ftsim/api.h"

void h_ping(struct ft_req *rq)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "pong");
	reply_json(rq, 200, o);
}

void h_version(struct ft_req *rq)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "version", rq->app->cfg.sim.version);
	reply_json(rq, 200, o);
}

/* ---- show_config ---- */

static const cJSON *cfg_get(struct ft_app *app, const char *key)
{
	return jget(app->cfg.root, key);
}

static cJSON *dup_or(const cJSON *v, cJSON *def)
{
	if (!v)
		return def;
	cJSON_Delete(def);
	return cJSON_Duplicate(v, 1);
}

static void add_cfg(cJSON *o, struct ft_app *app, const char *key)
{
	cJSON_AddItemToObject(o, key,
	                      dup_or(cfg_get(app, key), cJSON_CreateNull()));
}

static cJSON *unfilled(struct ft_app *app)
{
	const cJSON *u = cfg_get(app, "unfilledtimeout");
	cJSON *o = cJSON_CreateObject();
	static const char *const k[] = { "entry", "exit", "unit",
		                         "exit_timeout_count" };
	static const char *const def[] = { "10", "10", "\"minutes\"", "0" };
	for (size_t i = 0; i < 4; i++) {
		const cJSON *v = jget(u, k[i]);
		cJSON_AddItemToObject(o, k[i],
		                      v ? cJSON_Duplicate(v, 1)
		                        : cJSON_CreateRaw(def[i]));
	}
	return o;
}

static cJSON *order_types(struct ft_app *app)
{
	const cJSON *u = cfg_get(app, "order_types");
	cJSON *o = cJSON_CreateObject();
	static const char *const k[] = { "entry",
		                         "exit",
		                         "emergency_exit",
		                         "force_exit",
		                         "force_entry",
		                         "stoploss",
		                         "stoploss_on_exchange",
		                         "stoploss_on_exchange_interval" };
	static const char *const def[] = { "\"limit\"", "\"limit\"",
		                           "null",      "null",
		                           "null",      "\"market\"",
		                           "false",     "60" };
	for (size_t i = 0; i < 8; i++) {
		const cJSON *v = jget(u, k[i]);
		cJSON_AddItemToObject(o, k[i],
		                      v ? cJSON_Duplicate(v, 1)
		                        : cJSON_CreateRaw(def[i]));
	}
	return o;
}

/* str(config["stake_amount"]) */
static void stake_str(struct ft_app *app, char *out, size_t n)
{
	const cJSON *s = cfg_get(app, "stake_amount");
	char f[FMT_FLOAT_LEN];
	if (cJSON_IsString(s))
		snprintf(out, n, "%s", s->valuestring);
	else if (s->valuedouble == floor(s->valuedouble) &&
	         fabs(s->valuedouble) < 1e15)
		snprintf(out, n, "%.0f", s->valuedouble);
	else
		snprintf(out, n, "%s", fmt_float_repr(f, s->valuedouble));
}

static int coin_decimals(const char *c)
{
	if (strcmp(c, "BTC") == 0)
		return 8;
	if (strcmp(c, "ETH") == 0)
		return 5;
	return 3;
}

static void show_pricing(cJSON *o, struct ft_app *app)
{
	cJSON_AddStringToObject(o, "exchange", app->cfg.exchange);
	cJSON_AddStringToObject(o, "strategy", app->cfg.strategy);
	cJSON_AddBoolToObject(o, "force_entry_enable",
	                      app->cfg.force_entry_enable);
	cJSON_AddItemToObject(
	        o, "exit_pricing",
	        dup_or(cfg_get(app, "exit_pricing"), cJSON_CreateObject()));
	cJSON_AddItemToObject(
	        o, "entry_pricing",
	        dup_or(cfg_get(app, "entry_pricing"), cJSON_CreateObject()));
	cJSON_AddStringToObject(o, "bot_name", app->cfg.bot_name);
	cJSON_AddStringToObject(o, "state",
	                        app->api ? ft_state_name(app->state) : "");
	cJSON_AddStringToObject(o, "runmode",
	                        app->cfg.dry_run ? "dry_run" : "live");
	cJSON_AddFalseToObject(o, "position_adjustment_enable");
	json_add_int(o, "max_entry_position_adjustment", -1);
}

void h_show_config(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	const struct ft_cfg *c = &app->cfg;
	cJSON *o = cJSON_CreateObject();
	char stake[64];
	stake_str(app, stake, sizeof(stake));
	cJSON_AddStringToObject(o, "version", c->sim.version);
	cJSON_AddNullToObject(o, "strategy_version");
	json_add_float(o, "api_version", FT_API_VERSION);
	cJSON_AddBoolToObject(o, "dry_run", c->dry_run);
	cJSON_AddStringToObject(o, "trading_mode", "spot");
	cJSON_AddStringToObject(o, "margin_mode", "");
	cJSON_AddFalseToObject(o, "short_allowed");
	cJSON_AddStringToObject(o, "stake_currency", c->stake_currency);
	cJSON_AddStringToObject(o, "stake_amount", stake);
	add_cfg(o, app, "available_capital");
	json_add_int(o, "stake_currency_decimals",
	             coin_decimals(c->stake_currency));
	json_add_int(o, "max_open_trades", c->max_open_trades);
	cJSON_AddItemToObject(o, "minimal_roi",
	                      cJSON_Duplicate(c->minimal_roi, 1));
	json_add_float(o, "stoploss", c->stoploss);
	cJSON_AddFalseToObject(o, "stoploss_on_exchange");
	add_cfg(o, app, "trailing_stop");
	add_cfg(o, app, "trailing_stop_positive");
	add_cfg(o, app, "trailing_stop_positive_offset");
	add_cfg(o, app, "trailing_only_offset_is_reached");
	cJSON_AddItemToObject(o, "unfilledtimeout", unfilled(app));
	cJSON_AddItemToObject(o, "order_types", order_types(app));
	cJSON_AddFalseToObject(o, "use_custom_stoploss");
	cJSON_AddStringToObject(o, "timeframe", c->timeframe);
	json_add_int(o, "timeframe_ms", (int64_t)c->tf_secs * 1000);
	json_add_int(o, "timeframe_min", c->tf_secs / 60);
	show_pricing(o, app);
	reply_json(rq, 200, o);
}

/* ---- health ---- */

/* pydantic's datetime: "2025-01-02T03:04:05.123456Z" */
static void add_iso(cJSON *o, const char *key, int64_t us)
{
	char b[48];
	if (!us) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	fmt_date_str(b, us, false);
	b[10] = 'T';
	size_t l = strlen(b);
	snprintf(b + l, sizeof(b) - l, "Z");
	cJSON_AddStringToObject(o, key, b);
}

static void add_ts(cJSON *o, const char *key, int64_t us)
{
	if (us)
		json_add_int(o, key, us / 1000000);
	else
		cJSON_AddNullToObject(o, key);
}

void h_health(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *o = cJSON_CreateObject();
	add_iso(o, "last_process", app->last_process_us);
	add_ts(o, "last_process_ts", app->last_process_us);
	add_iso(o, "bot_start", app->bot_start_us);
	add_ts(o, "bot_start_ts", app->bot_start_us);
	add_iso(o, "bot_startup", app->startup_us);
	add_ts(o, "bot_startup_ts", app->startup_us);
	reply_json(rq, 200, o);
}

/* ---- sysinfo: two /proc/stat samples a second apart ---- */

static int read_cpu(double out[64][2])
{
	FILE *f = fopen("/proc/stat", "r");
	char line[512];
	int n = 0;
	if (!f)
		return 0;
	while (n < 64 && fgets(line, sizeof(line), f)) {
		unsigned long long v[8] = { 0 };
		if (strncmp(line, "cpu", 3) != 0 || line[3] == ' ')
			continue;
		char *p = strchr(line, ' ');
		for (int i = 0; i < 8 && p; i++)
			v[i] = strtoull(p, &p, 10);
		double idle = (double)(v[3] + v[4]);
		double total = 0;
		for (int i = 0; i < 8; i++)
			total += (double)v[i];
		out[n][0] = total - idle;
		out[n][1] = total;
		n++;
	}
	fclose(f);
	return n;
}

static double ram_pct(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	double total = 0, avail = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "MemTotal:", 9) == 0)
			total = strtod(line + 9, NULL);
		else if (strncmp(line, "MemAvailable:", 13) == 0)
			avail = strtod(line + 13, NULL);
	}
	fclose(f);
	return total > 0 ? fmt_round((total - avail) / total * 100, 1) : 0;
}

static void sysinfo_done(struct ft_req *rq)
{
	double now[64][2];
	int n = read_cpu(now);
	cJSON *o = cJSON_CreateObject();
	cJSON *cpu = cJSON_AddArrayToObject(o, "cpu_pct");
	for (int i = 0; i < n && i < rq->ncpu; i++) {
		double dt = now[i][1] - rq->cpu[i][1];
		double db = now[i][0] - rq->cpu[i][0];
		double pct = dt > 0 ? fmt_round(db / dt * 100, 1) : 0.0;
		cJSON_AddItemToArray(cpu, json_float(pct < 0 ? 0.0 : pct));
	}
	json_add_float(o, "ram_pct", ram_pct());
	reply_json(rq, 200, o);
}

void h_sysinfo(struct ft_req *rq)
{
	rq->ncpu = read_cpu(rq->cpu);
	defer(rq, 1000, sysinfo_done);
}

void h_logs(struct ft_req *rq)
{
	long limit;
	if (query_int(rq, "limit", 0, -1000000000L, 1000000000L, &limit) != 0)
		return;
	reply_json(rq, 200, ftlog_json((int)limit));
}

/* ---- pairlists ---- */

static cJSON *methods(struct ft_app *app)
{
	cJSON *m = cJSON_CreateArray();
	const cJSON *p;
	cJSON_ArrayForEach (p, app->cfg.pairlists) {
		const char *n = cJSON_GetStringValue(jget(p, "method"));
		if (n)
			cJSON_AddItemToArray(m, cJSON_CreateString(n));
	}
	if (cJSON_GetArraySize(m) == 0)
		cJSON_AddItemToArray(m, cJSON_CreateString("StaticPairList"));
	return m;
}

void h_whitelist(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "whitelist",
	                      cJSON_Duplicate(app->active_wl, 1));
	json_add_int(o, "length", cJSON_GetArraySize(app->active_wl));
	cJSON_AddItemToObject(o, "method", methods(app));
	reply_json(rq, 200, o);
}

static int bl_index(struct ft_app *app, const char *pair)
{
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, app->blacklist) {
		if (cJSON_IsString(e) && strcmp(e->valuestring, pair) == 0)
			return i;
		i++;
	}
	return -1;
}

static void bl_error(cJSON *errors, const char *pair, const char *fmt)
{
	char b[200];
	cJSON *e = cJSON_CreateObject();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(b, sizeof(b), fmt, pair);
#pragma GCC diagnostic pop
	cJSON_AddStringToObject(e, "error_msg", b);
	cJSON_DeleteItemFromObjectCaseSensitive(errors, pair);
	cJSON_AddItemToObject(errors, pair, e);
}

static void bl_add(struct ft_app *app, const cJSON *body, cJSON *errors)
{
	const cJSON *p;
	cJSON_ArrayForEach (p, jget(body, "blacklist")) {
		if (!cJSON_IsString(p))
			continue;
		if (bl_index(app, p->valuestring) >= 0)
			bl_error(errors, p->valuestring,
			         "Pair %s already in pairlist.");
		else
			cJSON_AddItemToArray(
			        app->blacklist,
			        cJSON_CreateString(p->valuestring));
	}
}

static void bl_delete(struct ft_req *rq, cJSON *errors)
{
	struct evkeyval *kv;
	TAILQ_FOREACH (kv, &rq->query, next) {
		if (strcmp(kv->key, "pairs_to_delete") != 0)
			continue;
		int i = bl_index(rq->app, kv->value);
		if (i >= 0)
			cJSON_DeleteItemFromArray(rq->app->blacklist, i);
		else
			bl_error(errors, kv->value,
			         "Pair %s is not in the current blacklist.");
	}
}

void h_blacklist(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	cJSON *errors = cJSON_CreateObject();
	if (rq->method == EVHTTP_REQ_POST) {
		cJSON *b = request_json(rq);
		if (!cJSON_IsArray(jget(b, "blacklist"))) {
			cJSON_Delete(b);
			cJSON_Delete(errors);
			reply_detail(rq, 422, "blacklist: Field required");
			return;
		}
		bl_add(app, b, errors);
		cJSON_Delete(b);
	} else if (rq->method == EVHTTP_REQ_DELETE) {
		bl_delete(rq, errors);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "blacklist",
	                      cJSON_Duplicate(app->blacklist, 1));
	cJSON_AddItemToObject(o, "blacklist_expanded",
	                      cJSON_Duplicate(app->blacklist, 1));
	cJSON_AddItemToObject(o, "errors", errors);
	json_add_int(o, "length", cJSON_GetArraySize(app->blacklist));
	cJSON_AddItemToObject(o, "method", methods(app));
	reply_json(rq, 200, o);
}

void h_locks(struct ft_req *rq)
{
	cJSON *o = cJSON_CreateObject();
	json_add_int(o, "lock_count", 0);
	cJSON_AddArrayToObject(o, "locks");
	reply_json(rq, 200, o);
}

/* ---- strategy ---- */

void h_plot_config(struct ft_req *rq)
{
	reply_json(rq, 200,
	           cJSON_Parse("{\"main_plot\":{\"ema_fast\":{\"color\":"
	                       "\"#1f77b4\"}},\"subplots\":{\"Signal\":{"
	                       "\"signal_strength\":{\"color\":\"#ff7f0e\","
	                       "\"type\":\"bar\"}}}}"));
}

void h_strategies(struct ft_req *rq)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "strategies");
	cJSON_AddItemToArray(a, cJSON_CreateString(rq->app->cfg.strategy));
	reply_json(rq, 200, o);
}

static const char strategy_src[] =
        "# Simulated by ftsim: signals are drawn from a seeded random walk.\n"
        "from freqtrade.strategy import IStrategy\n"
        "\n\n"
        "class %s(IStrategy):\n"
        "    INTERFACE_VERSION = 3\n"
        "    timeframe = \"%s\"\n"
        "    stoploss = %s\n"
        "    can_short = False\n"
        "\n"
        "    def populate_indicators(self, dataframe, metadata):\n"
        "        dataframe[\"ema_fast\"] = dataframe[\"close\"].ewm(span=12)"
        ".mean()\n"
        "        return dataframe\n"
        "\n"
        "    def populate_entry_trend(self, dataframe, metadata):\n"
        "        return dataframe\n"
        "\n"
        "    def populate_exit_trend(self, dataframe, metadata):\n"
        "        return dataframe\n";

void h_strategy(struct ft_req *rq)
{
	struct ft_app *app = rq->app;
	if (strchr(rq->param, ':')) {
		reply_detail(rq, 500,
		             "base64 encoded strategies are not "
		             "allowed.");
		return;
	}
	if (strcmp(rq->param, app->cfg.strategy) != 0) {
		reply_detail(rq, 404, "Strategy not found");
		return;
	}
	char code[2048], sl[FMT_FLOAT_LEN];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(code, sizeof(code), strategy_src, app->cfg.strategy,
	         app->cfg.timeframe, fmt_float_repr(sl, app->cfg.stoploss));
#pragma GCC diagnostic pop
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "strategy", app->cfg.strategy);
	cJSON_AddStringToObject(o, "code", code);
	cJSON_AddStringToObject(o, "timeframe", app->cfg.timeframe);
	reply_json(rq, 200, o);
}

/* ---- pair_candles ---- */

static const char *const candle_cols[] = {
	"date",       "open",      "high",      "low",
	"close",      "volume",    "ema_fast",  "signal_strength",
	"enter_long", "exit_long", "enter_tag", "exit_tag",
};
#define NCOLS (sizeof(candle_cols) / sizeof(candle_cols[0]))

struct candle_sig {
	int enter, exit;
	char tag[32], xtag[32];
};

/* Entries and exits of our trades, by candle. */
static void trade_signals(struct ft_app *app, int pair, int64_t t0, int tf,
                          size_t n, struct candle_sig *s)
{
	for (size_t i = 0; i < app->book.n; i++) {
		const struct ft_trade *t = &app->book.t[i];
		if (t->pair != pair)
			continue;
		char b[32];
		int64_t d = t->open_us / 1000000 - t0;
		int64_t k = d / tf;
		if (d >= 0 && (size_t)k < n) {
			s[k].enter = 1;
			snprintf(s[k].tag, 32, "%s", trade_enter_tag(t, b));
		}
		d = t->close_us / 1000000 - t0;
		k = d / tf;
		if (!t->is_open && t->exit_kind == EXIT_SIGNAL && d >= 0 &&
		    (size_t)k < n) {
			s[k].exit = 1;
			trade_exit_reason(t, s[k].xtag);
		}
	}
}

static cJSON *candle_row(const struct mk_candle *c, double ema, double sig,
                         const struct candle_sig *s)
{
	char d[48];
	fmt_date_str(d, c->t * 1000000, false);
	d[10] = 'T';
	size_t l = strlen(d);
	snprintf(d + l, sizeof(d) - l, "Z");
	cJSON *r = cJSON_CreateArray();
	cJSON_AddItemToArray(r, cJSON_CreateString(d));
	cJSON_AddItemToArray(r, json_float(c->open));
	cJSON_AddItemToArray(r, json_float(c->high));
	cJSON_AddItemToArray(r, json_float(c->low));
	cJSON_AddItemToArray(r, json_float(c->close));
	cJSON_AddItemToArray(r, json_float(c->volume));
	cJSON_AddItemToArray(r, json_float(ema));
	cJSON_AddItemToArray(r, json_float(sig));
	cJSON_AddItemToArray(r, json_int(s->enter));
	cJSON_AddItemToArray(r, json_int(s->exit));
	cJSON_AddItemToArray(r, s->tag[0] ? cJSON_CreateString(s->tag)
	                                  : cJSON_CreateNull());
	cJSON_AddItemToArray(r, s->xtag[0] ? cJSON_CreateString(s->xtag)
	                                   : cJSON_CreateNull());
	cJSON_AddItemToArray(r, json_int(c->t * 1000));
	cJSON_AddItemToArray(r, s->enter ? json_float(c->close)
	                                 : cJSON_CreateNull());
	cJSON_AddItemToArray(r, s->exit ? json_float(c->close)
	                                : cJSON_CreateNull());
	return r;
}

static void add_columns(cJSON *o, size_t n)
{
	cJSON *cols = cJSON_AddArrayToObject(o, "columns");
	cJSON *all = cJSON_CreateArray();
	for (size_t i = 0; n && i < NCOLS; i++) {
		cJSON_AddItemToArray(cols, cJSON_CreateString(candle_cols[i]));
		cJSON_AddItemToArray(all, cJSON_CreateString(candle_cols[i]));
	}
	if (n) {
		cJSON_AddItemToArray(cols, cJSON_CreateString("__date_ts"));
		cJSON_AddItemToArray(
		        cols, cJSON_CreateString("_enter_long_signal_close"));
		cJSON_AddItemToArray(
		        cols, cJSON_CreateString("_exit_long_signal_close"));
	}
	cJSON_AddItemToObject(o, "all_columns", all);
}

/* data rows; returns the number of entry/exit signals. */
static void add_rows(cJSON *o, struct ft_app *app, int pair,
                     const struct mk_candle *cs, size_t n, int *ne, int *nx)
{
	struct candle_sig *s = calloc(n ? n : 1, sizeof(*s));
	cJSON *data = cJSON_AddArrayToObject(o, "data");
	*ne = *nx = 0;
	if (!s)
		return;
	if (n)
		trade_signals(app, pair, cs[0].t, app->cfg.tf_secs, n, s);
	double ema = n ? cs[0].close : 0, a = 2.0 / 13;
	for (size_t i = 0; i < n; i++) {
		ema = i ? a * cs[i].close + (1 - a) * ema : ema;
		double sig = fmt_round(mk_unit(mk_hash(app->cfg.sim.seed ^ 77,
		                                       (uint64_t)cs[i].t)),
		                       2);
		if (s[i].enter)
			sig = strtod(s[i].tag + 9, NULL);
		cJSON_AddItemToArray(
		        data,
		        candle_row(&cs[i], fmt_round(ema, 8), sig, &s[i]));
		*ne += s[i].enter;
		*nx += s[i].exit;
	}
	free(s);
}

static void candles_reply(struct ft_req *rq, const char *pair, const char *tf,
                          long limit)
{
	struct ft_app *app = rq->app;
	int idx = market_find(&app->mk, pair);
	bool have = idx >= 0 && strcmp(tf, app->cfg.timeframe) == 0;
	size_t want = have ? (size_t)(limit > 0 ? limit : 500) : 0;
	struct mk_candle *cs = calloc(want ? want : 1, sizeof(*cs));
	int64_t now = ft_now_us();
	size_t n = cs && have ? market_candles(&app->mk, (size_t)idx,
	                                       app->cfg.tf_secs, now / 1000000,
	                                       want, cs)
	                      : 0;
	int ne, nx;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "strategy", app->cfg.strategy);
	cJSON_AddStringToObject(o, "pair", pair);
	cJSON_AddStringToObject(o, "timeframe", tf);
	json_add_int(o, "timeframe_ms", (int64_t)app->cfg.tf_secs * 1000);
	add_columns(o, n);
	add_rows(o, app, idx, cs, n, &ne, &nx);
	cJSON_AddArrayToObject(o, "annotations");
	json_add_int(o, "length", (int64_t)n);
	json_add_int(o, "buy_signals", ne);
	json_add_int(o, "sell_signals", nx);
	json_add_int(o, "enter_long_signals", ne);
	json_add_int(o, "exit_long_signals", nx);
	json_add_int(o, "enter_short_signals", 0);
	json_add_int(o, "exit_short_signals", 0);
	int64_t la = have && app->last_process_us ? app->last_process_us : 0;
	char d[48];
	fmt_date_str(d, la, false);
	d[10] = 'T';
	size_t l = strlen(d);
	snprintf(d + l, sizeof(d) - l, "Z");
	cJSON_AddStringToObject(o, "last_analyzed", d);
	json_add_int(o, "last_analyzed_ts", la / 1000000);
	json_add_int(o, "data_start_ts", n ? cs[0].t * 1000 : 0);
	cJSON_AddStringToObject(o, "data_start",
	                        n ? fmt_date_str(d, cs[0].t * 1000000, true)
	                          : "");
	cJSON_AddStringToObject(
	        o, "data_stop",
	        n ? fmt_date_str(d, cs[n - 1].t * 1000000, true) : "");
	json_add_int(o, "data_stop_ts", n ? cs[n - 1].t * 1000 : 0);
	free(cs);
	reply_json(rq, 200, o);
}

static void missing(struct ft_req *rq, const char *where, const char *name)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *d = cJSON_AddArrayToObject(o, "detail");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "missing");
	cJSON *loc = cJSON_AddArrayToObject(e, "loc");
	cJSON_AddItemToArray(loc, cJSON_CreateString(where));
	cJSON_AddItemToArray(loc, cJSON_CreateString(name));
	cJSON_AddStringToObject(e, "msg", "Field required");
	cJSON_AddNullToObject(e, "input");
	cJSON_AddItemToArray(d, e);
	reply_json(rq, 422, o);
}

void h_pair_candles(struct ft_req *rq)
{
	if (rq->method == EVHTTP_REQ_POST) {
		cJSON *b = request_json(rq);
		const char *p = cJSON_GetStringValue(jget(b, "pair"));
		const char *t = cJSON_GetStringValue(jget(b, "timeframe"));
		const cJSON *l = jget(b, "limit");
		if (!p || !t)
			missing(rq, "body", !p ? "pair" : "timeframe");
		else
			candles_reply(rq, p, t,
			              cJSON_IsNumber(l) ? (long)l->valuedouble
			                                : 0);
		cJSON_Delete(b);
		return;
	}
	const char *p = query_get(rq, "pair"), *t = query_get(rq, "timeframe");
	long limit;
	if (!p || !t) {
		missing(rq, "query", !p ? "pair" : "timeframe");
		return;
	}
	if (query_int(rq, "limit", 0, 1, 1500, &limit) != 0)
		return;
	candles_reply(rq, p, t, limit);
}
