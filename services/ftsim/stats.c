/*
 * stats: the money figures of rpc.py over the simulated trades, so that
 * status, trades, profit, count and balance agree with each other:
 * _rpc_trade_statistics (/profit, with data/metrics.py's drawdown,
 * expectancy, sharpe, sortino, sqn, calmar, cagr), _rpc_balance (dry-run
 * wallets), get_overall_performance and the tag variants,
 * _rpc_timeunit_profit (daily/weekly/monthly) and _rpc_stats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/ftsim/api.h"

#define DAY_US (86400LL * 1000000)

/* humanize.naturaltime(now - dt) */
static void humanize(char *out, size_t n, int64_t us)
{
	int64_t s = (ft_now_us() - us) / 1000000;
	if (s < 0)
		s = 0;
	struct {
		int64_t secs;
		const char *one, *many;
	} u[] = {
		{ 31536000, "a year", "years" },
		{ 2592000, "a month", "months" },
		{ 86400, "a day", "days" },
		{ 3600, "an hour", "hours" },
		{ 60, "a minute", "minutes" },
		{ 1, "a second", "seconds" },
	};
	if (s == 0) {
		snprintf(out, n, "now");
		return;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		int64_t k = s / u[i].secs;
		if (k == 1) {
			snprintf(out, n, "%s ago", u[i].one);
			return;
		}
		if (k > 1) {
			snprintf(out, n, "%lld %s ago", (long long)k,
			         u[i].many);
			return;
		}
	}
}

/* str(timedelta(seconds=s)).split(".")[0] */
static void duration(char *out, size_t n, double s)
{
	int64_t t = (int64_t)s;
	int64_t d = t / 86400;
	t %= 86400;
	if (d)
		snprintf(out, n, "%lld day%s, %lld:%02lld:%02lld",
		         (long long)d, d == 1 ? "" : "s",
		         (long long)(t / 3600), (long long)(t % 3600 / 60),
		         (long long)(t % 60));
	else
		snprintf(out, n, "%lld:%02lld:%02lld", (long long)(t / 3600),
		         (long long)(t % 3600 / 60), (long long)(t % 60));
}

static void add_date_or_empty(cJSON *o, const char *key, int64_t us)
{
	char d[24];
	cJSON_AddStringToObject(o, key, us ? ft_date(d, us) : "");
}

/* ---- drawdown (data/metrics.py calculate_max_drawdown) ---- */

struct dd {
	double abs, rel, high_value, low_value;
	int64_t high_us, low_us;
	double cur_rel, cur_abs, cur_high;
	int64_t cur_high_us;
};

static int by_close(const void *a, const void *b)
{
	const struct ft_trade *x = *(const struct ft_trade *const *)a;
	const struct ft_trade *y = *(const struct ft_trade *const *)b;
	return x->close_us < y->close_us ? -1 : x->close_us > y->close_us;
}

static void drawdown(const struct ft_trade **c, size_t n, double start,
                     struct dd *r)
{
	memset(r, 0, sizeof(*r));
	if (n == 0)
		return;
	double *cum = malloc(n * sizeof(double)),
	       *high = malloc(n * sizeof(double));
	if (!cum || !high)
		goto done;
	size_t imin = 0;
	for (size_t i = 0; i < n; i++) {
		cum[i] = (i ? cum[i - 1] : 0) + c[i]->close_profit_abs;
		double h = i ? (high[i - 1] > cum[i] ? high[i - 1] : cum[i])
		             : cum[i];
		high[i] = h > 0 ? h : 0;
		if (cum[i] - high[i] < cum[imin] - high[imin])
			imin = i;
	}
	size_t ih = 0;
	for (size_t i = 0; i <= imin; i++)
		if (high[i] > high[ih])
			ih = i;
	if (cum[ih] == cum[imin])
		goto done; /* "No losing trade, therefore no drawdown." */
	double maxb = start + high[imin], curb = start + cum[imin];
	r->abs = fabs(cum[imin] - high[imin]);
	r->rel = maxb != 0 ? (maxb - curb) / maxb : 0;
	r->high_value = cum[ih];
	r->low_value = cum[imin];
	r->high_us = c[ih]->close_us;
	r->low_us = c[imin]->close_us;
	size_t last = n - 1, ch = 0;
	for (size_t i = 0; i < n; i++)
		if (high[i] > high[ch])
			ch = i;
	maxb = start + high[last];
	r->cur_abs = fabs(cum[last] - high[last]);
	r->cur_rel = maxb != 0 ? (maxb - (start + cum[last])) / maxb : 0;
	r->cur_high = high[last];
	r->cur_high_us = c[ch]->close_us;
done:
	free(cum);
	free(high);
}

