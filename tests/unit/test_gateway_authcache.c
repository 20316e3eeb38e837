/* gateway: the cache of tokens checked against the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "services/gateway/authcache.c"

#define NOW_MS 1800000000000LL

static struct gw_auth_entry entry(int64_t uid, int64_t exp)
{
	struct gw_auth_entry e;

	memset(&e, 0, sizeof(e));
	e.c.uid = uid;
	e.c.exp = exp;
	e.role = 4;
	snprintf(e.username, sizeof(e.username), "user%lld", (long long)uid);
	return e;
}

static void hit_miss_ttl(void **state)
{
	struct gw_authcache *c = gw_authcache_new(8);
	struct gw_auth_entry e = entry(7, NOW_MS / 1000 + 60), out;
	(void)state;
	assert_non_null(c);
	assert_false(gw_authcache_get(c, "a.b.c", NOW_MS, 2000, &out));
	gw_authcache_put(c, "a.b.c", &e, NOW_MS);
	assert_true(gw_authcache_get(c, "a.b.c", NOW_MS + 1999, 2000, &out));
	assert_int_equal(out.c.uid, 7);
	assert_string_equal(out.username, "user7");
	/* the TTL passed; time going backwards is a miss too */
	assert_false(gw_authcache_get(c, "a.b.c", NOW_MS + 2000, 2000, &out));
	assert_false(gw_authcache_get(c, "a.b.c", NOW_MS - 1, 2000, &out));
	/* another token, even one that shares the slot, is a miss */
	assert_false(gw_authcache_get(c, "a.b.d", NOW_MS, 2000, &out));
	assert_false(gw_authcache_get(c, "a.b.c.", NOW_MS, 2000, &out));
	assert_false(gw_authcache_get(c, "", NOW_MS, 2000, &out));
	assert_false(gw_authcache_get(c, NULL, NOW_MS, 2000, &out));
	gw_authcache_clear(c);
	assert_false(gw_authcache_get(c, "a.b.c", NOW_MS, 2000, &out));
	gw_authcache_free(c);
	gw_authcache_free(NULL);
	assert_false(gw_authcache_get(NULL, "a.b.c", NOW_MS, 2000, &out));
}

static void expired_token_is_a_miss(void **state)
{
	struct gw_authcache *c = gw_authcache_new(0);
	struct gw_auth_entry e = entry(3, NOW_MS / 1000 + 1), out;
	(void)state;
	gw_authcache_put(c, "tok", &e, NOW_MS);
	assert_true(gw_authcache_get(c, "tok", NOW_MS + 999, 5000, &out));
	assert_false(gw_authcache_get(c, "tok", NOW_MS + 1000, 5000, &out));
	gw_authcache_free(c);
}

static void slots_are_taken_over(void **state)
{
	struct gw_authcache *c = gw_authcache_new(1); /* one slot */
	struct gw_auth_entry a = entry(1, NOW_MS / 1000 + 60);
	struct gw_auth_entry b = entry(2, NOW_MS / 1000 + 60), out;
	char big[GW_TOKEN_MAX_LEN + 2];
	(void)state;
	gw_authcache_put(c, "first", &a, NOW_MS);
	gw_authcache_put(c, "second", &b, NOW_MS);
	assert_false(gw_authcache_get(c, "first", NOW_MS, 2000, &out));
	assert_true(gw_authcache_get(c, "second", NOW_MS, 2000, &out));
	assert_int_equal(out.c.uid, 2);
	/* the same token again refreshes its time */
	gw_authcache_put(c, "second", &b, NOW_MS + 1500);
	assert_true(gw_authcache_get(c, "second", NOW_MS + 3000, 2000, &out));
	/* a token over the limit is never stored */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	gw_authcache_put(c, big, &a, NOW_MS);
	assert_false(gw_authcache_get(c, big, NOW_MS, 2000, &out));
	gw_authcache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hit_miss_ttl),
		cmocka_unit_test(expired_token_is_a_miss),
		cmocka_unit_test(slots_are_taken_over),
	};
	return cmocka_run_group_tests_name("gateway_authcache", tests, NULL,
					   NULL);
}
