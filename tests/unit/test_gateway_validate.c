/* gateway: field tables for bodies and query strings, formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "services/gateway/validate.c"

static const char *const colors[] = { "red", "green", NULL };

static const struct gw_field inner[] = {
	{ .name = "strong", .type = GW_T_NUM, .flags = GW_F_REQ, .max = 1 },
	{ 0 },
};

static const struct gw_field item[] = {
	{ .name = "pair", .type = GW_T_STR, .check = gw_fmt_pair,
	  .format = "BASE/QUOTE" },
	{ 0 },
};

static const struct gw_field num_item[] = {
	{ .name = "n", .type = GW_T_INT },
	{ 0 },
};

static const struct gw_field spec[] = {
	{ .name = "name", .type = GW_T_STR, .flags = GW_F_REQ, .min = 1,
	  .max = 8 },
	{ .name = "n", .type = GW_T_INT, .min = 1, .max = 10 },
	{ .name = "proxy_id", .type = GW_T_INT, .flags = GW_F_NULL, .min = 1,
	  .max = GW_ID_MAX },
	{ .name = "flag", .type = GW_T_BOOL },
	{ .name = "color", .type = GW_T_STR, .values = colors },
	{ .name = "t", .type = GW_T_OBJ, .sub = inner },
	{ .name = "pairs", .type = GW_T_ARR, .flags = GW_F_UNIQUE, .min = 1,
	  .max = 3, .sub = item },
	{ .name = "argv", .type = GW_T_ARR, .sub = num_item },
	{ .name = "extra", .type = GW_T_OPEN, .max = 2 },
	{ .name = "since", .type = GW_T_STR, .check = gw_fmt_timestamp,
	  .format = "a time" },
	{ 0 },
};

/* Validate the JSON text; returns the error ("" when valid). */
static const char *check(const char *json)
{
	static char err[256];
	cJSON *o = cJSON_Parse(json);
	err[0] = '\0';
	assert_non_null(o);
	if (gw_validate(o, spec, err, sizeof(err)))
		err[0] = '\0';
	cJSON_Delete(o);
	return err;
}

static void bodies(void **state)
{
	(void)state;
	assert_string_equal(check("{\"name\":\"x\"}"), "");
	assert_string_equal(check("{\"name\":\"x\",\"n\":3,\"flag\":true,"
				  "\"color\":\"red\",\"t\":{\"strong\":0.5},"
				  "\"pairs\":[\"BTC/USDT\"],\"proxy_id\":null,"
				  "\"extra\":{\"a\":1},\"since\":"
				  "\"2025-06-01T08:00:00.5Z\"}"), "");
	assert_string_equal(check("{}"), "name: is required");
	assert_string_equal(check("{\"name\":\"x\",\"zz\":1}"),
			    "zz: is not a known field");
	assert_string_equal(check("{\"name\":5}"), "name: must be a string");
	assert_string_equal(check("{\"name\":\"123456789\"}"),
			    "name: must be 1 to 8 characters long");
	assert_string_equal(check("{\"name\":\"x\",\"n\":1.5}"),
			    "n: must be an integer");
	assert_string_equal(check("{\"name\":\"x\",\"n\":11}"),
			    "n: must be between 1 and 10");
	assert_string_equal(check("{\"name\":\"x\",\"n\":null}"),
			    "n: must not be null");
	assert_string_equal(check("{\"name\":\"x\",\"proxy_id\":0}"),
			    "proxy_id: must be between 1 and 2147483647");
	assert_string_equal(check("{\"name\":\"x\",\"flag\":\"yes\"}"),
			    "flag: must be true or false");
	assert_string_equal(check("{\"name\":\"x\",\"color\":\"blue\"}"),
			    "color: must be one of red, green");
	assert_string_equal(check("{\"name\":\"x\",\"t\":{}}"),
			    "t.strong: is required");
	assert_string_equal(check("{\"name\":\"x\",\"t\":{\"strong\":2}}"),
			    "t.strong: must be between 0 and 1");
	assert_string_equal(check("{\"name\":\"x\",\"t\":[]}"),
			    "t: must be an object");
	assert_string_equal(check("{\"name\":\"x\",\"pairs\":[]}"),
			    "pairs: must have 1 to 3 items");
	assert_string_equal(check("{\"name\":\"x\",\"pairs\":[\"BTC/USDT\","
				  "\"BTCUSDT\"]}"),
			    "pairs[1]: must look like BASE/QUOTE");
	assert_string_equal(check("{\"name\":\"x\",\"pairs\":[\"A/B\","
				  "\"A/B\"]}"),
			    "pairs[1]: is a duplicate");
	assert_string_equal(check("{\"name\":\"x\",\"argv\":[1,1]}"), "");
	assert_string_equal(check("{\"name\":\"x\",\"extra\":{\"a\":1,"
				  "\"b\":2,\"c\":3}}"),
			    "extra: has too many members");
	assert_string_equal(check("{\"name\":\"x\",\"since\":\"yesterday\"}"),
			    "since: must look like a time");
}

