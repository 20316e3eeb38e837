/* signal-ingest: FreqTrade messages to graded signal rows (parse.c,
 * grade.c, values.c, dedupe.c, sig.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "services/signal-ingest/body.c"
#include "services/signal-ingest/dedupe.c"
#include "services/signal-ingest/grade.c"
#include "services/signal-ingest/parse.c"
#include "services/signal-ingest/sig.c"
#include "services/signal-ingest/values.c"

#define RECEIVED_US 1748764800000000LL /* 2025-06-01T08:00:00Z */

static const struct strat_info strat = {
	.id = 3,
	.version = "v1.0",
	.th = { .strong = 0.8, .medium = 0.6, .weak = 0.4 },
};

/* The warning of the last parse ("" if none). */
static char warning[PARSE_WARNING_MAX];

/* Parse a json body for strategy 3; returns parse_signal's result. */
static int parse_json(const char *body, struct sig *s, struct ierr *e,
		      struct dedupe *dd, int64_t received_us)
{
	struct kvlist raw, fields;
	struct parse_ctx pc = { &strat, received_us, dd, NULL, 0,
				warning, sizeof(warning) };
	int rv;
	kvlist_init(&raw);
	kvlist_init(&fields);
	sig_init(s);
	rv = body_decode(BODY_JSON, body, strlen(body), &raw, &fields, e);
	if (rv == 0)
		rv = parse_signal(body_fields(BODY_JSON, &raw, &fields), &raw,
				  &pc, s, e);
	kvlist_release(&raw);
	kvlist_release(&fields);
	return rv;
}

static void ok_json(const char *body, struct sig *s)
{
	struct ierr e = { 0 };
	int rv = parse_json(body, s, &e, NULL, RECEIVED_US);
	if (rv != 0)
		fail_msg("refused (%d %s): %s", e.status, e.code, e.detail);
}

static void refused(const char *body, int status, const char *code,
		    const char *in_detail)
{
	struct ierr e = { 0 };
	struct sig s;
	assert_int_equal(parse_json(body, &s, &e, NULL, RECEIVED_US), -1);
	assert_int_equal(e.status, status);
	assert_string_equal(e.code, code);
	if (in_detail && !strstr(e.detail, in_detail))
		fail_msg("detail '%s' lacks '%s'", e.detail, in_detail);
	sig_release(&s);
}

#define COL(s, c) sig_get((s), (c))
#define assert_col(s, c, v) assert_string_equal(COL(s, c), v)
#define assert_no_col(s, c) assert_null(COL(s, c))

static void entry_fill_is_read_and_graded(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"type\":\"entry_fill\",\"trade_id\":\"57\","
		"\"exchange\":\"Binance\",\"pair\":\"BTC/USDT\","
		"\"direction\":\"Long\",\"leverage\":\"1.0\","
		"\"limit\":\"64250.0\",\"open_rate\":\"64250.5\","
		"\"order_type\":\"limit\",\"stake_amount\":\"99.97\","
		"\"stake_currency\":\"USDT\",\"amount\":\"0.001556\","
		"\"open_date\":\"2025-06-01 08:00:02.117000+00:00\","
		"\"current_rate\":\"64251\",\"sub_trade\":\"False\","
		"\"enter_tag\":\"ema_cross strength=0.86 rsi=28.4 trend=up\"}",
		&s);
	assert_col(&s, SC_STRATEGY_ID, "3");
	assert_col(&s, SC_ACTION, "entry_fill");
	assert_col(&s, SC_PAIR, "BTC/USDT");
	assert_col(&s, SC_DIRECTION, "long");
	assert_col(&s, SC_TRADE_ID, "57");
	assert_col(&s, SC_OPEN_RATE, "64250.5");
	assert_col(&s, SC_LIMIT_RATE, "64250.0");
	assert_col(&s, SC_CURRENT_RATE, "64251");
	assert_col(&s, SC_AMOUNT, "0.001556");
	assert_col(&s, SC_STAKE_AMOUNT, "99.97");
	assert_col(&s, SC_STAKE_CURRENCY, "USDT");
	assert_col(&s, SC_OPEN_DATE, "2025-06-01T08:00:02.117000Z");
	assert_col(&s, SC_EVENT_AT, "2025-06-01T08:00:02.117000Z");
	assert_col(&s, SC_RECEIVED_AT, "2025-06-01T08:00:00.000000Z");
	assert_col(&s, SC_STRENGTH, "0.86");
	assert_col(&s, SC_LEVEL, "strong");
	assert_col(&s, SC_PRIORITY, "P0");
	assert_col(&s, SC_STRATEGY_VERSION, "v1.0");
	assert_col(&s, SC_INDICATORS, "{\"signal_strength\":0.86,"
				      "\"rsi\":28.4,\"trend\":\"up\"}");
	assert_no_col(&s, SC_CLOSE_RATE);
	assert_no_col(&s, SC_PROFIT_RATIO);
	assert_no_col(&s, SC_MESSAGE);
	assert_string_equal(sig_rate(&s), "64250.5");
	assert_non_null(strstr(COL(&s, SC_RAW), "\"sub_trade\":\"False\""));
	assert_int_equal(strlen(COL(&s, SC_DEDUPE_KEY)), 22);
	assert_int_equal(strspn(COL(&s, SC_DEDUPE_KEY),
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				"qrstuvwxyz0123456789-_"),
			 22);
	sig_release(&s);
}

