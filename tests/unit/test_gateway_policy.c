/* gateway: password policy and username format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "services/gateway/policy.c"

static bool ok(const char *pw, const char *user, size_t min, bool special)
{
	char err[200];
	return gw_password_ok(pw, user, min, special, err, sizeof(err));
}

static void length(void **state)
{
	char err[200];
	(void)state;
	assert_true(ok("abcdef1!", NULL, 8, true));
	assert_false(ok("abcde1!", NULL, 8, true));
	assert_false(gw_password_ok("short!", NULL, 8, true, err,
				    sizeof(err)));
	assert_string_equal(err, "password must be at least 8 characters "
				 "long");
	assert_true(ok("abcdefghijkl!", NULL, 12, true));
	assert_false(ok("", NULL, 8, false));
	assert_false(ok(NULL, NULL, 8, false));
	/* characters, not bytes: 7 two-byte letters are 7 */
	assert_false(ok("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			"\xc3\xa9", NULL, 8, false));
	assert_true(ok("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		       "\xc3\xa9\xc3\xa9", NULL, 8, true));
	char big[GW_PASSWORD_MAX + 2];
	memset(big, 'a', sizeof(big));
	big[0] = '!';
	big[GW_PASSWORD_MAX + 1] = '\0';
	assert_false(ok(big, NULL, 8, true));
	big[GW_PASSWORD_MAX] = '\0';
	assert_true(ok(big, NULL, 8, true));
}

static void special(void **state)
{
	char err[200];
	(void)state;
	assert_false(gw_password_ok("abcdefgh1", NULL, 8, true, err,
				    sizeof(err)));
	assert_non_null(strstr(err, "special character"));
	assert_true(ok("abcdefgh1", NULL, 8, false));
	assert_true(ok("abcd efgh", NULL, 8, true)); /* space counts */
	assert_true(ok("abcdefg_", NULL, 8, true));
}

static void rejected_text(void **state)
{
	(void)state;
	assert_false(ok("abc\tdefgh!", NULL, 8, true));
	assert_false(ok("abcdefgh!\x7f", NULL, 8, true));
	assert_false(ok("abcdefgh!\xff", NULL, 8, true));
	assert_false(ok("Alice-2024", "alice-2024", 8, true));
	assert_true(ok("Alice-2024", "bob", 8, true));
}

static void usernames(void **state)
{
	(void)state;
	assert_true(gw_username_ok("alice"));
	assert_true(gw_username_ok("a.b@c-d_e"));
	assert_true(gw_username_ok("7up"));
	assert_false(gw_username_ok("al"));
	assert_false(gw_username_ok("_alice"));
	assert_false(gw_username_ok("ali ce"));
	assert_false(gw_username_ok("alice!"));
	assert_false(gw_username_ok(""));
	assert_false(gw_username_ok(NULL));
	char name[66];
	memset(name, 'a', sizeof(name));
	name[64] = '\0';
	assert_true(gw_username_ok(name));
	name[64] = 'a';
	name[65] = '\0';
	assert_false(gw_username_ok(name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(length),
		cmocka_unit_test(special),
		cmocka_unit_test(rejected_text),
		cmocka_unit_test(usernames),
	};
	return cmocka_run_group_tests_name("gateway_policy", tests, NULL,
					   NULL);
}
