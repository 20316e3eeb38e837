/* lc_log: JSON line shape, escaping, levels, redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/log.h"

static int pipefd[2];

static int setup(void **state)
{
	(void)state;
	if (pipe(pipefd) != 0)
		return -1;
	lc_log_set_fd(pipefd[1]);
	lc_log_init("testsvc", LC_LOG_DEBUG);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lc_log_set_fd(-1);
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

/* Read what was logged since the last call (one or more lines). */
static char *drain(void)
{
	static char buf[65536];
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static cJSON *one_line(void)
{
	char *s = drain();
	size_t len = strlen(s);
	assert_true(len > 0);
	assert_int_equal(s[len - 1], '\n');
	assert_null(memchr(s, '\n', len - 1)); /* exactly one line */
	cJSON *j = cJSON_Parse(s);
	assert_non_null(j);
	return j;
}

static const char *str(cJSON *j, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static void line_shape(void **state)
{
	(void)state;
	log_info("db.connected", LF_S("host", "127.0.0.1"), LF_I("port", 5432),
		 LF_F("ratio", 0.5), LF_B("tls", false));
	cJSON *j = one_line();
	const char *ts = str(j, "ts");
	/* 2026-11-21T11:28:00.123Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_string_equal(str(j, "level"), "info");
	assert_string_equal(str(j, "service"), "testsvc");
	assert_string_equal(str(j, "event"), "db.connected");
	assert_string_equal(str(j, "host"), "127.0.0.1");
	assert_int_equal(cJSON_GetObjectItem(j, "port")->valueint, 5432);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "tls")));
	/* the first four keys come in this order */
	assert_string_equal(j->child->string, "ts");
	assert_string_equal(j->child->next->string, "level");
	assert_string_equal(j->child->next->next->string, "service");
	assert_string_equal(j->child->next->next->next->string, "event");
	cJSON_Delete(j);
}

static void escaping(void **state)
{
	(void)state;
	const char *nasty = "quote\" back\\ nl\n ctl\x01 end";
	log_warn("weird", LF_S("v", nasty), LF_S("nul", NULL));
	cJSON *j = one_line();
	assert_string_equal(str(j, "v"), nasty);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "nul")));
	assert_string_equal(str(j, "level"), "warn");
	assert_non_null(strstr(str(j, "src"), "test_log.c:"));
	cJSON_Delete(j);
}

static void level_filter(void **state)
{
	(void)state;
	lc_log_set_level(LC_LOG_WARN);
	log_info("hidden");
	log_error("shown");
	lc_log_set_level(LC_LOG_DEBUG);
	cJSON *j = one_line();
	assert_string_equal(str(j, "event"), "shown");
	cJSON_Delete(j);
	enum lc_log_level l;
	assert_true(lc_log_parse_level("WARNING", &l));
	assert_int_equal(l, LC_LOG_WARN);
	assert_false(lc_log_parse_level("loud", &l));
}

static void redaction(void **state)
{
	(void)state;
	lc_log_redact("hunter22secret");
	log_info("login", LF_S("password", "whatever"),
		 LF_S("detail", "url http://u:hunter22secret@h/ failed"),
		 LF_SECRET("api"), LF_S("user", "alice"));
	char *s = drain();
	assert_null(strstr(s, "hunter22secret"));
	assert_null(strstr(s, "whatever"));
	cJSON *j = cJSON_Parse(s);
	assert_non_null(j);
	assert_string_equal(str(j, "password"), "[redacted]");
	assert_string_equal(str(j, "api"), "[redacted]");
	assert_string_equal(str(j, "detail"),
			    "url http://u:[redacted]@h/ failed");
	assert_string_equal(str(j, "user"), "alice");
	cJSON_Delete(j);
}

static void redaction_keeps_newest_secrets(void **state)
{
	(void)state;
	char secret[32];
	for (int i = 0; i < 600; i++) { /* more than the ring holds */
		snprintf(secret, sizeof(secret), "rotating-secret-%04d", i);
		lc_log_redact(secret);
	}
	log_info("x", LF_S("a", "rotating-secret-0599 and -0400"));
	cJSON *j = one_line();
	assert_string_equal(str(j, "a"), "[redacted] and -0400");
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(line_shape),
		cmocka_unit_test(escaping),
		cmocka_unit_test(level_filter),
		cmocka_unit_test(redaction),
		cmocka_unit_test(redaction_keeps_newest_secrets),
	};
	return cmocka_run_group_tests_name("log", tests, setup, teardown);
}
