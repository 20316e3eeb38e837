/* Exponential backoff with jitter. */
#include "libcommon/backoff.h"

#include "libcommon/clock.h"

#include <unistd.h>

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

void lc_backoff_init(struct lc_backoff *b, int64_t base_ms, int64_t max_ms,
		     uint64_t seed)
{
	b->base_ms = base_ms > 0 ? base_ms : 1;
	b->max_ms = max_ms >= b->base_ms ? max_ms : b->base_ms;
	b->attempt = 0;
	if (seed == 0)
		seed = (uint64_t)lc_clock_mono_ms() * 2654435761u ^
		       (uint64_t)getpid() << 32;
	b->rng = seed ? seed : 88172645463325252ull;
}

int64_t lc_backoff_next(struct lc_backoff *b)
{
	int64_t d = b->base_ms;
	for (int i = 0; i < b->attempt && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	if (b->attempt < 62)
		b->attempt++;
	int64_t half = d / 2;
	return half + (int64_t)(xorshift(&b->rng) % (uint64_t)(d - half + 1));
}

void lc_backoff_reset(struct lc_backoff *b)
{
	b->attempt = 0;
}
