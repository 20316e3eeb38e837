/* util: clock helpers, backoff with jitter, circuit breaker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/time.h>

#include "libcommon/backoff.h"
#include "libcommon/breaker.h"
#include "libcommon/clock.h"

static void rfc3339_format(void **state)
{
	(void)state;
	char out[LC_CLOCK_RFC3339_LEN];
	assert_string_equal(lc_clock_rfc3339(out, 0),
			    "1970-01-01T00:00:00.000Z");
	assert_string_equal(lc_clock_rfc3339(out, 1795260480123LL),
			    "2026-11-21T11:28:00.123Z");
	assert_string_equal(lc_clock_rfc3339(out, -1),
			    "1969-12-31T23:59:59.999Z");
	struct timeval tv;
	lc_clock_tv(&tv, 2500);
	assert_int_equal(tv.tv_sec, 2);
	assert_int_equal(tv.tv_usec, 500000);
	int64_t a = lc_clock_mono_ms(), b = lc_clock_mono_ms();
	assert_true(b >= a);
}

static void backoff_grows_with_jitter_and_caps(void **state)
{
	(void)state;
	struct lc_backoff b;
	lc_backoff_init(&b, 100, 1000, 42);
	int64_t bounds[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		int64_t d = lc_backoff_next(&b);
		assert_in_range(d, bounds[i] / 2, bounds[i]);
	}
	lc_backoff_reset(&b);
	assert_in_range(lc_backoff_next(&b), 50, 100);
}

static void backoff_jitter_differs(void **state)
{
	(void)state;
	/* two clients failing together must not retry in lock-step */
	struct lc_backoff x, y;
	lc_backoff_init(&x, 1000, 60000, 1);
	lc_backoff_init(&y, 1000, 60000, 2);
	int same = 0;
	for (int i = 0; i < 6; i++)
		same += lc_backoff_next(&x) == lc_backoff_next(&y);
	assert_true(same < 3);
}

struct change {
	int n;
	enum lc_breaker_state from[8], to[8];
};

static void on_change(struct lc_breaker *b, enum lc_breaker_state from,
		      enum lc_breaker_state to, void *arg)
{
	(void)b;
	struct change *c = arg;
	c->from[c->n] = from;
	c->to[c->n] = to;
	c->n++;
}

static void breaker_state_changes(void **state)
{
	(void)state;
	struct change c = { 0 };
	struct lc_breaker b;
	lc_breaker_init(&b, 3, 1000, on_change, &c);
	int64_t t = 10000;
	assert_true(lc_breaker_allow(&b, t));
	lc_breaker_failure(&b, t);
	lc_breaker_failure(&b, t);
	lc_breaker_success(&b, t); /* resets the consecutive count */
	lc_breaker_failure(&b, t);
	lc_breaker_failure(&b, t);
	assert_int_equal(b.state, LC_BREAKER_CLOSED);
	lc_breaker_failure(&b, t);
	assert_int_equal(b.state, LC_BREAKER_OPEN);
	assert_false(lc_breaker_allow(&b, t + 999));
	/* after reset_ms: exactly one trial call */
	assert_true(lc_breaker_allow(&b, t + 1000));
	assert_int_equal(b.state, LC_BREAKER_HALF_OPEN);
	assert_false(lc_breaker_allow(&b, t + 1001));
	lc_breaker_failure(&b, t + 1500); /* trial failed: open again */
	assert_int_equal(b.state, LC_BREAKER_OPEN);
	assert_false(lc_breaker_allow(&b, t + 2400));
	assert_true(lc_breaker_allow(&b, t + 2500));
	lc_breaker_success(&b, t + 2600);
	assert_int_equal(b.state, LC_BREAKER_CLOSED);
	assert_true(lc_breaker_allow(&b, t + 2600));

	enum lc_breaker_state want_from[] = { LC_BREAKER_CLOSED,
					      LC_BREAKER_OPEN,
					      LC_BREAKER_HALF_OPEN,
					      LC_BREAKER_OPEN,
					      LC_BREAKER_HALF_OPEN };
	enum lc_breaker_state want_to[] = { LC_BREAKER_OPEN,
					    LC_BREAKER_HALF_OPEN,
					    LC_BREAKER_OPEN,
					    LC_BREAKER_HALF_OPEN,
					    LC_BREAKER_CLOSED };
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c.from[i], want_from[i]);
		assert_int_equal(c.to[i], want_to[i]);
	}
	assert_string_equal(lc_breaker_state_name(LC_BREAKER_HALF_OPEN),
			    "half_open");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc3339_format),
		cmocka_unit_test(backoff_grows_with_jitter_and_caps),
		cmocka_unit_test(backoff_jitter_differs),
		cmocka_unit_test(breaker_state_changes),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
