/* lc_env: the bus's JSON envelope, parsed and formatted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/envelope.h"

/* Parse s as a request, expecting failure with code; returns the echoed
 * id printed ("null" if none), caller frees. */
static char *bad_request(const char *s, size_t len, const char *code)
{
	struct lc_env_request r;
	struct lc_env_error e;
	char *id;

	assert_int_equal(lc_env_parse_request(s, len, &r, &e), -1);
	assert_string_equal(e.code, code);
	assert_true(e.message[0] != '\0');
	id = r.id ? cJSON_PrintUnformatted(r.id) : strdup("null");
	lc_env_request_release(&r);
	return id;
}

static void request_round_trip_string_id(void **state)
{
	(void)state;
	cJSON *id = cJSON_CreateString("req-1");
	cJSON *params = cJSON_Parse("{\"id\":3,\"name\":\"a\\\"b\"}");
	struct lc_env_request r;
	struct lc_env_error e;
	size_t len = 0;
	char *text = lc_env_format_request(id, "supervisor.start", params,
					   &len);

	assert_non_null(text);
	assert_string_equal(text, "{\"v\":1,\"id\":\"req-1\",\"method\":"
				  "\"supervisor.start\",\"params\":{\"id\":3,"
				  "\"name\":\"a\\\"b\"}}");
	assert_int_equal(len, strlen(text));
	assert_int_equal(lc_env_parse_request(text, len, &r, &e), 0);
	assert_string_equal(r.method, "supervisor.start");
	assert_string_equal(r.id->valuestring, "req-1");
	assert_true(cJSON_Compare(r.params, params, 1));
	lc_env_request_release(&r);
	cJSON_free(text);
	cJSON_Delete(id);
	cJSON_Delete(params);
}

static void request_round_trip_integer_id(void **state)
{
	(void)state;
	cJSON *id = cJSON_CreateNumber(4294967295.0);
	struct lc_env_request r;
	struct lc_env_error e;
	size_t len;
	char *text = lc_env_format_request(id, "m", NULL, &len);

	assert_string_equal(text, "{\"v\":1,\"id\":4294967295,\"method\":"
				  "\"m\",\"params\":{}}");
	assert_int_equal(lc_env_parse_request(text, len, &r, &e), 0);
	assert_true(cJSON_IsNumber(r.id));
	assert_true(r.id->valuedouble == 4294967295.0);
	assert_true(cJSON_IsObject(r.params));
	assert_null(r.params->child);
	lc_env_request_release(&r);
	cJSON_free(text);
	cJSON_Delete(id);
}

static void request_params_absent_or_null_is_empty_object(void **state)
{
	(void)state;
	static const char *in[] = {
		"{\"v\":1,\"id\":1,\"method\":\"m\"}",
		"{\"v\":1,\"id\":1,\"method\":\"m\",\"params\":null}",
	};
	for (size_t i = 0; i < 2; i++) {
		struct lc_env_request r;
		struct lc_env_error e;
		assert_int_equal(lc_env_parse_request(in[i], strlen(in[i]),
						      &r, &e),
				 0);
		assert_true(cJSON_IsObject(r.params));
		assert_null(r.params->child);
		lc_env_request_release(&r);
	}
}

static void request_trailing_whitespace_and_nul_accepted(void **state)
{
	(void)state;
	static const char in[] = "{\"v\":1,\"id\":1,\"method\":\"m\"} \n";
	struct lc_env_request r;
	struct lc_env_error e;

	/* sizeof includes the NUL, as a C string sent whole would */
	assert_int_equal(lc_env_parse_request(in, sizeof(in), &r, &e), 0);
	lc_env_request_release(&r);
	char *id = bad_request("{\"v\":1,\"id\":1,\"method\":\"m\"} x", 29,
			       LC_ENV_E_BAD_REQUEST);
	free(id);
}

