/* signal-ingest: webhook bodies in FreqTrade's three formats (body.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "services/signal-ingest/body.c"
#include "services/signal-ingest/sig.c"

struct decoded {
	struct kvlist raw, fields;
	const struct kvlist *msg;
	struct ierr e;
	int rv;
};

static void decode(struct decoded *d, enum body_format f, const char *body)
{
	kvlist_init(&d->raw);
	kvlist_init(&d->fields);
	memset(&d->e, 0, sizeof(d->e));
	d->rv = body_decode(f, body, strlen(body), &d->raw, &d->fields,
			    &d->e);
	d->msg = body_fields(f, &d->raw, &d->fields);
}

static void release(struct decoded *d)
{
	kvlist_release(&d->raw);
	kvlist_release(&d->fields);
}

static void refused(enum body_format f, const char *body, const char *code,
		    const char *in_detail)
{
	struct decoded d;
	decode(&d, f, body);
	assert_int_equal(d.rv, -1);
	assert_int_equal(d.e.status, 400);
	assert_string_equal(d.e.code, code);
	if (in_detail && !strstr(d.e.detail, in_detail))
		fail_msg("detail '%s' lacks '%s'", d.e.detail, in_detail);
	release(&d);
}

static void json_strings_with_escapes(void **state)
{
	(void)state;
	struct decoded d;
	decode(&d, BODY_JSON,
	       " {\"type\" : \"entry\", \"pair\":\"BTC\\/USDT\",\n"
	       "\"tag\":\"a\\\"b\\\\c\\nd\\u00e9\\ud83d\\ude00\","
	       "\"empty\":\"\"} \r\n");
	assert_int_equal(d.rv, 0);
	assert_int_equal(d.msg->n, 4);
	assert_string_equal(kvlist_get(d.msg, "type"), "entry");
	assert_string_equal(kvlist_get(d.msg, "pair"), "BTC/USDT");
	assert_string_equal(kvlist_get(d.msg, "tag"),
			    "a\"b\\c\nd\xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(kvlist_get(d.msg, "empty"), "");
	assert_null(kvlist_get(d.msg, "nope"));
	release(&d);
	decode(&d, BODY_JSON, "{}");
	assert_int_equal(d.rv, 0);
	assert_int_equal(d.msg->n, 0);
	release(&d);
}

static void json_refusals_name_the_problem(void **state)
{
	(void)state;
	refused(BODY_JSON, "{\"type\":\"entry\",\"trade_id\":7}",
		"invalid_field", "'trade_id'");
	refused(BODY_JSON, "{\"type\":\"entry\",\"x\":{\"a\":\"b\"}}",
		"invalid_field", "'x'");
	refused(BODY_JSON, "{\"type\":null}", "invalid_field", "'type'");
	refused(BODY_JSON, "[\"type\"]", "invalid_json", "object");
	refused(BODY_JSON, "", "invalid_json", "object");
	refused(BODY_JSON, "{\"type\":\"entry\"", "invalid_json", NULL);
	refused(BODY_JSON, "{\"type\":\"entry\"} x", "invalid_json",
		"after");
	refused(BODY_JSON, "{\"type\":\"a\",\"type\":\"b\"}", "invalid_body",
		"twice");
	refused(BODY_JSON, "{\"a\":\"\\u0000\"}", "invalid_body", "NUL");
	refused(BODY_JSON, "{\"a\":\"\\ud800\"}", "invalid_json",
		"surrogate");
	refused(BODY_JSON, "{\"a\":\"\\x\"}", "invalid_json", "escape");
	refused(BODY_JSON, "{\"a\":\"\xff\"}", "invalid_body", "UTF-8");
	refused(BODY_JSON, "{\"a\":\"\xc0\xaf\"}", "invalid_body", "UTF-8");
	refused(BODY_JSON, "{\"a\":\"tab\there\"}", "invalid_json",
		"control");
}

static void form_is_url_decoded(void **state)
{
	(void)state;
	struct decoded d;
	decode(&d, BODY_FORM,
	       "type=entry_fill&pair=BTC%2FUSDT&enter_tag=ema+cross&"
	       "note=a%3Db&&flag&e%C3%A9=%C3%A9");
	assert_int_equal(d.rv, 0);
	assert_string_equal(kvlist_get(d.msg, "type"), "entry_fill");
	assert_string_equal(kvlist_get(d.msg, "pair"), "BTC/USDT");
	assert_string_equal(kvlist_get(d.msg, "enter_tag"), "ema cross");
	assert_string_equal(kvlist_get(d.msg, "note"), "a=b");
	assert_string_equal(kvlist_get(d.msg, "flag"), "");
	assert_string_equal(kvlist_get(d.msg, "e\xc3\xa9"), "\xc3\xa9");
	release(&d);
	refused(BODY_FORM, "a=%zz", "invalid_body", "escape");
	refused(BODY_FORM, "a=%4", "invalid_body", "escape");
	refused(BODY_FORM, "a=%00", "invalid_body", "UTF-8");
	refused(BODY_FORM, "a=%ff", "invalid_body", "UTF-8");
	refused(BODY_FORM, "a=1&a=2", "invalid_body", "twice");
}

static void raw_keeps_data_and_reads_fields(void **state)
{
	(void)state;
	struct decoded d;
	decode(&d, BODY_RAW,
	       "\n {\"type\":\"status\",\"status\":\"running\"}");
	assert_int_equal(d.rv, 0);
	assert_int_equal(d.raw.n, 1);
	assert_string_equal(d.raw.items[0].key, "data");
	assert_string_equal(kvlist_get(d.msg, "status"), "running");
	release(&d);
	decode(&d, BODY_RAW, "type = exit\r\npair=BTC/USDT&profit_ratio=0.1\n"
			     "free text line\n");
	assert_int_equal(d.rv, 0);
	assert_int_equal(d.msg->n, 3);
	assert_string_equal(kvlist_get(d.msg, "type"), "exit");
	assert_string_equal(kvlist_get(d.msg, "pair"), "BTC/USDT");
	assert_string_equal(kvlist_get(d.msg, "profit_ratio"), "0.1");
	assert_string_equal(kvlist_get(&d.raw, "data"),
			    "type = exit\r\npair=BTC/USDT&profit_ratio=0.1\n"
			    "free text line\n");
	release(&d);
	refused(BODY_RAW, "a=\xff", "invalid_body", "UTF-8");
}

static void content_types(void **state)
{
	(void)state;
	enum body_format f;
	assert_int_equal(body_format_of("application/json", &f), 0);
	assert_int_equal(f, BODY_JSON);
	assert_int_equal(body_format_of("Application/JSON; charset=utf-8",
					&f),
			 0);
	assert_int_equal(f, BODY_JSON);
	assert_int_equal(body_format_of("application/x-www-form-urlencoded",
					&f),
			 0);
	assert_int_equal(f, BODY_FORM);
	assert_int_equal(body_format_of("text/plain;charset=UTF-8", &f), 0);
	assert_int_equal(f, BODY_RAW);
	assert_int_equal(body_format_of("application/jsonx", &f), -1);
	assert_int_equal(body_format_of("text/html", &f), -1);
	assert_int_equal(body_format_of(NULL, &f), -1);
}

static void pairs_back_to_json_and_removal(void **state)
{
	(void)state;
	struct decoded d;
	struct lc_buf b;
	decode(&d, BODY_FORM, "type=entry&token=s3cret&q=%22%5C");
	assert_int_equal(d.rv, 0);
	kvlist_remove(&d.raw, "token");
	kvlist_remove(&d.raw, "absent");
	lc_buf_init(&b, 1024);
	assert_int_equal(kvlist_to_json(&d.raw, &b), 0);
	assert_string_equal(b.data, "{\"type\":\"entry\",\"q\":\"\\\"\\\\\"}");
	lc_buf_release(&b);
	release(&d);
}

static void many_fields_and_limits(void **state)
{
	(void)state;
	struct lc_buf b;
	struct decoded d;
	lc_buf_init(&b, 1 << 20);
	assert_int_equal(lc_buf_append_str(&b, "{"), 0);
	for (int i = 0; i < BODY_MAX_FIELDS; i++)
		assert_int_equal(lc_buf_printf(&b, "%s\"k%d\":\"v%d\"",
					       i ? "," : "", i, i),
				 0);
	assert_int_equal(lc_buf_append_str(&b, "}"), 0);
	decode(&d, BODY_JSON, b.data);
	assert_int_equal(d.rv, 0);
	assert_int_equal(d.msg->n, BODY_MAX_FIELDS);
	assert_string_equal(kvlist_get(d.msg, "k255"), "v255");
	release(&d);
	b.len--;
	assert_int_equal(lc_buf_append_str(&b, ",\"one\":\"more\"}"), 0);
	refused(BODY_JSON, b.data, "invalid_body", "more than");
	lc_buf_release(&b);
}

static void query_strings(void **state)
{
	(void)state;
	struct kvlist q;
	struct ierr e;
	const char *s = "strategy_id=3&token=ab%2Dc";
	kvlist_init(&q);
	assert_int_equal(body_decode_query(s, strlen(s), &q, &e), 0);
	assert_string_equal(kvlist_get(&q, "strategy_id"), "3");
	assert_string_equal(kvlist_get(&q, "token"), "ab-c");
	kvlist_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_strings_with_escapes),
		cmocka_unit_test(json_refusals_name_the_problem),
		cmocka_unit_test(form_is_url_decoded),
		cmocka_unit_test(raw_keeps_data_and_reads_fields),
		cmocka_unit_test(content_types),
		cmocka_unit_test(pairs_back_to_json_and_removal),
		cmocka_unit_test(many_fields_and_limits),
		cmocka_unit_test(query_strings),
	};
	return cmocka_run_group_tests_name("ingest_body", tests, NULL, NULL);
}
