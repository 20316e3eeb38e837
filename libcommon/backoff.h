#ifndef LC_BACKOFF_H
#define LC_BACKOFF_H
/*
 * Exponential backoff with jitter, for reconnects and restarts.
 * Attempt n (0-based) waits a random time in [d/2, d] where
 * d = min(max_ms, base_ms * 2^n): never zero, never in lock-step with
 * other clients that failed at the same moment.
 */
#include <stdint.h>

struct lc_backoff {
	int64_t base_ms;  /* first delay's upper bound */
	int64_t max_ms;   /* cap on any delay */
	int attempt;      /* failures since the last reset */
	uint64_t rng;     /* xorshift state, seeded by lc_backoff_init */
};

/* seed 0 picks one from the clock and pid. */
void lc_backoff_init(struct lc_backoff *b, int64_t base_ms, int64_t max_ms,
		     uint64_t seed);
/* The delay before the next attempt; counts one more failure. */
int64_t lc_backoff_next(struct lc_backoff *b);
/* After a success: the next failure starts from base_ms again. */
void lc_backoff_reset(struct lc_backoff *b);

#endif