static void exit_takes_its_own_fields(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"type\":\"exit_fill\",\"trade_id\":\"57\","
		"\"pair\":\"ETH/USDT:USDT\",\"direction\":\"Short\","
		"\"gain\":\"loss\",\"open_rate\":\"3500\","
		"\"close_rate\":\"3512.4\",\"order_rate\":\"3512\","
		"\"profit_amount\":\"-0.34\",\"profit_ratio\":\"-0.0034\","
		"\"exit_reason\":\"stop_loss signal_strength=0.45\","
		"\"enter_tag\":\"strength=0.9\","
		"\"open_date\":\"2025-06-01 07:00:00\","
		"\"close_date\":\"2025-06-01T10:00:00.5Z\","
		"\"is_final_exit\":\"True\"}",
		&s);
	assert_col(&s, SC_PAIR, "ETH/USDT:USDT");
	assert_col(&s, SC_DIRECTION, "short");
	assert_col(&s, SC_CLOSE_RATE, "3512.4");
	assert_col(&s, SC_LIMIT_RATE, "3512");
	assert_col(&s, SC_PROFIT_ABS, "-0.34");
	assert_col(&s, SC_PROFIT_RATIO, "-0.0034");
	assert_col(&s, SC_EVENT_AT, "2025-06-01T10:00:00.500000Z");
	assert_col(&s, SC_OPEN_DATE, "2025-06-01T07:00:00.000000Z");
	/* the exit's own strength wins over the entry's tag */
	assert_col(&s, SC_STRENGTH, "0.45");
	assert_col(&s, SC_LEVEL, "weak");
	assert_col(&s, SC_PRIORITY, "P2");
	assert_string_equal(sig_rate(&s), "3512.4");
	sig_release(&s);
}

static void cancels_keep_their_reason(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"type\":\"entry_cancel\",\"trade_id\":\"8\","
		"\"pair\":\"BTC/USDT\",\"reason\":\"timeout\","
		"\"open_date\":\"2025-06-01 08:00:00+00:00\"}", &s);
	assert_col(&s, SC_ACTION, "entry_cancel");
	assert_col(&s, SC_MESSAGE, "timeout");
	assert_col(&s, SC_LEVEL, "ignore");
	assert_no_col(&s, SC_PRIORITY);
	assert_col(&s, SC_STRENGTH, "0");
	sig_release(&s);
	ok_json("{\"type\":\"exit_cancel\",\"trade_id\":\"8\","
		"\"pair\":\"BTC/USDT\",\"reason\":\"partially filled\","
		"\"close_date\":\"2025-06-01 09:00:00+00:00\"}", &s);
	assert_col(&s, SC_ACTION, "exit_cancel");
	assert_col(&s, SC_MESSAGE, "partially filled");
	assert_col(&s, SC_EVENT_AT, "2025-06-01T09:00:00.000000Z");
	sig_release(&s);
}