/* ---- /profit ---- */

struct pstats {
	double closed_coin, closed_ratio_sum, all_coin, all_ratio_sum;
	size_t nclosed, nall, wins, losses;
	double win_profit, loss_profit, dur_sum, volume;
	int64_t first_us, last_us;
};

static void collect(struct ft_app *app, struct pstats *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < app->book.n; i++) {
		const struct ft_trade *t = &app->book.t[i];
		double ratio, abs;
		if (!s->first_us)
			s->first_us = t->open_us;
		s->last_us = t->open_us;
		s->volume += t->amount * t->open_rate;
		if (!t->is_open) {
			s->volume += t->amount * t->close_rate;
			ratio = t->close_profit;
			abs = t->close_profit_abs;
			s->closed_coin += abs;
			s->closed_ratio_sum += ratio;
			s->nclosed++;
			s->dur_sum += (double)(t->close_us - t->open_us) / 1e6;
			if (ratio >= 0) {
				s->wins++;
				s->win_profit += abs;
			} else {
				s->losses++;
				s->loss_profit += abs;
			}
		} else {
			struct ft_profit p =
			        trade_profit(t, bot_rate(app, t->pair));
			ratio = p.ratio;
			abs = p.total;
		}
		s->all_coin += abs;
		s->all_ratio_sum += ratio;
		s->nall++;
	}
}

static void add_money(cJSON *o, const char *pre, double coin, double rsum,
                      size_t n, double start, bool fiat)
{
	char k[64];
	double coin8 = fmt_round(coin, 8);
	double mean = n ? rsum / (double)n : 0.0;
	double from = start ? coin8 / start : 0.0;
#define K(s) (snprintf(k, sizeof(k), "%s_%s", pre, s), k)
	json_add_float(o, K("coin"), coin8);
	json_add_float(o, K("percent_mean"), fmt_round(mean * 100, 2));
	json_add_float(o, K("ratio_mean"), mean);
	json_add_float(o, K("percent_sum"), fmt_round(rsum * 100, 2));
	json_add_float(o, K("ratio_sum"), rsum);
	json_add_float(o, K("percent"), fmt_round(from * 100, 2));
	json_add_float(o, K("ratio"), from);
	json_add_float(o, K("fiat"), fiat ? coin8 : 0.0);
#undef K
}

/* best pair by the sum of close_profit */
static void best_pair(struct ft_app *app, cJSON *o)
{
	double sums[MK_MAX_PAIRS] = { 0 }, abss[MK_MAX_PAIRS] = { 0 };
	bool seen[MK_MAX_PAIRS] = { false };
	int best = -1;
	for (size_t i = 0; i < app->book.n; i++) {
		const struct ft_trade *t = &app->book.t[i];
		if (t->is_open)
			continue;
		sums[t->pair] += t->close_profit;
		abss[t->pair] += t->close_profit_abs;
		seen[t->pair] = true;
	}
	for (int p = 0; p < (int)app->mk.n; p++)
		if (seen[p] && (best < 0 || sums[p] > sums[best]))
			best = p;
	cJSON_AddStringToObject(o, "best_pair",
	                        best >= 0 ? app->mk.pairs[best].name : "");
	json_add_float(o, "best_rate",
	               best >= 0 ? fmt_round(sums[best] * 100, 2) : 0.0);
	json_add_float(o, "best_pair_profit_ratio",
	               best >= 0 ? sums[best] : 0);
	json_add_float(o, "best_pair_profit_abs", best >= 0 ? abss[best] : 0);
}