static const struct gw_field qspec[] = {
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ .name = "raw", .type = GW_T_BOOL },
	{ .name = "pair", .type = GW_T_STR },
	{ .name = "ratio", .type = GW_T_NUM },
	{ .name = "need", .type = GW_T_STR },
	{ 0 },
};

static const char *query(const char *q, cJSON **out)
{
	static char err[256];
	err[0] = '\0';
	*out = gw_query_parse(q, qspec, err, sizeof(err));
	return err;
}

static void queries(void **state)
{
	cJSON *o;
	(void)state;
	assert_string_equal(query("limit=5&raw=true&pair=BTC%2FUSDT&ratio=0.5"
				  "&need=a+b", &o), "");
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "limit")->valueint, 5);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "raw")));
	assert_string_equal(cJSON_GetObjectItem(o, "pair")->valuestring,
			    "BTC/USDT");
	assert_string_equal(cJSON_GetObjectItem(o, "need")->valuestring,
			    "a b");
	cJSON_Delete(o);
	assert_string_equal(query(NULL, &o), "");
	assert_int_equal(cJSON_GetArraySize(o), 0);
	cJSON_Delete(o);
	assert_string_equal(query("&&limit=1&", &o), "");
	cJSON_Delete(o);
	assert_string_equal(query("limit=abc", &o),
			    "limit: must be an integer");
	assert_null(o);
	assert_string_equal(query("limit=0", &o),
			    "limit: must be between 1 and 1000");
	assert_string_equal(query("limit=1&limit=2", &o),
			    "limit: is given more than once");
	assert_string_equal(query("nope=1", &o), "nope: is not a known "
				  "parameter");
	assert_string_equal(query("raw=maybe", &o),
			    "raw: must be true or false");
	assert_string_equal(query("ratio=1e", &o), "ratio: must be a number");
	assert_string_equal(query("pair=%00x", &o),
			    "query string: bad encoding");
	assert_null(o);
}

static void formats(void **state)
{
	int64_t id;
	(void)state;
	assert_true(gw_fmt_timestamp("2025-06-01T08:30:00Z"));
	assert_true(gw_fmt_timestamp("2025-06-01T08:30:00.125Z"));
	assert_false(gw_fmt_timestamp("2025-06-01T08:30:00+00:00"));
	assert_false(gw_fmt_timestamp("2025-13-01T08:30:00Z"));
	assert_false(gw_fmt_timestamp("2025-06-01 08:30:00Z"));
	assert_false(gw_fmt_timestamp("2025-06-01T08:30:00.Z"));
	assert_false(gw_fmt_timestamp("2025-06-01T08:30:00Zx"));
	assert_true(gw_fmt_pair("BTC/USDT"));
	assert_true(gw_fmt_pair("BTC/USDT:USDT"));
	assert_false(gw_fmt_pair("BTCUSDT"));
	assert_false(gw_fmt_pair("/USDT"));
	assert_false(gw_fmt_pair("BTC/"));
	assert_false(gw_fmt_pair("BTC/USDT:"));
	assert_false(gw_fmt_pair("BT C/USDT"));
	assert_true(gw_fmt_timeframe("5m"));
	assert_true(gw_fmt_timeframe("1M"));
	assert_false(gw_fmt_timeframe("0m"));
	assert_false(gw_fmt_timeframe("5x"));
	assert_false(gw_fmt_timeframe("1000m"));
	assert_true(gw_fmt_name("btc trend-1.x"));
	assert_false(gw_fmt_name(" lead"));
	assert_true(gw_fmt_ident("TrendFollowV2"));
	assert_false(gw_fmt_ident("2Trend"));
	assert_true(gw_fmt_exchange("binance"));
	assert_false(gw_fmt_exchange("Binance"));
	assert_true(gw_fmt_label("v1.0"));
	assert_false(gw_fmt_label(".v1"));
	assert_true(gw_fmt_backup_id("20250601T030000Z"));
	assert_true(gw_fmt_backup_id("20250601T030000Z-pre_up"));
	assert_false(gw_fmt_backup_id("20250601T030000Z-"));
	assert_false(gw_fmt_backup_id("2025-06-01"));
	assert_true(gw_parse_id("42", 2, GW_ID_MAX, &id));
	assert_int_equal(id, 42);
	assert_false(gw_parse_id("042", 3, GW_ID_MAX, &id));
	assert_false(gw_parse_id("0", 1, GW_ID_MAX, &id));
	assert_false(gw_parse_id("-1", 2, GW_ID_MAX, &id));
	assert_false(gw_parse_id("2147483648", 10, GW_ID_MAX, &id));
	assert_true(gw_parse_id("2147483648", 10, GW_BIGID_MAX, &id));
	assert_false(gw_parse_id("1x", 2, GW_ID_MAX, &id));
	assert_false(gw_parse_id("", 0, GW_ID_MAX, &id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bodies),
		cmocka_unit_test(queries),
		cmocka_unit_test(formats),
	};
	return cmocka_run_group_tests_name("gateway_validate", tests, NULL,
					   NULL);
}
