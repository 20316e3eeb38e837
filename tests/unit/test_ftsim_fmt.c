/* ftsim's Python str.format() and value printing (services/ftsim/fmt.c),
 * against expectations produced by CPython 3.11. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "services/ftsim/fmt.c"

/* 2025-01-02 03:04:05.123456 UTC */
#define T0 1735787045123456LL

static const struct pv_field fields[] = {
	{ "type", PV_S("entry_fill") },
	{ "trade_id", PV_I(7) },
	{ "pair", PV_S("BTC/USDT") },
	{ "open_rate", PV_F(64250.5) },
	{ "amount", PV_F(0.00155) },
	{ "profit_ratio", PV_F(-0.0123456789) },
	{ "small", PV_F(1e-05) },
	{ "big", PV_F(1e16) },
	{ "none", PV_NONE_V },
	{ "yes", PV_B(1) },
	{ "no", PV_B(0) },
	{ "open_date", PV_D(T0, true) },
	{ "d0", PV_D(T0 - 123456, true) },
	{ "dn", PV_D(T0 - 5123456, false) },
	{ "tag", PV_S("strength=0.82") },
	{ "neg0", PV_F(-0.0) },
	{ "third", PV_F(1.0 / 3) },
	{ "i", PV_I(-1234567) },
	{ "lst", PV_RAWS("['BTC/USDT', 'ETH/USDT']") },
	{ "q", PV_S("it's \"q\"") },
	{ "uni", PV_S("\xc3\xa9\xe2\x82\xac" "x") },
};

struct tcase {
	const char *tmpl;
	const char *want;  /* the output, or the error text */
	int rc;
};

static const struct tcase cases[] = {
	{ "{type}", "entry_fill", 0 },
	{ "{trade_id}", "7", 0 },
	{ "{pair}", "BTC/USDT", 0 },
	{ "{open_rate}", "64250.5", 0 },
	{ "{amount}", "0.00155", 0 },
	{ "{profit_ratio}", "-0.0123456789", 0 },
	{ "{small}", "1e-05", 0 },
	{ "{big}", "1e+16", 0 },
	{ "{none}", "None", 0 },
	{ "{yes}", "True", 0 },
	{ "{no}", "False", 0 },
	{ "{open_date}", "2025-01-02 03:04:05.123456+00:00", 0 },
	{ "{d0}", "2025-01-02 03:04:05+00:00", 0 },
	{ "{dn}", "2025-01-02 03:04:00", 0 },
	{ "{open_date:%Y-%m-%d %H:%M:%S}", "2025-01-02 03:04:05", 0 },
	{ "{open_date:%z|%Z|%f|%%|%j}", "+0000|UTC|123456|%|002", 0 },
	{ "{dn:%z|%Z}", "|", 0 },
	{ "{{literal}} {pair}", "{literal} BTC/USDT", 0 },
	{ "{open_rate:.2f}", "64250.50", 0 },
	{ "{open_rate:,.2f}", "64,250.50", 0 },
	{ "{open_rate:>12.1f}", "     64250.5", 0 },
	{ "{open_rate:e}", "6.425050e+04", 0 },
	{ "{open_rate:.3e}", "6.425e+04", 0 },
	{ "{open_rate:g}", "64250.5", 0 },
	{ "{open_rate:.3}", "6.43e+04", 0 },
	{ "{open_rate:.10}", "64250.5", 0 },
	{ "{profit_ratio:.2%}", "-1.23%", 0 },
	{ "{profit_ratio:+.4f}", "-0.0123", 0 },
	{ "{profit_ratio: .2f}", "-0.01", 0 },
	{ "{third}", "0.3333333333333333", 0 },
	{ "{third:.5}", "0.33333", 0 },
	{ "{neg0}", "-0.0", 0 },
	{ "{neg0:.1f}", "-0.0", 0 },
	{ "{neg0:z.1f}", "0.0", 0 },
	{ "{trade_id:05d}", "00007", 0 },
	{ "{trade_id:>5}", "    7", 0 },
	{ "{trade_id:<5}|", "7    |", 0 },
	{ "{trade_id:^5}|", "  7  |", 0 },
	{ "{trade_id:*^7}", "***7***", 0 },
	{ "{trade_id:x}", "7", 0 },
	{ "{trade_id:#x}", "0x7", 0 },
	{ "{trade_id:#b}", "0b111", 0 },
	{ "{trade_id:.2f}", "7.00", 0 },
	{ "{trade_id:%}", "700.000000%", 0 },
	{ "{i:,}", "-1,234,567", 0 },
	{ "{i:_}", "-1_234_567", 0 },
	{ "{i:+}", "-1234567", 0 },
	{ "{i:=+12,}", "-  1,234,567", 0 },
	{ "{i:012}", "-00001234567", 0 },
	{ "{pair:>12}", "    BTC/USDT", 0 },
	{ "{pair:.3}", "BTC", 0 },
	{ "{pair:*<10}", "BTC/USDT**", 0 },
	{ "{pair!r}", "'BTC/USDT'", 0 },
	{ "{none!r}", "None", 0 },
	{ "{q!r}", "'it\\'s \"q\"'", 0 },
	{ "{pair!s:>10}", "  BTC/USDT", 0 },
	{ "{yes:d}", "1", 0 },
	{ "{yes:>5}", "    1", 0 },
	{ "{yes!s}", "True", 0 },
	{ "{lst}", "['BTC/USDT', 'ETH/USDT']", 0 },
	{ "{lst!r}", "['BTC/USDT', 'ETH/USDT']", 0 },
	{ "{open_date!r}",
	  "datetime.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.t"
	  "imezone.utc)",
	  0 },
	{ "{dn!r}", "datetime.datetime(2025, 1, 2, 3, 4)", 0 },
	{ "{uni:>5}", "  \xc3""\xa9""\xe2""\x82""\xac""x", 0 },
	{ "{uni:.2}", "\xc3""\xa9""\xe2""\x82""\xac""", 0 },
	{ "{big:,.0f}", "10,000,000,000,000,000", 0 },
	{ "{small:.2e}", "1.00e-05", 0 },
	{ "{small:f}", "0.000010", 0 },
	{ "{amount:.8f}", "0.00155000", 0 },
	{ "{open_rate:_.3f}", "64_250.500", 0 },
	{ "{open_rate:E}", "6.425050E+04", 0 },
	{ "{open_rate:10}|", "   64250.5|", 0 },
	{ "{open_rate:<10}|", "64250.5   |", 0 },
	{ "{open_rate:010.2f}", "0064250.50", 0 },
	{ "{trade_id:c}", "\x07""", 0 },
	{ "{open_rate:n}", "64250.5", 0 },
	{ "{third:G}", "0.333333", 0 },
	{ "{big:.3}", "1e+16", 0 },
	{ "{open_rate:#.0f}", "64250.", 0 },
	{ "{profit_ratio:.1%}", "-1.2%", 0 },
	{ "{missing}", "'missing'", 1 },
	{ "{}",
	  "IndexError: Replacement index 0 out of range for positional args"
	  " tuple",
	  2 },
	{ "{0}",
	  "IndexError: Replacement index 0 out of range for positional args"
	  " tuple",
	  2 },
	{ "{none:.2f}",
	  "TypeError: unsupported format string passed to NoneType.__format"
	  "__",
	  2 },
	{ "{lst:>3}",
	  "TypeError: unsupported format string passed to list.__format__",
	  2 },
	{ "a}b", "ValueError: Single '}' encountered in format string", 2 },
	{ "{pair", "ValueError: expected '}' before end of string", 2 },
	{ "{trade_id:.2}",
	  "ValueError: Precision not allowed in integer format specifier",
	  2 },
	{ "{pair:d}",
	  "ValueError: Unknown format code 'd' for object of type 'str'",
	  2 },
	{ "{pair:+}",
	  "ValueError: Sign not allowed in string format specifier",
	  2 },
	{ "{trade_id!x}", "ValueError: Unknown conversion specifier x", 2 },
	{ "{open_rate:q}",
	  "ValueError: Unknown format code 'q' for object of type 'float'",
	  2 },
	{ "{pair:=5}",
	  "ValueError: '=' alignment not allowed in string format specifier",
	  2 },
	{ "{trade_id:,x}", "ValueError: Cannot specify ',' with 'x'.", 2 },
};