static void status_like_messages_carry_text(void **state)
{
	(void)state;
	static const char *const kinds[] = { "status", "warning",
					     "exception", "startup" };
	char body[256];
	struct sig s;
	for (size_t i = 0; i < 4; i++) {
		snprintf(body, sizeof(body),
			 "{\"type\":\"%s\",\"status\":\"running\"}", kinds[i]);
		ok_json(body, &s);
		assert_col(&s, SC_ACTION, kinds[i]);
		assert_col(&s, SC_MESSAGE, "running");
		assert_no_col(&s, SC_PAIR);
		assert_no_col(&s, SC_EVENT_AT);
		assert_col(&s, SC_LEVEL, "ignore");
		/* no time of its own: the key says when it was first seen */
		assert_non_null(strchr(COL(&s, SC_DEDUPE_KEY), '@'));
		sig_release(&s);
	}
}

static void strategy_msg_json_gives_strength(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"type\":\"strategy_msg\",\"msg\":\"{\\\"signal_strength\\\""
		": 0.65, \\\"pair\\\": \\\"ETH/USDT\\\", \\\"rate\\\": 3512.4,"
		" \\\"macd_hist\\\": -1.8, \\\"trend\\\": \\\"down\\\","
		" \\\"indicators\\\": {\\\"rsi\\\": 71,"
		" \\\"deep\\\": [1]}}\"}",
		&s);
	assert_col(&s, SC_ACTION, "strategy_msg");
	assert_col(&s, SC_PAIR, "ETH/USDT");
	assert_col(&s, SC_CURRENT_RATE, "3512.4");
	assert_col(&s, SC_STRENGTH, "0.65");
	assert_col(&s, SC_LEVEL, "medium");
	assert_col(&s, SC_PRIORITY, "P1");
	assert_col(&s, SC_INDICATORS,
		   "{\"signal_strength\":0.65,\"macd_hist\":-1.8,"
		   "\"trend\":\"down\",\"rsi\":71}");
	assert_non_null(strstr(COL(&s, SC_MESSAGE), "signal_strength"));
	assert_string_equal(sig_rate(&s), "3512.4");
	sig_release(&s);
}

static void strategy_msg_text_may_carry_tags(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"type\":\"strategy_msg\",\"msg\":\"breakout strength=0.4"
		" vol=3\"}", &s);
	assert_col(&s, SC_STRENGTH, "0.4");
	assert_col(&s, SC_LEVEL, "weak");
	assert_col(&s, SC_MESSAGE, "breakout strength=0.4 vol=3");
	sig_release(&s);
	ok_json("{\"type\":\"strategy_msg\",\"msg\":\"just words\"}", &s);
	assert_col(&s, SC_STRENGTH, "0");
	assert_col(&s, SC_INDICATORS, "{}");
	sig_release(&s);
}

static void protections_are_read(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"type\":\"protection_trigger\",\"id\":\"4\","
		"\"pair\":\"BTC/USDT\",\"base_currency\":\"BTC\","
		"\"lock_time\":\"2025-06-01 08:00:00\","
		"\"lock_timestamp\":\"1748764800000\","
		"\"lock_end_time\":\"2025-06-01 09:00:00\","
		"\"reason\":\"StoplossGuard\",\"side\":\"long\","
		"\"active\":\"True\"}", &s);
	assert_col(&s, SC_PAIR, "BTC/USDT");
	assert_col(&s, SC_MESSAGE, "StoplossGuard");
	assert_col(&s, SC_DIRECTION, "long");
	assert_col(&s, SC_EVENT_AT, "2025-06-01T08:00:00.000000Z");
	assert_no_col(&s, SC_TRADE_ID); /* a lock's id is no trade id */
	sig_release(&s);
	ok_json("{\"type\":\"protection_trigger_global\",\"pair\":\"*\","
		"\"side\":\"*\",\"reason\":\"MaxDrawdown\","
		"\"lock_time\":\"2025-06-01 08:00:00\"}", &s);
	assert_no_col(&s, SC_PAIR);
	assert_no_col(&s, SC_DIRECTION);
	sig_release(&s);
}

