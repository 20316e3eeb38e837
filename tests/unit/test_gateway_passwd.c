/* gateway: argon2id on worker threads, results back on the loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "services/gateway/passwd.c"

struct outcome {
	int calls;
	enum gw_pw_result res;
	char *encoded;
	struct event_base *base;
	int *left;
};

static void record_outcome(enum gw_pw_result res, const char *encoded,
			   void *arg)
{
	struct outcome *o = arg;
	o->calls++;
	o->res = res;
	o->encoded = encoded ? strdup(encoded) : NULL;
	if (o->left && --*o->left == 0)
		event_base_loopexit(o->base, NULL);
}

static void hash_then_verify(void **state)
{
	struct event_base *base = event_base_new();
	char err[128];
	int left = 2;
	struct outcome a = { .base = base, .left = &left };
	struct outcome b = { .base = base, .left = &left };
	(void)state;
	struct gw_passwd *p = gw_passwd_new(base, 2, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(gw_passwd_hash(p, "Secr3t!pw", record_outcome, &a),
			 0);
	assert_int_equal(gw_passwd_hash(p, "Secr3t!pw", record_outcome, &b),
			 0);
	assert_int_equal(gw_passwd_pending(p), 2);
	assert_int_equal(a.calls, 0); /* never from inside the call */
	event_base_dispatch(base);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.res, GW_PW_OK);
	assert_non_null(strstr(a.encoded, "$argon2id$v=19$m=19456,t=2,p=1$"));
	assert_string_not_equal(a.encoded, b.encoded); /* salted */

	struct outcome ok = { .base = base, .left = &left };
	struct outcome bad = { .base = base, .left = &left };
	left = 2;
	assert_int_equal(gw_passwd_verify(p, a.encoded, "Secr3t!pw",
					  record_outcome, &ok), 0);
	assert_int_equal(gw_passwd_verify(p, a.encoded, "guess",
					  record_outcome, &bad), 0);
	event_base_dispatch(base);
	assert_int_equal(ok.res, GW_PW_OK);
	assert_null(ok.encoded);
	assert_int_equal(bad.res, GW_PW_MISMATCH);
	assert_int_equal(gw_passwd_pending(p), 0);
	assert_int_equal(gw_passwd_verify_now(a.encoded, "Secr3t!pw"),
			 GW_PW_OK);
	assert_int_equal(gw_passwd_verify_now("$argon2id$junk", "x"),
			 GW_PW_ERROR);
	gw_passwd_free(p);
	free(a.encoded);
	free(b.encoded);
	event_base_free(base);
}

static void bounded_and_cancelled(void **state)
{
	struct event_base *base = event_base_new();
	struct outcome o[GW_PASSWD_MAX_QUEUED + 8];
	char err[128];
	int accepted = 0;
	(void)state;
	memset(o, 0, sizeof(o));
	struct gw_passwd *p = gw_passwd_new(base, 1, err, sizeof(err));
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(o) / sizeof(*o); i++)
		if (gw_passwd_verify(p, "$argon2id$x", "pw", record_outcome,
				     &o[i]) == 0)
			accepted++;
	/* one may already be with the worker, the rest wait in line */
	assert_true(accepted >= GW_PASSWD_MAX_QUEUED);
	assert_true(accepted <= GW_PASSWD_MAX_QUEUED + 1);
	gw_passwd_free(p); /* every accepted job ends now, cancelled */
	for (int i = 0; i < accepted; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].res, GW_PW_CANCELLED);
	}
	for (size_t i = (size_t)accepted; i < sizeof(o) / sizeof(*o); i++)
		assert_int_equal(o[i].calls, 0);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_then_verify),
		cmocka_unit_test(bounded_and_cancelled),
	};
	return cmocka_run_group_tests_name("gateway_passwd", tests, NULL,
					   NULL);
}