static void templates_match_python(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct lc_buf b;
		char err[256] = "";
		lc_buf_init(&b, 4096);
		int rc = fmt_render(&b, cases[k].tmpl, fields,
				    sizeof(fields) / sizeof(fields[0]), err,
				    sizeof(err));
		const char *got = rc == FMT_OK ? (b.data ? b.data : "") : err;
		if (rc != cases[k].rc || strcmp(got, cases[k].want) != 0)
			fail_msg("%s: got rc %d \"%s\", want rc %d \"%s\"",
				 cases[k].tmpl, rc, got, cases[k].rc,
				 cases[k].want);
		lc_buf_release(&b);
	}
}

static void float_repr_shortest(void **state)
{
	(void)state;
	static const struct {
		double d;
		const char *want;
	} f[] = {
		{ 0.1, "0.1" },        { 0.1 + 0.2, "0.30000000000000004" },
		{ 1e-05, "1e-05" },    { 0.0001, "0.0001" },
		{ 1e16, "1e+16" },     { 1e15, "1000000000000000.0" },
		{ 100.0, "100.0" },    { -2.5, "-2.5" },
		{ 0.0, "0.0" },        { -0.0, "-0.0" },
		{ 1.5e-300, "1.5e-300" }, { 123456789.125, "123456789.125" },
		{ 5e-324, "5e-324" },  { 1.7976931348623157e308,
					 "1.7976931348623157e+308" },
	};
	char b[FMT_FLOAT_LEN];
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
		assert_string_equal(fmt_float_repr(b, f[k].d), f[k].want);
	assert_string_equal(fmt_float_repr(b, NAN), "nan");
	assert_string_equal(fmt_float_repr(b, -INFINITY), "-inf");
}

static void python_round(void **state)
{
	(void)state;
	assert_true(fmt_round(2.675, 2) == 2.67); /* binary 2.67499.. */
	assert_true(fmt_round(0.125, 2) == 0.12);  /* half to even */
	assert_true(fmt_round(-1.23456, 2) == -1.23);
	assert_true(fmt_round(64250.123456789, 8) == 64250.12345679);
}

static void output_limit_is_reported(void **state)
{
	(void)state;
	struct lc_buf b;
	char err[64];
	lc_buf_init(&b, 4);
	assert_int_equal(fmt_render(&b, "{pair}", fields, 3, err,
				    sizeof(err)),
			 FMT_NOMEM);
	lc_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(templates_match_python),
		cmocka_unit_test(float_repr_shortest),
		cmocka_unit_test(python_round),
		cmocka_unit_test(output_limit_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