/* calculate_expectancy */
static void expectancy(const struct pstats *s, const struct ft_trade **c,
                       cJSON *o)
{
	double e = 0.0, er = 100.0, win = 0, loss = 0;
	size_t nw = 0, nl = 0;
	for (size_t i = 0; i < s->nclosed; i++) {
		if (c[i]->close_profit_abs > 0) {
			win += c[i]->close_profit_abs;
			nw++;
		} else if (c[i]->close_profit_abs < 0) {
			loss += -c[i]->close_profit_abs;
			nl++;
		}
	}
	if (s->nclosed) {
		double aw = nw ? win / (double)nw : 0,
		       al = nl ? loss / (double)nl : 0;
		double wr = (double)nw / (double)s->nclosed;
		double lr = (double)nl / (double)s->nclosed;
		e = wr * aw - lr * al;
		if (al > 0)
			er = (1 + aw / al) * wr - 1;
	}
	json_add_float(o, "expectancy", e);
	json_add_float(o, "expectancy_ratio", er);
}

/* sharpe, sortino, sqn, calmar, cagr (data/metrics.py) */
static void ratios(struct ft_app *app, const struct pstats *s,
                   const struct ft_trade **c, const struct dd *dd, cJSON *o)
{
	double start = book_starting_balance(&app->book);
	size_t n = s->nclosed;
	bool span = n && s->first_us && s->last_us != s->first_us;
	double days =
	        fmax(1, floor((double)(s->last_us - s->first_us) / DAY_US));
	double sum = 0, sq = 0, dsum = 0, dsq = 0;
	size_t nd = 0;
	for (size_t i = 0; i < n; i++) {
		double r = start ? c[i]->close_profit_abs / start : 0;
		sum += r;
		sq += r * r;
		if (r < 0) {
			dsum += r;
			dsq += r * r;
			nd++;
		}
	}
	double mean = n ? sum / (double)n : 0;
	double sd = n ? sqrt(fmax(0, sq / (double)n - mean * mean)) : 0;
	double dmean = nd ? dsum / (double)nd : 0;
	double dsd =
	        nd ? sqrt(fmax(0, dsq / (double)nd - dmean * dmean)) : NAN;
	double exp_ret = sum / days;
	json_add_float(o, "sharpe",
	               !span     ? 0.0
	               : sd != 0 ? exp_ret / sd * sqrt(365)
	                         : -100);
	json_add_float(o, "sortino",
	               !span                       ? 0.0
	               : (dsd != 0 && !isnan(dsd)) ? exp_ret / dsd * sqrt(365)
	                                           : -100);
	double sd1 =
	        n > 1 ? sqrt(fmax(0, (sq - n * mean * mean) / (double)(n - 1)))
	              : NAN;
	json_add_float(o, "sqn",
	               n == 0 ? 0.0
	               : (sd1 != 0 && !isnan(sd1))
	                       ? fmt_round(sqrt((double)n) * mean / sd1, 4)
	                       : -100.0);
	json_add_float(o, "calmar",
	               !span          ? 0.0
	               : dd->rel != 0 ? sum / days * 100 / dd->rel * sqrt(365)
	                              : -100);
	double fin = book_total_stake(&app->book);
	double cdays = s->first_us ? days : 1;
	json_add_float(o, "cagr",
	               (fin < 0 || start <= 0)
	                       ? 0.0
	                       : pow(fin / start, 1 / (cdays / 365)) - 1);
}

static void add_drawdown(cJSON *o, const struct dd *d)
{
	json_add_float(o, "max_drawdown", d->rel);
	json_add_float(o, "max_drawdown_abs", d->abs);
	add_date_or_empty(o, "max_drawdown_start", d->high_us);
	json_add_int(o, "max_drawdown_start_timestamp", d->high_us / 1000);
	add_date_or_empty(o, "max_drawdown_end", d->low_us);
	json_add_int(o, "max_drawdown_end_timestamp", d->low_us / 1000);
	json_add_float(o, "current_drawdown", d->cur_rel);
	json_add_float(o, "current_drawdown_abs", d->cur_abs);
	json_add_float(o, "current_drawdown_high", d->cur_high);
	add_date_or_empty(o, "current_drawdown_start", d->cur_high_us);
	json_add_int(o, "current_drawdown_start_timestamp",
	             d->cur_high_us / 1000);
}