static void none_nan_and_aliases(void **state)
{
	(void)state;
	struct sig s;
	ok_json("{\"event\":\"buy\",\"id\":\"7\",\"pair\":\"BTC/USDT\","
		"\"rate\":\"64250.5\",\"amount\":\"None\","
		"\"current_rate\":\"nan\",\"direction\":\"None\","
		"\"stake_amount\":\"+5\",\"open_date\":\"None\"}", &s);
	assert_col(&s, SC_ACTION, "entry");
	assert_col(&s, SC_TRADE_ID, "7");
	assert_col(&s, SC_OPEN_RATE, "64250.5");
	assert_col(&s, SC_STAKE_AMOUNT, "5");
	assert_no_col(&s, SC_AMOUNT);
	assert_no_col(&s, SC_CURRENT_RATE);
	assert_no_col(&s, SC_DIRECTION);
	assert_no_col(&s, SC_OPEN_DATE);
	sig_release(&s);
	ok_json("{\"type\":\"sell_fill\",\"trade_id\":\"7\","
		"\"rate\":\"65000\",\"profit_abs\":\"1.5\"}", &s);
	assert_col(&s, SC_ACTION, "exit_fill");
	assert_col(&s, SC_CLOSE_RATE, "65000");
	assert_col(&s, SC_PROFIT_ABS, "1.5");
	sig_release(&s);
}

static void grading_boundaries(void **state)
{
	(void)state;
	static const struct {
		const char *strength, *level, *prio;
	} cases[] = {
		{ "1", "strong", "P0" },    { "0.8", "strong", "P0" },
		{ "0.79", "medium", "P1" }, { "0.6", "medium", "P1" },
		{ "0.59", "weak", "P2" },   { "0.4", "weak", "P2" },
		{ "0.39", "ignore", NULL }, { "0", "ignore", NULL },
	};
	char body[160];
	struct sig s;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(body, sizeof(body),
			 "{\"type\":\"entry\",\"trade_id\":\"1\","
			 "\"enter_tag\":\"strength=%s\"}", cases[i].strength);
		ok_json(body, &s);
		assert_col(&s, SC_LEVEL, cases[i].level);
		if (cases[i].prio)
			assert_col(&s, SC_PRIORITY, cases[i].prio);
		else
			assert_no_col(&s, SC_PRIORITY);
		sig_release(&s);
	}
	/* a weak threshold of 0 makes every signal at least weak */
	struct thresholds zero = { 0.8, 0.6, 0 };
	const char *level, *prio;
	grade_level(0, &zero, &level, &prio);
	assert_string_equal(level, "weak");
}

static void bad_values_are_refused_by_name(void **state)
{
	(void)state;
	refused("{\"trade_id\":\"1\"}", 400, "invalid_field", "'type'");
	refused("{\"type\":\"moon\"}", 422, "unknown_message_type", "moon");
	refused("{\"type\":\"whitelist\",\"data\":\"x\"}", 422,
		"unsupported_message_type", "whitelist");
	refused("{\"type\":\"entry\",\"open_rate\":\"abc\"}", 400,
		"invalid_field", "'open_rate'");
	refused("{\"type\":\"entry\",\"amount\":\"-1\"}", 400,
		"invalid_field", "'amount'");
	refused("{\"type\":\"entry\",\"trade_id\":\"1.5\"}", 400,
		"invalid_field", "'trade_id'");
	refused("{\"type\":\"entry\",\"open_date\":\"2025-02-30 00:00:00\"}",
		400, "invalid_field", "'open_date'");
	refused("{\"type\":\"entry\",\"direction\":\"up\"}", 400,
		"invalid_field", "'direction'");
	refused("{\"type\":\"entry\",\"pair\":\"BTCUSDT\"}", 400,
		"invalid_field", "'pair'");
	refused("{\"type\":\"entry\",\"stake_currency\":"
		"\"ABCDEFGHIJKLMNOPQ\"}", 400, "invalid_field",
		"'stake_currency'");
	/* the field a custom sender writes is refused (it can fix it);
	 * the same in a tag is kept: unreadable_strength_is_kept */
	refused("{\"type\":\"status\",\"signal_strength\":\"x\"}", 400,
		"invalid_field", "'signal_strength'");
	refused("{\"type\":\"entry\",\"signal_strength\":\"1.5\"}", 400,
		"invalid_field", "'signal_strength'");
	refused("{\"type\":\"entry\",\"trade_id\":7}", 400, "invalid_field",
		"'trade_id'");
}

