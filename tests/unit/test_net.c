/* lc_net: address ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "libcommon/net.h"

#define S(x) ((char *)(x))

static void valid_ranges(void **state)
{
	(void)state;
	assert_true(lc_net_cidr_valid("127.0.0.0/8"));
	assert_true(lc_net_cidr_valid("10.1.2.3"));
	assert_true(lc_net_cidr_valid("::1"));
	assert_true(lc_net_cidr_valid("fd00::/8"));
	assert_true(lc_net_cidr_valid("0.0.0.0/0"));
	assert_false(lc_net_cidr_valid("127.0.0.0/33"));
	assert_false(lc_net_cidr_valid("::/129"));
	assert_false(lc_net_cidr_valid("localhost"));
	assert_false(lc_net_cidr_valid("10.0.0.0/"));
	assert_false(lc_net_cidr_valid("10.0.0.0/8x"));
	assert_false(lc_net_cidr_valid(""));
	assert_false(lc_net_cidr_valid(NULL));
}

static void membership(void **state)
{
	(void)state;
	char *nets[] = { S("127.0.0.0/8"), S("::1"), S("172.16.0.0/12"),
			 S("fd00::/8") };
	size_t n = sizeof(nets) / sizeof(nets[0]);
	assert_true(lc_net_in_any("127.0.0.1", nets, n));
	assert_true(lc_net_in_any("127.255.0.9", nets, n));
	assert_true(lc_net_in_any("::1", nets, n));
	assert_true(lc_net_in_any("172.31.255.255", nets, n));
	assert_false(lc_net_in_any("172.32.0.1", nets, n));
	assert_true(lc_net_in_any("fdab::7", nets, n));
	assert_false(lc_net_in_any("fe80::1", nets, n));
	assert_false(lc_net_in_any("10.0.0.1", nets, n));
	assert_false(lc_net_in_any("::2", nets, n));
	assert_false(lc_net_in_any("not-an-ip", nets, n));
	assert_false(lc_net_in_any("127.0.0.0/8", nets, n));
	assert_false(lc_net_in_any("127.0.0.1", nets, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_ranges),
		cmocka_unit_test(membership),
	};
	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