static const struct ft_trade **closed_sorted(struct ft_app *app, size_t *n)
{
	const struct ft_trade **c = calloc(app->book.n + 1, sizeof(*c));
	*n = 0;
	for (size_t i = 0; c && i < app->book.n; i++)
		if (!app->book.t[i].is_open)
			c[(*n)++] = &app->book.t[i];
	if (c)
		qsort(c, *n, sizeof(*c), by_close);
	return c;
}

static void add_first_last(cJSON *o, const struct pstats *s)
{
	char h[64];
	add_date_or_empty(o, "first_trade_date", s->first_us);
	humanize(h, sizeof(h), s->first_us);
	cJSON_AddStringToObject(o, "first_trade_humanized",
	                        s->first_us ? h : "");
	json_add_int(o, "first_trade_timestamp", s->first_us / 1000);
	add_date_or_empty(o, "latest_trade_date", s->last_us);
	humanize(h, sizeof(h), s->last_us);
	cJSON_AddStringToObject(o, "latest_trade_humanized",
	                        s->last_us ? h : "");
	json_add_int(o, "latest_trade_timestamp", s->last_us / 1000);
}

cJSON *stats_profit(struct ft_app *app)
{
	struct pstats s;
	struct dd d;
	size_t nc;
	char dur[64];
	collect(app, &s);
	double start = book_starting_balance(&app->book);
	bool fiat = app->cfg.fiat != NULL;
	const struct ft_trade **c = closed_sorted(app, &nc);
	drawdown(c, c ? nc : 0, start, &d);
	cJSON *o = cJSON_CreateObject();
	add_money(o, "profit_closed", s.closed_coin, s.closed_ratio_sum,
	          s.nclosed, start, fiat);
	add_money(o, "profit_all", s.all_coin, s.all_ratio_sum, s.nall, start,
	          fiat);
	json_add_int(o, "trade_count", (int64_t)s.nall);
	json_add_int(o, "closed_trade_count", (int64_t)s.nclosed);
	add_first_last(o, &s);
	duration(dur, sizeof(dur),
	         s.dur_sum / (double)(s.nclosed ? s.nclosed : 1));
	cJSON_AddStringToObject(o, "avg_duration", dur);
	best_pair(app, o);
	json_add_int(o, "winning_trades", (int64_t)s.wins);
	json_add_int(o, "losing_trades", (int64_t)s.losses);
	json_add_float(o, "profit_factor",
	               s.loss_profit ? s.win_profit / fabs(s.loss_profit)
	                             : INFINITY);
	json_add_float(o, "winrate",
	               s.nclosed ? (double)s.wins / (double)s.nclosed : 0.0);
	expectancy(&s, c, o);
	ratios(app, &s, c, &d, o);
	add_drawdown(o, &d);
	json_add_float(o, "trading_volume", s.volume);
	json_add_int(o, "bot_start_timestamp", app->bot_start_us / 1000);
	add_date_or_empty(o, "bot_start_date", app->bot_start_us);
	free(c);
	return o;
}

/* ---- /balance ---- */

static cJSON *balance_row(const char *cur, double free_, double bot,
                          double est, double est_bot, const char *stake)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "currency", cur);
	json_add_float(r, "free", free_);
	json_add_float(r, "balance", free_);
	json_add_float(r, "used", 0.0);
	json_add_float(r, "bot_owned", bot);
	json_add_float(r, "est_stake", est);
	json_add_float(r, "est_stake_bot", est_bot);
	cJSON_AddStringToObject(r, "stake", stake);
	cJSON_AddStringToObject(r, "side", "long");
	cJSON_AddFalseToObject(r, "is_position");
	json_add_float(r, "position", 0.0);
	cJSON_AddTrueToObject(r, "is_bot_managed");
	return r;
}