static void request_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *id; /* echoed id, printed */
	} cases[] = {
		{ "", "null" },
		{ "   ", "null" },
		{ "hello", "null" },
		{ "{\"v\":1,", "null" },
		{ "[1,2,3]", "null" },
		{ "\"str\"", "null" },
		{ "{\"v\":1,\"method\":\"m\"}", "null" },         /* no id */
		{ "{\"v\":1,\"id\":1.5,\"method\":\"m\"}", "null" },
		{ "{\"v\":1,\"id\":9007199254740992,\"method\":\"m\"}",
		  "null" },
		{ "{\"v\":1,\"id\":[1],\"method\":\"m\"}", "null" },
		{ "{\"v\":1,\"id\":5}", "5" },        /* no method */
		{ "{\"v\":1,\"id\":5,\"method\":\"\"}", "5" },
		{ "{\"v\":1,\"id\":5,\"method\":7}", "5" },
		{ "{\"id\":\"a\",\"method\":\"m\"}", "\"a\"" },   /* no v */
		{ "{\"v\":2,\"id\":\"a\",\"method\":\"m\"}", "\"a\"" },
		{ "{\"v\":\"1\",\"id\":\"a\",\"method\":\"m\"}", "\"a\"" },
		{ "{\"v\":1,\"id\":-3,\"method\":\"m\",\"params\":[1]}",
		  "-3" },
		{ "{\"v\":1,\"id\":-3,\"method\":\"m\",\"params\":\"x\"}",
		  "-3" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *id = bad_request(cases[i].in, strlen(cases[i].in),
				       LC_ENV_E_BAD_REQUEST);
		assert_string_equal(id, cases[i].id);
		cJSON_free(id);
	}
}

static void request_version_message_names_version(void **state)
{
	(void)state;
	static const char in[] = "{\"v\":2,\"id\":1,\"method\":\"m\"}";
	struct lc_env_request r;
	struct lc_env_error e;

	assert_int_equal(lc_env_parse_request(in, strlen(in), &r, &e), -1);
	assert_non_null(strstr(e.message, "version 2"));
	lc_env_request_release(&r);
}

static void reply_ok_round_trip(void **state)
{
	(void)state;
	cJSON *id = cJSON_CreateString("x");
	cJSON *result = cJSON_Parse("{\"port\":8083,\"list\":[1,2]}");
	struct lc_env_reply r;
	struct lc_env_error e;
	size_t len;
	char *text = lc_env_format_reply_ok(id, result, &len);

	assert_string_equal(text, "{\"v\":1,\"id\":\"x\",\"ok\":true,"
				  "\"result\":{\"port\":8083,"
				  "\"list\":[1,2]}}");
	assert_int_equal(lc_env_parse_reply(text, len, &r, &e), 0);
	assert_true(r.ok);
	assert_true(cJSON_Compare(r.result, result, 1));
	assert_string_equal(r.id->valuestring, "x");
	lc_env_reply_release(&r);
	cJSON_free(text);
	cJSON_Delete(id);
	cJSON_Delete(result);
}

static void reply_ok_null_result(void **state)
{
	(void)state;
	cJSON *id = cJSON_CreateNumber(12);
	struct lc_env_reply r;
	struct lc_env_error e;
	size_t len;
	char *text = lc_env_format_reply_ok(id, NULL, &len);
	static const char absent[] = "{\"v\":1,\"id\":12,\"ok\":true}";

	assert_string_equal(text,
			    "{\"v\":1,\"id\":12,\"ok\":true,\"result\":null}");
	assert_int_equal(lc_env_parse_reply(text, len, &r, &e), 0);
	assert_true(r.ok);
	assert_true(cJSON_IsNull(r.result));
	assert_true(r.id->valuedouble == 12);
	lc_env_reply_release(&r);
	cJSON_free(text);
	/* a missing result reads as null too */
	assert_int_equal(lc_env_parse_reply(absent, strlen(absent), &r, &e),
			 0);
	assert_true(cJSON_IsNull(r.result));
	lc_env_reply_release(&r);
	cJSON_Delete(id);
}

