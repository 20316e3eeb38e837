/* Circuit breaker. */
#include "libcommon/breaker.h"

#include <stddef.h>

static void set_state(struct lc_breaker *b, enum lc_breaker_state to,
		      int64_t now)
{
	enum lc_breaker_state from = b->state;
	if (from == to)
		return;
	b->state = to;
	b->trial_inflight = false;
	if (to == LC_BREAKER_OPEN)
		b->opened_at = now;
	if (to == LC_BREAKER_CLOSED)
		b->failures = 0;
	if (b->on_change)
		b->on_change(b, from, to, b->arg);
}

void lc_breaker_init(struct lc_breaker *b, int threshold, int64_t reset_ms,
		     lc_breaker_cb on_change, void *arg)
{
	b->state = LC_BREAKER_CLOSED;
	b->threshold = threshold > 0 ? threshold : 1;
	b->reset_ms = reset_ms;
	b->failures = 0;
	b->opened_at = 0;
	b->trial_inflight = false;
	b->on_change = on_change;
	b->arg = arg;
}

bool lc_breaker_allow(struct lc_breaker *b, int64_t now_ms)
{
	switch (b->state) {
	case LC_BREAKER_CLOSED:
		return true;
	case LC_BREAKER_OPEN:
		if (now_ms - b->opened_at < b->reset_ms)
			return false;
		set_state(b, LC_BREAKER_HALF_OPEN, now_ms);
		/* fall through: this caller makes the trial call */
		/* FALLTHROUGH */
	case LC_BREAKER_HALF_OPEN:
		if (b->trial_inflight)
			return false;
		b->trial_inflight = true;
		return true;
	}
	return false;
}

void lc_breaker_success(struct lc_breaker *b, int64_t now_ms)
{
	if (b->state == LC_BREAKER_CLOSED)
		b->failures = 0;
	else
		set_state(b, LC_BREAKER_CLOSED, now_ms);
}

void lc_breaker_failure(struct lc_breaker *b, int64_t now_ms)
{
	switch (b->state) {
	case LC_BREAKER_CLOSED:
		if (++b->failures >= b->threshold)
			set_state(b, LC_BREAKER_OPEN, now_ms);
		break;
	case LC_BREAKER_HALF_OPEN:
		set_state(b, LC_BREAKER_OPEN, now_ms);
		break;
	case LC_BREAKER_OPEN:
		b->opened_at = now_ms;
		break;
	}
}

const char *lc_breaker_state_name(enum lc_breaker_state s)
{
	switch (s) {
	case LC_BREAKER_CLOSED: return "closed";
	case LC_BREAKER_OPEN: return "open";
	case LC_BREAKER_HALF_OPEN: return "half_open";
	}
	return "unknown";
}