cJSON *stats_balance(struct ft_app *app)
{
	struct ft_book *b = &app->book;
	const char *stake = app->cfg.stake_currency;
	double fr = book_free(b);
	double avail = book_total_stake(b) - book_open_stakes(b);
	avail = avail < fr ? avail : fr;
	double total = 0, total_bot = 0;
	cJSON *o = cJSON_CreateObject();
	cJSON *cur = cJSON_AddArrayToObject(o, "currencies");
	if (fr != 0) {
		cJSON_AddItemToArray(
		        cur, balance_row(stake, fr, avail, fr, avail, stake));
		total += fr;
		total_bot += avail;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct ft_trade *t = &b->t[i];
		char base[MK_NAME_LEN];
		if (!t->is_open)
			continue;
		double est = t->amount * bot_rate(app, t->pair);
		cJSON_AddItemToArray(cur,
		                     balance_row(bot_base(app, t->pair, base),
		                                 t->amount, t->amount, est,
		                                 est, stake));
		total += est;
		total_bot += est;
	}
	bool fiat = app->cfg.fiat != NULL;
	double start = book_starting_balance(b);
	double ratio = start ? total_bot / start - 1 : 0.0;
	json_add_float(o, "total", total);
	json_add_float(o, "total_bot", total_bot);
	cJSON_AddStringToObject(o, "symbol", fiat ? app->cfg.fiat : "");
	json_add_float(o, "value", fiat ? total : 0.0);
	json_add_float(o, "value_bot", fiat ? total_bot : 0.0);
	cJSON_AddStringToObject(o, "stake", stake);
	cJSON_AddStringToObject(o, "note",
	                        app->cfg.dry_run ? "Simulated balances" : "");
	json_add_float(o, "starting_capital", start);
	json_add_float(o, "starting_capital_ratio", ratio);
	json_add_float(o, "starting_capital_pct", fmt_round(ratio * 100, 2));
	json_add_float(o, "starting_capital_fiat", fiat ? start : 0.0);
	json_add_float(o, "starting_capital_fiat_ratio", fiat ? ratio : 0.0);
	json_add_float(o, "starting_capital_fiat_pct",
	               fiat ? fmt_round(ratio * 100, 2) : 0.0);
	return o;
}

/* ---- /performance, /entries, /exits, /mix_tags ---- */

struct group {
	char key[80];
	double ratio, abs;
	int count;
};

static int by_abs(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	return x->abs < y->abs ? 1 : x->abs > y->abs ? -1 : 0;
}

static void group_key(struct ft_app *app, const struct ft_trade *t,
                      const char *by, char *k, size_t n)
{
	char tag[32], why[32];
	const char *e = trade_enter_tag(t, tag);
	const char *x = trade_exit_reason(t, why);
	if (strcmp(by, "pair") == 0)
		snprintf(k, n, "%s", app->mk.pairs[t->pair].name);
	else if (strcmp(by, "enter_tag") == 0)
		snprintf(k, n, "%s", e);
	else if (strcmp(by, "exit_reason") == 0)
		snprintf(k, n, "%s", x ? x : "Other");
	else
		snprintf(k, n, "%s %s", e, x ? x : "Other");
}

cJSON *stats_performance(struct ft_app *app, const char *by)
{
	struct group *g = calloc(app->book.n + 1, sizeof(*g));
	size_t ng = 0;
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; g && i < app->book.n; i++) {
		const struct ft_trade *t = &app->book.t[i];
		char k[80];
		if (t->is_open)
			continue;
		group_key(app, t, by, k, sizeof(k));
		size_t j = 0;
		while (j < ng && strcmp(g[j].key, k) != 0)
			j++;
		if (j == ng)
			snprintf(g[ng++].key, sizeof(g[0].key), "%s", k);
		g[j].ratio += t->close_profit;
		g[j].abs += t->close_profit_abs;
		g[j].count++;
	}
	if (g)
		qsort(g, ng, sizeof(*g), by_abs);
	for (size_t j = 0; j < ng; j++) {
		cJSON *e = cJSON_CreateObject();
		json_add_float(e, "profit_ratio", g[j].ratio);
		json_add_float(e, "profit_pct",
		               fmt_round(g[j].ratio * 100, 2));
		json_add_float(e, "profit_abs", fmt_round(g[j].abs, 8));
		json_add_int(e, "count", g[j].count);
		cJSON_AddStringToObject(e, by, g[j].key);
		if (strcmp(by, "pair") == 0)
			json_add_float(e, "profit",
			               fmt_round(g[j].ratio * 100, 2));
		cJSON_AddItemToArray(a, e);
	}
	free(g);
	return a;
}