static void reply_err_round_trip(void **state)
{
	(void)state;
	cJSON *id = cJSON_CreateNumber(7);
	struct lc_env_reply r;
	struct lc_env_error e;
	size_t len;
	char *text = lc_env_format_reply_err(id, "not_found",
					     "no strategy \"42\"", NULL, &len);

	assert_string_equal(text, "{\"v\":1,\"id\":7,\"ok\":false,\"error\":"
				  "{\"code\":\"not_found\",\"message\":"
				  "\"no strategy \\\"42\\\"\"}}");
	assert_int_equal(lc_env_parse_reply(text, len, &r, &e), 0);
	assert_false(r.ok);
	assert_null(r.result);
	assert_string_equal(r.code, "not_found");
	assert_string_equal(r.message, "no strategy \"42\"");
	assert_null(r.details);
	lc_env_reply_release(&r);
	cJSON_free(text);
	/* no id, no code, no message: null, internal, the code */
	text = lc_env_format_reply_err(NULL, NULL, "", NULL, &len);
	assert_string_equal(text, "{\"v\":1,\"id\":null,\"ok\":false,"
				  "\"error\":{\"code\":\"internal\","
				  "\"message\":\"internal\"}}");
	cJSON_free(text);
	cJSON_Delete(id);
}

static void reply_err_details(void **state)
{
	(void)state;
	cJSON *details = cJSON_Parse("{\"field\":\"timeframe\"}");
	cJSON *notobj = cJSON_CreateNumber(1);
	struct lc_env_reply r;
	struct lc_env_error e;
	size_t len;
	char *text = lc_env_format_reply_err(NULL, "invalid", "bad timeframe",
					     details, &len);

	assert_string_equal(text, "{\"v\":1,\"id\":null,\"ok\":false,"
				  "\"error\":{\"code\":\"invalid\","
				  "\"message\":\"bad timeframe\",\"details\":"
				  "{\"field\":\"timeframe\"}}}");
	assert_int_equal(lc_env_parse_reply(text, len, &r, &e), 0);
	assert_true(cJSON_Compare(r.details, details, 1));
	lc_env_reply_release(&r);
	cJSON_free(text);
	assert_null(lc_env_format_reply_err(NULL, "x", "y", notobj, &len));
	cJSON_Delete(details);
	cJSON_Delete(notobj);
}

static void reply_malformed(void **state)
{
	(void)state;
	static const char *cases[] = {
		"",
		"nope",
		"[]",
		"{\"v\":2,\"id\":1,\"ok\":true}",
		"{\"v\":1,\"id\":1}",
		"{\"v\":1,\"id\":1,\"ok\":1}",
		"{\"v\":1,\"id\":1,\"ok\":false}",
		"{\"v\":1,\"id\":1,\"ok\":false,\"error\":{}}",
		"{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"\"}}",
		("{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"x\","
		 "\"message\":3}}"),
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lc_env_reply r;
		struct lc_env_error e;
		assert_int_equal(lc_env_parse_reply(cases[i], strlen(cases[i]),
						    &r, &e),
				 -1);
		assert_string_equal(e.code, LC_ENV_E_BAD_REQUEST);
		assert_null(r.root);
	}
}

static void event_round_trip(void **state)
{
	(void)state;
	cJSON *data = cJSON_Parse("{\"pair\":\"BTC/USDT\",\"strength\":0.9}");
	struct lc_env_event ev;
	struct lc_env_error e;
	size_t len;
	/* 2026-11-21T11:28:00.123Z */
	char *text = lc_env_format_event("signal.new", "abc-1",
					 1795260480123, data, &len);

	assert_non_null(text);
	assert_string_equal(text,
			    "signal.new {\"v\":1,\"id\":\"abc-1\",\"topic\":"
			    "\"signal.new\",\"ts\":"
			    "\"2026-11-21T11:28:00.123Z\",\"data\":"
			    "{\"pair\":\"BTC/USDT\",\"strength\":0.9}}");
	assert_int_equal(len, strlen(text));
	assert_int_equal(lc_env_parse_event(text, len, &ev, &e), 0);
	assert_string_equal(ev.topic, "signal.new");
	assert_string_equal(ev.id, "abc-1");
	assert_string_equal(ev.ts, "2026-11-21T11:28:00.123Z");
	assert_true(cJSON_Compare(ev.data, data, 1));
	lc_env_event_release(&ev);
	cJSON_free(text);
	cJSON_Delete(data);
}

