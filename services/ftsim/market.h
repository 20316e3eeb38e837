#ifndef FTSIM_MARKET_H
#define FTSIM_MARKET_H
/*
 * market: a deterministic price walk per pair. The log-price at step k
 * (step_s seconds of wall time) is the sum of the last MK_WINDOW steps'
 * seeded Gaussian draws, a pure function of (seed, pair, k): the same
 * seed gives the same prices at the same times whenever a process
 * started, the past (candles) and the present (the live price) agree and
 * need no storage. Within a window it moves as a random walk with the
 * configured volatility; over longer spans it stays around the pair's
 * starting price instead of drifting without bound. Pure: no I/O.
 */
#include <stddef.h>
#include <stdint.h>

#define MK_MAX_PAIRS 64
#define MK_NAME_LEN 32
#define MK_WINDOW_S 86400 /* seconds of draws a price sums */

struct mk_pair {
	char name[MK_NAME_LEN]; /* "BTC/USDT" */
	uint64_t key;           /* hash of the name */
	double p0;              /* price when logp is 0 */
	int64_t step;           /* step of logp */
	double logp;            /* log(price) at step - log(p0) */
};

struct market {
	uint64_t seed;
	int step_s;   /* seconds per step */
	int window;   /* steps a price sums (MK_WINDOW_S / step_s) */
	double sigma; /* stddev of one draw (a step moves by two) */
	struct mk_pair pairs[MK_MAX_PAIRS];
	size_t n;
};

struct mk_candle {
	int64_t t; /* open time, seconds */
	double open, high, low, close, volume;
};

/* A market for n pairs (names copied; at most MK_MAX_PAIRS) at time
 * now_s; tf_s is the strategy timeframe (a step is tf_s / 30, at least
 * 10 s), vol the price sigma per minute. */
void market_init(struct market *m, uint64_t seed, const char *const *names,
                 size_t n, int tf_s, double vol, int64_t now_s);
/* Index of a pair, or -1. */
int market_find(const struct market *m, const char *name);
/* Add a pair (its price at now_s); its index or -1 if full. */
int market_add(struct market *m, const char *name, int64_t now_s);
/* Move every pair's price to time now_s. */
void market_advance(struct market *m, int64_t now_s);
/* The pair's current price (after market_advance), rounded to its tick. */
double market_price(const struct market *m, size_t i);
/* Price tick and amount step of a price (exchange-like precision). */
double market_price_tick(double price);
double market_amount_step(double price);
/* Round to a multiple of tick (nearest) / step (down). */
double market_round_price(double price, double tick);
double market_floor_amount(double amount, double step);
/* Up to limit candles of tf_s seconds ending with the one that contains
 * now_s (the last is the one forming), oldest first. Returns the count. */
size_t market_candles(const struct market *m, size_t i, int tf_s,
                      int64_t now_s, size_t limit, struct mk_candle *out);

/* Counter-based random numbers: a pure function of its inputs. */
uint64_t mk_hash(uint64_t a, uint64_t b);
double mk_unit(uint64_t h);              /* [0, 1) */
double mk_gauss(uint64_t a, uint64_t b); /* N(0, 1) */
/* A sequential generator (xorshift64*); state must not be 0. */
double mk_rand(uint64_t *state); /* [0, 1) */

#endif