/* ---- /daily, /weekly, /monthly ---- */

static int64_t period_start(int64_t day0, char unit, int k, struct tm *tm)
{
	time_t t = (time_t)(day0 / 1000000);
	gmtime_r(&t, tm);
	if (unit == 'd') {
		t -= (time_t)k * 86400;
	} else if (unit == 'w') {
		t -= (time_t)(((tm->tm_wday + 6) % 7) + 7 * k) * 86400;
	} else {
		tm->tm_mday = 1;
		tm->tm_mon -= k;
		t = timegm(tm);
	}
	gmtime_r(&t, tm);
	return (int64_t)t * 1000000;
}

static int64_t period_end(int64_t s, char unit)
{
	if (unit == 'd')
		return s + DAY_US;
	if (unit == 'w')
		return s + 7 * DAY_US;
	struct tm tm;
	time_t t = (time_t)(s / 1000000);
	gmtime_r(&t, &tm);
	tm.tm_mon += 1;
	return (int64_t)timegm(&tm) * 1000000;
}

cJSON *stats_timeunit(struct ft_app *app, int n, char unit)
{
	int64_t now = ft_now_us();
	int64_t day0 = now - now % DAY_US;
	double stake = book_total_stake(&app->book);
	bool fiat = app->cfg.fiat != NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON *data = cJSON_AddArrayToObject(o, "data");
	for (int k = 0; k < n && k < 1000; k++) {
		struct tm tm;
		int64_t s = period_start(day0, unit, k, &tm);
		int64_t e = period_end(s, unit);
		double p = 0;
		int cnt = 0;
		for (size_t i = 0; i < app->book.n; i++) {
			const struct ft_trade *t = &app->book.t[i];
			if (!t->is_open && t->close_us >= s &&
			    t->close_us < e) {
				p += t->close_profit_abs;
				cnt++;
			}
		}
		stake -= p;
		char d[16];
		strftime(d, sizeof(d), "%Y-%m-%d", &tm);
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "date", d);
		json_add_float(r, "abs_profit", p);
		json_add_float(r, "rel_profit",
		               stake > 0 ? fmt_round(p / stake, 8) : 0.0);
		json_add_float(r, "starting_balance", stake);
		json_add_float(r, "fiat_value", fiat ? p : 0.0);
		json_add_int(r, "trade_count", cnt);
		cJSON_AddItemToArray(data, r);
	}
	cJSON_AddStringToObject(o, "fiat_display_currency",
	                        fiat ? app->cfg.fiat : "");
	cJSON_AddStringToObject(o, "stake_currency", app->cfg.stake_currency);
	return o;
}

/* ---- /stats ---- */

cJSON *stats_stats(struct ft_app *app)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *reasons = cJSON_AddObjectToObject(o, "exit_reasons");
	double dsum[3] = { 0 };
	int dn[3] = { 0 };
	static const char *const kind[3] = { "wins", "losses", "draws" };
	for (size_t i = 0; i < app->book.n; i++) {
		const struct ft_trade *t = &app->book.t[i];
		char why[32];
		if (t->is_open)
			continue;
		int k = t->close_profit > 0 ? 0 : t->close_profit < 0 ? 1 : 2;
		const char *r = trade_exit_reason(t, why);
		cJSON *e = jget(reasons, r);
		if (!e) {
			e = cJSON_AddObjectToObject(reasons, r);
			for (int j = 0; j < 3; j++)
				cJSON_AddNumberToObject(e, kind[j], 0);
		}
		cJSON *c = jget(e, kind[k]);
		cJSON_SetNumberValue(c, c->valuedouble + 1);
		dsum[k] += (double)(t->close_us - t->open_us) / 1e6;
		dn[k]++;
	}
	cJSON *d = cJSON_AddObjectToObject(o, "durations");
	for (int j = 0; j < 3; j++)
		if (dn[j])
			json_add_float(d, kind[j], dsum[j] / dn[j]);
		else
			cJSON_AddNullToObject(d, kind[j]);
	return o;
}
