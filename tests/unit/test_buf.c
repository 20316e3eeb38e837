/* lc_buf: bounded growth, JSON string escaping, detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/buf.h"

static void append_within_max(void **state)
{
	(void)state;
	struct lc_buf b;
	lc_buf_init(&b, 8);
	assert_int_equal(lc_buf_append_str(&b, "abcd"), 0);
	assert_int_equal(lc_buf_printf(&b, "%d", 1234), 0);
	assert_string_equal(b.data, "abcd1234");
	assert_int_equal(b.len, 8);
	lc_buf_release(&b);
}

static void append_past_max_fails_unchanged(void **state)
{
	(void)state;
	struct lc_buf b;
	lc_buf_init(&b, 8);
	assert_int_equal(lc_buf_append_str(&b, "abcdef"), 0);
	assert_int_equal(lc_buf_append_str(&b, "xyz"), -1);
	assert_int_equal(lc_buf_printf(&b, "%s", "xyz"), -1);
	assert_string_equal(b.data, "abcdef");
	assert_int_equal(lc_buf_append_json_str(&b, "q"), -1);
	assert_string_equal(b.data, "abcdef");
	lc_buf_release(&b);
}

static void json_escaping(void **state)
{
	(void)state;
	struct lc_buf b;
	lc_buf_init(&b, 1024);
	assert_int_equal(lc_buf_append_json_str(
				 &b, "a\"b\\c\n\t\x01 \xC3\xA9 \xFF!"),
			 0);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 "
				    "\xC3\xA9 \xEF\xBF\xBD!\"");
	lc_buf_reset(&b);
	/* an overlong encoding and a lone surrogate are not valid UTF-8 */
	assert_int_equal(lc_buf_append_json_str(&b, "\xC0\xAF\xED\xA0\x80"),
			 0);
	assert_string_equal(b.data, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
				    "\xEF\xBF\xBD\xEF\xBF\xBD\"");
	lc_buf_release(&b);
}

static void detach_hands_over(void **state)
{
	(void)state;
	struct lc_buf b;
	lc_buf_init(&b, 100);
	size_t n = 99;
	char *empty = lc_buf_detach(&b, &n);
	assert_string_equal(empty, "");
	assert_int_equal(n, 0);
	free(empty);
	assert_int_equal(lc_buf_append_str(&b, "hello"), 0);
	char *p = lc_buf_detach(&b, &n);
	assert_string_equal(p, "hello");
	assert_int_equal(n, 5);
	assert_null(b.data);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_within_max),
		cmocka_unit_test(append_past_max_fails_unchanged),
		cmocka_unit_test(json_escaping),
		cmocka_unit_test(detach_hands_over),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
