#ifndef LC_BREAKER_H
#define LC_BREAKER_H
/*
 * Circuit breaker (closed / open / half-open) for a flaky dependency such
 * as a notification channel:
 *  - closed: calls pass; `threshold` consecutive failures open it;
 *  - open: calls are refused until `reset_ms` have passed, then it is
 *    half-open;
 *  - half-open: one trial call passes; success closes, failure reopens.
 * Times are the caller's monotonic milliseconds (lc_clock_mono_ms), so
 * tests can drive it without sleeping.
 */
#include <stdbool.h>
#include <stdint.h>

enum lc_breaker_state {
	LC_BREAKER_CLOSED,
	LC_BREAKER_OPEN,
	LC_BREAKER_HALF_OPEN,
};

struct lc_breaker;
typedef void (*lc_breaker_cb)(struct lc_breaker *b,
			      enum lc_breaker_state from,
			      enum lc_breaker_state to, void *arg);

struct lc_breaker {
	enum lc_breaker_state state;
	int threshold;          /* consecutive failures that open it */
	int64_t reset_ms;       /* open -> half-open after this long */
	int failures;           /* consecutive failures while closed */
	int64_t opened_at;      /* when it last opened */
	bool trial_inflight;    /* half-open: the one trial call is out */
	lc_breaker_cb on_change; /* may be NULL */
	void *arg;              /* passed to on_change */
};

void lc_breaker_init(struct lc_breaker *b, int threshold, int64_t reset_ms,
		     lc_breaker_cb on_change, void *arg);
/* May a call go out now? In half-open, true once until its outcome is
 * reported. */
bool lc_breaker_allow(struct lc_breaker *b, int64_t now_ms)
	__attribute__((warn_unused_result));
void lc_breaker_success(struct lc_breaker *b, int64_t now_ms);
void lc_breaker_failure(struct lc_breaker *b, int64_t now_ms);
const char *lc_breaker_state_name(enum lc_breaker_state s);

#endif
