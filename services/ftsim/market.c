/*
 * market: the seeded price walk (see market.h).
 */
#include "services/ftsim/market.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

uint64_t mk_hash(uint64_t a, uint64_t b)
{
	return splitmix(a ^ splitmix(b + 0x632BE59BD9B4E019ULL));
}

double mk_unit(uint64_t h)
{
	return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

double mk_gauss(uint64_t a, uint64_t b)
{
	uint64_t h = mk_hash(a, b);
	double u1 = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double u2 = mk_unit(splitmix(h));
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double mk_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return mk_unit(x * 0x2545F4914F6CDD1DULL);
}

static uint64_t name_key(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* A plausible starting price for the base currency of a pair. */
static double start_price(uint64_t seed, const char *name, uint64_t key)
{
	static const struct {
		const char *base;
		double p;
	} known[] = {
		{ "BTC", 64250.5 }, { "ETH", 3412.7 }, { "BNB", 581.3 },
		{ "SOL", 148.42 },  { "XRP", 0.5231 }, { "ADA", 0.4472 },
		{ "DOGE", 0.1234 }, { "LTC", 84.51 },  { "DOT", 7.213 },
		{ "LINK", 14.87 },  { "AVAX", 35.62 }, { "TRX", 0.1187 },
	};
	size_t bl = strcspn(name, "/");
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].base) == bl &&
		    strncmp(known[i].base, name, bl) == 0)
			return known[i].p;
	return pow(10.0, mk_unit(mk_hash(seed, key)) * 3.0 - 1.0);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static double draw(const struct market *m, const struct mk_pair *p,
                   int64_t k)
{
	return m->sigma * mk_gauss(m->seed ^ p->key, (uint64_t)k);
}

/* The log-price change from step k - 1 to k: a draw enters the window,
 * the oldest leaves it. */
static double step_inc(const struct market *m, const struct mk_pair *p,
                       int64_t k)
{
	return draw(m, p, k) - draw(m, p, k - m->window);
}

static void pair_init(struct market *m, struct mk_pair *p, const char *name,
                      int64_t now_s)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->key = name_key(p->name);
	p->p0 = start_price(m->seed, p->name, p->key);
	p->step = floor_div(now_s, m->step_s);
	for (int64_t k = p->step - m->window + 1; k <= p->step; k++)
		p->logp += draw(m, p, k);
}

void market_init(struct market *m, uint64_t seed, const char *const *names,
                 size_t n, int tf_s, double vol, int64_t now_s)
{
	memset(m, 0, sizeof(*m));
	m->seed = seed;
	m->step_s = tf_s / 30 > 10 ? tf_s / 30 : 10;
	m->window = MK_WINDOW_S / m->step_s > 1 ? MK_WINDOW_S / m->step_s : 1;
	/* a step moves by two independent draws: the configured sigma per
	 * minute is kept */
	m->sigma = vol * sqrt(m->step_s / 60.0) / sqrt(2.0);
	for (size_t i = 0; i < n && m->n < MK_MAX_PAIRS; i++)
		if (market_find(m, names[i]) < 0)
			pair_init(m, &m->pairs[m->n++], names[i], now_s);
}

int market_find(const struct market *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->pairs[i].name, name) == 0)
			return (int)i;
	return -1;
}

int market_add(struct market *m, const char *name, int64_t now_s)
{
	int i = market_find(m, name);
	if (i >= 0)
		return i;
	if (m->n >= MK_MAX_PAIRS)
		return -1;
	pair_init(m, &m->pairs[m->n], name, now_s);
	return (int)m->n++;
}

void market_advance(struct market *m, int64_t now_s)
{
	int64_t target = floor_div(now_s, m->step_s);
	for (size_t i = 0; i < m->n; i++) {
		struct mk_pair *p = &m->pairs[i];
		while (p->step < target) {
			p->step++;
			p->logp += step_inc(m, p, p->step);
		}
	}
}

double market_price_tick(double price)
{
	if (!(price > 0))
		return 1e-8;
	return pow(10.0, floor(log10(price)) - 6);
}

double market_amount_step(double price)
{
	if (!(price > 0))
		return 1e-8;
	return pow(10.0, -(floor(log10(price)) + 1));
}

static int decimals_of(double tick)
{
	int d = (int)lround(-log10(tick));
	return d < 0 ? 0 : (d > 12 ? 12 : d);
}

double market_round_price(double price, double tick)
{
	char b[64];
	snprintf(b, sizeof(b), "%.*f", decimals_of(tick),
	         round(price / tick) * tick);
	return strtod(b, NULL);
}

double market_floor_amount(double amount, double step)
{
	char b[64];
	/* a hair over: 0.1/0.00001 is 9999.999… in binary */
	snprintf(b, sizeof(b), "%.*f", decimals_of(step),
	         floor(amount / step + 1e-9) * step);
	return strtod(b, NULL);
}

static double price_at(const struct mk_pair *p, double logp)
{
	double v = p->p0 * exp(logp);
	return market_round_price(v, market_price_tick(p->p0));
}

double market_price(const struct market *m, size_t i)
{
	if (i >= m->n)
		return 0;
	return price_at(&m->pairs[i], m->pairs[i].logp);
}

static double candle_volume(const struct market *m, const struct mk_pair *p,
                            int64_t t, int tf_s, double price)
{
	double u = mk_unit(mk_hash(m->seed ^ p->key ^ 0x5A5A, (uint64_t)t));
	double v = 20000.0 / price * (0.3 + 1.4 * u) * tf_s / 300.0;
	return market_floor_amount(v, market_amount_step(price));
}

size_t market_candles(const struct market *m, size_t i, int tf_s,
                      int64_t now_s, size_t limit, struct mk_candle *out)
{
	if (i >= m->n || limit == 0 || tf_s <= 0)
		return 0;
	const struct mk_pair *p = &m->pairs[i];
	int64_t last_t = floor_div(now_s, tf_s) * tf_s;
	int64_t first_t = last_t - (int64_t)(limit - 1) * tf_s;
	/* walk back from the current step, filling candles newest first */
	int64_t k = p->step;
	double lp = p->logp;
	size_t filled = 0;
	for (int64_t t = last_t; t >= first_t; t -= tf_s) {
		int64_t k_last = floor_div(t + tf_s - 1, m->step_s);
		int64_t k_first = floor_div(t, m->step_s);
		while (k > k_last) { /* steps after this candle */
			lp -= step_inc(m, p, k);
			k--;
		}
		struct mk_candle *c = &out[limit - 1 - filled];
		c->t = t;
		c->close = price_at(p, lp);
		c->high = c->low = c->close;
		while (k > k_first) {
			lp -= step_inc(m, p, k);
			k--;
			double v = price_at(p, lp);
			c->high = v > c->high ? v : c->high;
			c->low = v < c->low ? v : c->low;
		}
		c->open = price_at(p, lp);
		c->volume = candle_volume(m, p, t, tf_s, c->close);
		filled++;
	}
	if (filled < limit) /* move to the front */
		memmove(out, out + (limit - filled), filled * sizeof(*out));
	return filled;
}