/* An out-of-range or unreadable strength in the strategy's own text
 * (enter_tag, exit_reason, msg): the signal is kept, graded as if it
 * had none (not clamped: 85 must not become a P0), the value kept as an
 * indicator, and a warning names the field and the value. */
static void unreadable_strength_is_kept(void **state)
{
	(void)state;
	static const struct {
		const char *body, *indicators, *in_warning;
	} cases[] = {
		{ "{\"type\":\"entry\",\"enter_tag\":"
		  "\"ema strength=1.5 rsi=30\"}",
		  "{\"signal_strength_invalid\":\"1.5\",\"rsi\":30}",
		  "field 'enter_tag': strength '1.5' " },
		{ "{\"type\":\"entry_fill\",\"enter_tag\":\"strength=85\"}",
		  "{\"signal_strength_invalid\":\"85\"}", "'85'" },
		{ "{\"type\":\"entry\",\"enter_tag\":\"strength=nan\"}",
		  "{\"signal_strength_invalid\":\"nan\"}", "'nan'" },
		{ "{\"type\":\"entry\",\"enter_tag\":"
		  "\"signal_strength=-0.1\"}",
		  "{\"signal_strength_invalid\":\"-0.1\"}", "'-0.1'" },
		/* the exit's own strength decides, unreadable or not: the
		 * entry's tag is not used in its place */
		{ "{\"type\":\"exit\",\"exit_reason\":\"stop strength=x\","
		  "\"enter_tag\":\"strength=0.9\"}",
		  "{\"signal_strength_invalid\":\"x\"}",
		  "field 'exit_reason': strength 'x'" },
		{ "{\"type\":\"strategy_msg\",\"msg\":"
		  "\"{\\\"signal_strength\\\": 2, \\\"rsi\\\": 70}\"}",
		  "{\"signal_strength_invalid\":\"2\",\"rsi\":70}",
		  "field 'msg': strength '2'" },
		{ "{\"type\":\"strategy_msg\",\"msg\":"
		  "\"{\\\"signal_strength\\\": true}\"}",
		  "{\"signal_strength_invalid\":\"true\"}", "'true'" },
		{ "{\"type\":\"strategy_msg\",\"msg\":\"go strength=1e9\"}",
		  "{\"signal_strength_invalid\":\"1e9\"}", "'1e9'" },
		/* quotes, backslashes and non-ASCII are not echoed; the
		 * value is cut at 32 bytes in the warning (kept whole in
		 * the indicators and raw) */
		{ "{\"type\":\"entry\",\"enter_tag\":\"strength=a\\\"b\\\\"
		  "\\u00e9cdefghijklmnopqrstuvwxyz0123456789\"}",
		  "{\"signal_strength_invalid\":\"a\\\"b\\\\\u00e9cdefghijklm"
		  "nopqrstuvwxyz0123456789\"}",
		  "'a?b???cdefghijklmnopqrstuvwxyz01' " },
	};
	struct sig s;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ok_json(cases[i].body, &s);
		assert_col(&s, SC_STRENGTH, "0");
		assert_col(&s, SC_LEVEL, "ignore");
		assert_no_col(&s, SC_PRIORITY);
		assert_col(&s, SC_INDICATORS, cases[i].indicators);
		if (!strstr(warning, cases[i].in_warning))
			fail_msg("case %zu: warning '%s' lacks '%s'", i,
				 warning, cases[i].in_warning);
		assert_non_null(strstr(warning, "from 0 to 1"));
		sig_release(&s);
	}
	/* a readable strength found first decides; a later unreadable one
	 * is only kept as an indicator, with no warning */
	ok_json("{\"type\":\"exit\",\"exit_reason\":\"roi strength=0.7\","
		"\"enter_tag\":\"strength=abc\"}", &s);
	assert_col(&s, SC_STRENGTH, "0.7");
	assert_col(&s, SC_LEVEL, "medium");
	assert_col(&s, SC_INDICATORS, "{\"signal_strength\":0.7,"
				      "\"signal_strength_invalid\":\"abc\"}");
	assert_string_equal(warning, "");
	sig_release(&s);
	/* and a readable one after an unreadable one does not either */
	ok_json("{\"type\":\"entry\",\"enter_tag\":"
		"\"strength=abc strength=0.9\"}", &s);
	assert_col(&s, SC_STRENGTH, "0");
	assert_col(&s, SC_LEVEL, "ignore");
	assert_col(&s, SC_INDICATORS, "{\"signal_strength_invalid\":\"abc\"}");
	assert_non_null(strstr(warning, "'abc'"));
	sig_release(&s);
	/* a good signal leaves no warning from the one before */
	ok_json("{\"type\":\"entry\",\"enter_tag\":\"strength=0.5\"}", &s);
	assert_string_equal(warning, "");
	assert_col(&s, SC_LEVEL, "weak");
	sig_release(&s);
}

