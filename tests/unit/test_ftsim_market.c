/* ftsim's seeded price walk (services/ftsim/market.c) and its trade
 * arithmetic (services/ftsim/book.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "services/ftsim/book.c"
#include "services/ftsim/fmt.c"
#include "services/ftsim/market.c"

static const char *const pairs[] = { "BTC/USDT", "ETH/USDT", "FOO/USDT" };
#define T0 1735787045LL /* 2025-01-02 03:04:05 UTC */

static void same_seed_same_prices(void **state)
{
	(void)state;
	struct market a, b, c, flat;
	market_init(&a, 42, pairs, 3, 300, 0.002, T0);
	market_init(&b, 42, pairs, 3, 300, 0.002, T0);
	market_init(&c, 43, pairs, 3, 300, 0.002, T0);
	assert_int_equal(a.step_s, 10);
	/* the walk is around the pair's known price: without volatility
	 * it is that price */
	market_init(&flat, 42, pairs, 3, 300, 0, T0);
	assert_true(market_price(&flat, 0) == 64250.5);
	bool differs = false;
	for (int64_t t = T0; t < T0 + 3600; t += 37) {
		market_advance(&a, t);
		market_advance(&b, t);
		market_advance(&c, t);
		for (size_t i = 0; i < 3; i++) {
			assert_true(market_price(&a, i) ==
			            market_price(&b, i));
			differs |= market_price(&a, i) != market_price(&c, i);
		}
	}
	assert_true(differs);
	/* a plausible walk: an hour moves BTC by well under 20 % */
	assert_true(fabs(market_price(&a, 0) / 64250.5 - 1) < 0.2);
	assert_true(market_price(&a, 2) > 0);
}

/* Prices are a function of the time, not of when the process started:
 * two bots with the same seed agree whenever each was started. */
static void same_prices_whenever_started(void **state)
{
	(void)state;
	struct market early, late;
	market_init(&early, 42, pairs, 3, 300, 0.002, T0 - 7 * 3600 - 13);
	market_init(&late, 42, pairs, 3, 300, 0.002, T0);
	market_advance(&early, T0);
	for (int64_t t = T0; t < T0 + 1800; t += 7) {
		market_advance(&early, t);
		market_advance(&late, t);
		for (size_t i = 0; i < 3; i++)
			assert_true(market_price(&early, i) ==
			            market_price(&late, i));
	}
	struct mk_candle ce[20], cl[20];
	size_t n = market_candles(&early, 1, 300, T0 + 1800, 20, ce);
	assert_int_equal(n, 20);
	assert_int_equal(market_candles(&late, 1, 300, T0 + 1800, 20, cl), n);
	assert_memory_equal(ce, cl, sizeof(ce));
}

/* The configured volatility is the walk's: the standard deviation of
 * one-minute log returns over a day is vol (here 0.002) within 10 %. */
static void volatility_per_minute(void **state)
{
	(void)state;
	struct market m;
	market_init(&m, 5, pairs, 1, 60, 0.002, T0);
	double prev = log(market_price(&m, 0)), sum = 0, sum2 = 0;
	int n = 0;
	for (int64_t t = T0 + 60; t <= T0 + 86400; t += 60, n++) {
		market_advance(&m, t);
		double lp = log(market_price(&m, 0));
		sum += lp - prev;
		sum2 += (lp - prev) * (lp - prev);
		prev = lp;
	}
	double sd = sqrt(sum2 / n - (sum / n) * (sum / n));
	assert_true(sd > 0.0018 && sd < 0.0022);
}

static void candles_end_at_the_live_price(void **state)
{
	(void)state;
	struct market m;
	struct mk_candle cs[50];
	market_init(&m, 7, pairs, 2, 300, 0.002, T0);
	int64_t now = T0 + 4 * 3600 + 123;
	market_advance(&m, now);
	size_t n = market_candles(&m, 0, 300, now, 50, cs);
	assert_int_equal(n, 50);
	assert_true(cs[49].close == market_price(&m, 0));
	assert_int_equal(cs[49].t, now - now % 300);
	for (size_t i = 0; i < n; i++) {
		assert_true(cs[i].low <= cs[i].open &&
		            cs[i].open <= cs[i].high);
		assert_true(cs[i].low <= cs[i].close &&
		            cs[i].close <= cs[i].high);
		assert_true(cs[i].volume > 0);
		if (i)
			assert_int_equal(cs[i].t - cs[i - 1].t, 300);
	}
	/* the past does not depend on when it is asked for */
	struct market later = m;
	struct mk_candle again[50];
	market_advance(&later, now + 900);
	market_candles(&later, 0, 300, now + 900, 50, again);
	assert_int_equal(again[46].t, cs[49].t);
	assert_true(again[45].close == cs[48].close);
	assert_true(again[45].high == cs[48].high);
}

static void precision_like_an_exchange(void **state)
{
	(void)state;
	assert_true(market_price_tick(64250.5) == 0.01);
	assert_true(market_amount_step(64250.5) == 0.00001);
	assert_true(market_amount_step(3412.7) == 0.0001);
	assert_true(market_floor_amount(100 / 64250.5, 0.00001) == 0.00155);
	assert_true(market_round_price(64250.504999, 0.01) == 64250.5);
}

static void profit_as_freqtrade_computes_it(void **state)
{
	(void)state;
	struct ft_trade t = { .amount = 0.00155,
		              .open_rate = 64250.5,
		              .fee = 0.001,
		              .stake_amount = 99.588275 };
	/* open value: 0.00155 * 64250.5 * 1.001 */
	assert_true(fabs(trade_open_value(&t) - 99.687863275) < 1e-9);
	struct ft_profit p = trade_profit(&t, 66000);
	/* close value 0.00155 * 66000 * 0.999 = 102.1977 */
	assert_true(p.abs == 2.50983672);
	assert_true(p.ratio == 0.02517695);
	struct ft_book b;
	book_init(&b, 1000, 0.99);
	struct ft_trade *x = book_add(&b);
	*x = t;
	x->id = 1;
	x->is_open = true;
	assert_true(book_starting_balance(&b) == 990);
	assert_true(fabs(book_free(&b) - (1000 - 99.588275)) < 1e-9);
	x->is_open = false;
	x->close_profit_abs = p.abs;
	assert_true(fabs(book_free(&b) - (1000 + p.abs)) < 1e-9);
	book_trim(&b, 0);
	assert_int_equal(b.n, 1);
	book_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_seed_same_prices),
		cmocka_unit_test(same_prices_whenever_started),
		cmocka_unit_test(volatility_per_minute),
		cmocka_unit_test(candles_end_at_the_live_price),
		cmocka_unit_test(precision_like_an_exchange),
		cmocka_unit_test(profit_as_freqtrade_computes_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