static void event_malformed(void **state)
{
	(void)state;
	static const char *cases[] = {
		"",
		"signal.new",
		" {\"v\":1}",
		"signal.new notjson",
		"signal.new [1]",
		"signal.new {\"v\":2,\"id\":\"a\",\"topic\":\"signal.new\","
		"\"ts\":\"t\",\"data\":{}}",
		"signal.new {\"v\":1,\"id\":\"a\",\"topic\":\"signal.old\","
		"\"ts\":\"t\",\"data\":{}}",
		"signal.new {\"v\":1,\"topic\":\"signal.new\",\"ts\":\"t\","
		"\"data\":{}}",
		"signal.new {\"v\":1,\"id\":\"a\",\"topic\":\"signal.new\","
		"\"ts\":\"t\",\"data\":[]}",
		"sig\x01nal {\"v\":1}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lc_env_event ev;
		struct lc_env_error e;
		assert_int_equal(lc_env_parse_event(cases[i], strlen(cases[i]),
						    &ev, &e),
				 -1);
		assert_null(ev.root);
	}
}

static void ids_and_topics(void **state)
{
	(void)state;
	cJSON *ok[] = { cJSON_CreateString(""), cJSON_CreateNumber(0),
			cJSON_CreateNumber(-9007199254740991.0) };
	cJSON *bad[] = { cJSON_CreateNumber(0.5), cJSON_CreateTrue(),
			 cJSON_CreateNull(), cJSON_CreateNumber(1e300) };
	for (size_t i = 0; i < 3; i++) {
		assert_true(lc_env_id_valid(ok[i]));
		cJSON_Delete(ok[i]);
	}
	for (size_t i = 0; i < 4; i++) {
		assert_false(lc_env_id_valid(bad[i]));
		cJSON_Delete(bad[i]);
	}
	assert_false(lc_env_id_valid(NULL));
	assert_true(lc_env_topic_valid("alert.raised"));
	assert_false(lc_env_topic_valid(""));
	assert_false(lc_env_topic_valid("a b"));
	assert_false(lc_env_topic_valid(NULL));
	char longt[LC_ENV_TOPIC_MAX + 2];
	memset(longt, 'a', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	assert_false(lc_env_topic_valid(longt));
	longt[LC_ENV_TOPIC_MAX] = '\0';
	assert_true(lc_env_topic_valid(longt));
	/* formatting refuses what parsing would refuse */
	assert_null(lc_env_format_event("a b", "id", 0, NULL, NULL));
	assert_null(lc_env_format_request(NULL, "m", NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_round_trip_string_id),
		cmocka_unit_test(request_round_trip_integer_id),
		cmocka_unit_test(
			request_params_absent_or_null_is_empty_object),
		cmocka_unit_test(request_trailing_whitespace_and_nul_accepted),
		cmocka_unit_test(request_malformed),
		cmocka_unit_test(request_version_message_names_version),
		cmocka_unit_test(reply_ok_round_trip),
		cmocka_unit_test(reply_ok_null_result),
		cmocka_unit_test(reply_err_round_trip),
		cmocka_unit_test(reply_err_details),
		cmocka_unit_test(reply_malformed),
		cmocka_unit_test(event_round_trip),
		cmocka_unit_test(event_malformed),
		cmocka_unit_test(ids_and_topics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