static void long_text_is_cut_on_a_character(void **state)
{
	(void)state;
	struct lc_buf b;
	struct sig s;
	lc_buf_init(&b, 1 << 20);
	assert_int_equal(lc_buf_append_str(&b, "{\"type\":\"exception\","
					       "\"status\":\"x"),
			 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(lc_buf_append_str(&b, "\xc3\xa9"), 0);
	assert_int_equal(lc_buf_append_str(&b, "\"}"), 0);
	ok_json(b.data, &s);
	assert_int_equal(strlen(COL(&s, SC_MESSAGE)), 4095);
	sig_release(&s);
	lc_buf_release(&b);
}

static char *key_of(const char *body, struct dedupe *dd, int64_t us)
{
	struct ierr e;
	struct sig s;
	char *k;
	assert_int_equal(parse_json(body, &s, &e, dd, us), 0);
	k = strdup(COL(&s, SC_DEDUPE_KEY));
	sig_release(&s);
	return k;
}

static void dedupe_keys(void **state)
{
	(void)state;
	struct dedupe *dd = dedupe_new();
	const char *a = "{\"type\":\"entry\",\"trade_id\":\"7\","
			"\"pair\":\"BTC/USDT\",\"open_date\":"
			"\"2025-06-01 08:00:00\"}";
	const char *a2 = "{\"pair\":\"BTC/USDT\",\"trade_id\":\"7\","
			 "\"open_date\":\"2025-06-01 08:00:00\","
			 "\"type\":\"entry\"}";
	const char *b = "{\"type\":\"entry\",\"trade_id\":\"7\","
			"\"pair\":\"BTC/USDT\",\"open_date\":"
			"\"2025-06-01 08:00:01\"}";
	const char *st = "{\"type\":\"status\",\"status\":\"running\"}";
	char *k1 = key_of(a, dd, RECEIVED_US);
	char *k2 = key_of(a, dd, RECEIVED_US + 3600000000LL);
	char *k3 = key_of(a2, dd, RECEIVED_US);
	char *k4 = key_of(b, dd, RECEIVED_US);
	/* a retry, an hour later even, is the same message */
	assert_string_equal(k1, k2);
	assert_string_equal(k1, k3); /* field order does not matter */
	assert_string_not_equal(k1, k4);
	assert_null(strchr(k1, '@'));
	assert_true(strlen(k1) < DEDUPE_KEY_MAX);
	/* time-less: the same within the window, new after it */
	char *s1 = key_of(st, dd, RECEIVED_US);
	char *s2 = key_of(st, dd, RECEIVED_US + 30000000LL);
	char *s3 = key_of(st, dd,
			  RECEIVED_US + (DEDUPE_WINDOW_S + 1) * 1000000LL);
	assert_string_equal(s1, s2);
	assert_string_not_equal(s1, s3);
	assert_non_null(strstr(s1, "@1748764800"));
	free(k1);
	free(k2);
	free(k3);
	free(k4);
	free(s1);
	free(s2);
	free(s3);
	dedupe_free(dd);
}

static void window_forgets_the_oldest_when_full(void **state)
{
	(void)state;
	struct dedupe *dd = dedupe_new();
	unsigned char d[SHA256_DIGEST_LENGTH] = { 0 };
	for (uint32_t i = 0; i < DEDUPE_WINDOW_MAX + 10; i++) {
		memcpy(d, &i, sizeof(i));
		assert_int_equal(first_seen(dd, d, 100), 100);
	}
	assert_int_equal(dd->count, DEDUPE_WINDOW_MAX);
	memset(d, 0, sizeof(d)); /* the very first was dropped */
	assert_int_equal(first_seen(dd, d, 200), 200);
	uint32_t last = DEDUPE_WINDOW_MAX + 9;
	memcpy(d, &last, sizeof(last));
	assert_int_equal(first_seen(dd, d, 200), 100);
	dedupe_free(dd);
}

static void numbers_and_times(void **state)
{
	(void)state;
	char out[VAL_NUM_MAX], t[VAL_TIME_LEN];
	double d;
	assert_int_equal(val_number("1e-05", out, &d), VAL_OK);
	assert_string_equal(out, "1e-05");
	assert_int_equal(val_number("05.50", out, &d), VAL_OK);
	assert_string_equal(out, "5.5");
	assert_int_equal(val_number(".5", out, &d), VAL_OK);
	assert_string_equal(out, "0.5");
	assert_int_equal(val_number("None", out, &d), VAL_NULL);
	assert_int_equal(val_number("-inf", out, &d), VAL_NONFINITE);
	assert_int_equal(val_number("1e999", out, &d), VAL_NONFINITE);
	assert_int_equal(val_number("0x10", out, &d), VAL_BAD);
	assert_int_equal(val_number("1,000", out, &d), VAL_BAD);
	assert_int_equal(val_number(" 1", out, &d), VAL_BAD);
	assert_int_equal(val_time("2025-06-01 10:00:00+02:00", t), VAL_OK);
	assert_string_equal(t, "2025-06-01T08:00:00.000000Z");
	assert_int_equal(val_time("2024-02-29T23:59:59.1234567-0130", t),
			 VAL_OK);
	assert_string_equal(t, "2024-03-01T01:29:59.123456Z");
	assert_int_equal(val_time("2025-06-01", t), VAL_BAD);
	assert_int_equal(val_time("2025-06-01 24:00:00", t), VAL_BAD);
	assert_int_equal(val_time("2025-06-01 08:00:00+25:00", t), VAL_BAD);
	assert_int_equal(val_time("2025-06-01 08:00:00 UTC", t), VAL_BAD);
	assert_int_equal(val_time("None", t), VAL_NULL);
}

static void event_json_follows_the_proto(void **state)
{
	(void)state;
	struct sig s;
	cJSON *j;
	char *text;
	ok_json("{\"type\":\"exit\",\"trade_id\":\"9\",\"pair\":\"BTC/USDT\","
		"\"close_rate\":\"1e-05\",\"exit_reason\":\"roi\","
		"\"close_date\":\"2025-06-01 08:00:02.117999+00:00\"}", &s);
	j = sig_to_json(&s, 10428, "btc-trend-1h");
	assert_non_null(j);
	text = cJSON_PrintUnformatted(j);
	assert_non_null(strstr(text, "\"id\":10428,\"strategy_id\":3,"
				     "\"strategy_name\":\"btc-trend-1h\","
				     "\"action\":\"exit\""));
	assert_non_null(strstr(text, "\"trade_id\":9,\"rate\":1e-05,"));
	assert_non_null(strstr(text, "\"event_at\":"
				     "\"2025-06-01T08:00:02.117Z\""));
	assert_non_null(strstr(text, "\"priority\":null"));
	assert_null(strstr(text, "\"raw\""));
	cJSON_free(text);
	cJSON_Delete(j);
	sig_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entry_fill_is_read_and_graded),
		cmocka_unit_test(exit_takes_its_own_fields),
		cmocka_unit_test(cancels_keep_their_reason),
		cmocka_unit_test(status_like_messages_carry_text),
		cmocka_unit_test(strategy_msg_json_gives_strength),
		cmocka_unit_test(strategy_msg_text_may_carry_tags),
		cmocka_unit_test(protections_are_read),
		cmocka_unit_test(none_nan_and_aliases),
		cmocka_unit_test(grading_boundaries),
		cmocka_unit_test(bad_values_are_refused_by_name),
		cmocka_unit_test(unreadable_strength_is_kept),
		cmocka_unit_test(long_text_is_cut_on_a_character),
		cmocka_unit_test(dedupe_keys),
		cmocka_unit_test(window_forgets_the_oldest_when_full),
		cmocka_unit_test(numbers_and_times),
		cmocka_unit_test(event_json_follows_the_proto),
	};
	return cmocka_run_group_tests_name("ingest_parse", tests, NULL, NULL);
}
