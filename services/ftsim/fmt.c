/*
 * fmt: Python's str.format() and value printing, as FreqTrade's webhook
 * renders its templates (value.format(**msg)). See fmt.h.
 */
#include "services/ftsim/fmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct spec {
	char fill[5]; /* one UTF-8 character */
	char align;   /* '<' '>' '=' '^', 0: the type's default */
	char sign;    /* '+' '-' ' ', 0: '-' */
	bool z;       /* coerce negative zero */
	bool alt;     /* '#' */
	bool zero;    /* '0' given before the width */
	int width;    /* -1: none */
	char group;   /* ',' '_' or 0 */
	int prec;     /* -1: none */
	char type;    /* 0: none */
};

#define SET_ERR(...) (void)snprintf(err, errlen, __VA_ARGS__)

static size_t utf8_len_n(const char *s, size_t n)
{
	size_t l = lc_buf_utf8_len((const unsigned char *)s);
	if (l == 0)
		l = 1;
	return l > n ? n : l;
}

/* Characters (code points) in s[0..n). */
static size_t utf8_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

static bool is_align(char c)
{
	return c == '<' || c == '>' || c == '=' || c == '^';
}

static int parse_int(const char *s, size_t n, size_t *pos, int *out)
{
	long v = 0;
	size_t start = *pos;
	while (*pos < n && s[*pos] >= '0' && s[*pos] <= '9') {
		v = v * 10 + (s[*pos] - '0');
		if (v > 100000000)
			return -1;
		(*pos)++;
	}
	*out = *pos > start ? (int)v : -1;
	return 0;
}

static int parse_spec(const char *s, size_t n, struct spec *sp, char *err,
                      size_t errlen)
{
	memset(sp, 0, sizeof(*sp));
	sp->fill[0] = ' ';
	sp->width = -1;
	sp->prec = -1;
	size_t pos = 0;
	size_t cl = n ? utf8_len_n(s, n) : 0;
	bool fill_given = false;
	if (n > cl && is_align(s[cl])) {
		memcpy(sp->fill, s, cl);
		sp->fill[cl] = 0;
		sp->align = s[cl];
		pos = cl + 1;
		fill_given = true;
	} else if (n > 0 && is_align(s[0])) {
		sp->align = s[0];
		pos = 1;
	}
	if (pos < n && (s[pos] == '+' || s[pos] == '-' || s[pos] == ' '))
		sp->sign = s[pos++];
	if (pos < n && s[pos] == 'z') {
		sp->z = true;
		pos++;
	}
	if (pos < n && s[pos] == '#') {
		sp->alt = true;
		pos++;
	}
	if (!fill_given && pos < n && s[pos] == '0') {
		sp->zero = true;
		sp->fill[0] = '0';
		sp->fill[1] = 0;
		pos++;
	}
	if (parse_int(s, n, &pos, &sp->width) != 0) {
		SET_ERR("ValueError: Too many decimal digits in format "
			"string");
		return -1;
	}
	if (pos < n && (s[pos] == ',' || s[pos] == '_'))
		sp->group = s[pos++];
	if (pos < n && s[pos] == '.') {
		pos++;
		if (parse_int(s, n, &pos, &sp->prec) != 0) {
			SET_ERR("ValueError: Too many decimal digits");
			return -1;
		}
		if (sp->prec < 0) {
			SET_ERR("ValueError: Format specifier missing "
			        "precision");
			return -1;
		}
	}
	if (n - pos > 1) {
		SET_ERR("ValueError: Invalid format specifier '%.*s'", (int)n,
		        s);
		return -1;
	}
	if (pos < n)
		sp->type = s[pos];
	return 0;
}

/* Append fill n times. */
static int put_fill(struct lc_buf *out, const struct spec *sp, int n)
{
	for (int i = 0; i < n; i++)
		if (lc_buf_append_str(out, sp->fill) != 0)
			return -1;
	return 0;
}

/* Pad "<head><body>" (head: sign and prefix) to the width. */
static int put_padded(struct lc_buf *out, const struct spec *sp,
                      char def_align, const char *head, const char *body,
                      size_t bodylen)
{
	size_t hl = strlen(head);
	int len = (int)(utf8_count(head, hl) + utf8_count(body, bodylen));
	int pad = sp->width > len ? sp->width - len : 0;
	char align = sp->align ? sp->align : def_align;
	if (sp->zero && !sp->align && def_align == '>')
		align = '=';
	int left = 0, right = 0, mid = 0;
	if (align == '<')
		right = pad;
	else if (align == '^') {
		left = pad / 2;
		right = pad - left;
	} else if (align == '=')
		mid = pad;
	else
		left = pad;
	if (put_fill(out, sp, left) != 0 || lc_buf_append_str(out, head) ||
	    put_fill(out, sp, mid) != 0 ||
	    lc_buf_append(out, body, bodylen) != 0 ||
	    put_fill(out, sp, right) != 0)
		return -1;
	return 0;
}

/* Insert sep every `every` digits in the leading digit run of src. */
static void group_digits(char *dst, size_t dstlen, const char *src, char sep,
                         int every)
{
	size_t nd = strspn(src, "0123456789abcdefABCDEF");
	if (every == 3)
		nd = strspn(src, "0123456789");
	size_t o = 0;
	for (size_t i = 0; i < nd && o + 2 < dstlen; i++) {
		if (i > 0 && (nd - i) % (size_t)every == 0)
			dst[o++] = sep;
		dst[o++] = src[i];
	}
	snprintf(dst + o, dstlen - o, "%s", src + nd);
}

static void upcase(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

/* ---- floats ---- */

static int exp_val(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

/* Shortest round-trip digits of |d| (finite, non-zero): digits and the
 * decimal point position (value = 0.DIGITS * 10^decpt). */
static void shortest_digits(double d, char *digits, size_t dl, int *decpt)
{
	char buf[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, fabs(d));
		if (strtod(buf, NULL) == fabs(d))
			break;
	}
	char *e = strchr(buf, 'e');
	size_t o = 0;
	for (char *c = buf; c < e && o + 1 < dl; c++)
		if (*c != '.')
			digits[o++] = *c;
	while (o > 1 && digits[o - 1] == '0')
		o--;
	digits[o] = 0;
	*decpt = exp_val(e + 1) + 1;
}

char *fmt_float_repr(char *out, double d)
{
	if (isnan(d)) {
		snprintf(out, FMT_FLOAT_LEN, "nan");
		return out;
	}
	if (isinf(d)) {
		snprintf(out, FMT_FLOAT_LEN, "%s", d > 0 ? "inf" : "-inf");
		return out;
	}
	const char *sg = signbit(d) ? "-" : "";
	if (d == 0) {
		snprintf(out, FMT_FLOAT_LEN, "%s0.0", sg);
		return out;
	}
	char dg[24];
	int decpt;
	shortest_digits(d, dg, sizeof(dg), &decpt);
	int nd = (int)strlen(dg);
	if (decpt <= -4 || decpt > 16) {
		int x = decpt - 1;
		snprintf(out, FMT_FLOAT_LEN, "%s%c%s%se%c%02d", sg, dg[0],
		         nd > 1 ? "." : "", dg + 1, x < 0 ? '-' : '+',
		         abs(x) % 1000);
	} else if (decpt <= 0) {
		snprintf(out, FMT_FLOAT_LEN, "%s0.%0*d%s", sg, -decpt, 0, dg);
		if (decpt == 0) /* "%0*d" with 0 width still prints "0" */
			snprintf(out, FMT_FLOAT_LEN, "%s0.%s", sg, dg);
	} else if (decpt >= nd) {
		snprintf(out, FMT_FLOAT_LEN, "%s%s%0*d.0", sg, dg, decpt - nd,
		         0);
		if (decpt == nd)
			snprintf(out, FMT_FLOAT_LEN, "%s%s.0", sg, dg);
	} else {
		snprintf(out, FMT_FLOAT_LEN, "%s%.*s.%s", sg, decpt, dg,
		         dg + decpt);
	}
	return out;
}

double fmt_round(double d, int ndigits)
{
	if (!isfinite(d))
		return d;
	char buf[400];
	snprintf(buf, sizeof(buf), "%.*f", ndigits, d);
	return strtod(buf, NULL);
}

static void strip_zeros(char *s)
{
	char *e = strpbrk(s, "eE");
	char tail[16] = "";
	if (e) {
		snprintf(tail, sizeof(tail), "%s", e);
		*e = 0;
	}
	if (strchr(s, '.')) {
		size_t l = strlen(s);
		while (l > 0 && s[l - 1] == '0')
			s[--l] = 0;
		if (l > 0 && s[l - 1] == '.')
			s[--l] = 0;
	}
	size_t l = strlen(s);
	memcpy(s + l, tail, strlen(tail) + 1); /* restore the exponent */
}

/* Python's format(x, '.<p>') (no type, a precision): 'g' switching to
 * exponent one digit earlier, always with a decimal point. */
static void float_g_dot0(char *out, size_t n, double a, int p, bool alt)
{
	if (p == 0)
		p = 1;
	char e[48];
	snprintf(e, sizeof(e), "%.*e", p - 1, a);
	int x = exp_val(strchr(e, 'e') + 1);
	if (x >= -4 && x < p - 1) {
		snprintf(out, n, "%.*f", p - 1 - x, a);
		if (!alt)
			strip_zeros(out);
		size_t l = strlen(out);
		if (!strchr(out, '.') && l + 3 <= n)
			memcpy(out + l, ".0", 3);
	} else {
		snprintf(out, n, "%s", e);
		if (!alt)
			strip_zeros(out);
	}
}

/* The digits of |d| for spec type t (sign handled by the caller). */
static int float_body(char *out, size_t n, double a, const struct spec *sp,
                      char *err, size_t errlen)
{
	int p = sp->prec;
	char t = sp->type;
	if (isnan(a) || isinf(a)) {
		snprintf(out, n, "%s%s", isnan(a) ? "nan" : "inf",
		         t == '%' ? "%" : "");
	} else if (t == 0 && p < 0) {
		fmt_float_repr(out, a);
	} else if (t == 0) {
		float_g_dot0(out, n, a, p, sp->alt);
	} else if (t == 'e' || t == 'E') {
		snprintf(out, n, sp->alt ? "%#.*e" : "%.*e", p < 0 ? 6 : p, a);
	} else if (t == 'f' || t == 'F') {
		snprintf(out, n, sp->alt ? "%#.*f" : "%.*f", p < 0 ? 6 : p, a);
	} else if (t == 'g' || t == 'G' || t == 'n') {
		int q = p < 0 ? 6 : (p == 0 ? 1 : p);
		snprintf(out, n, sp->alt ? "%#.*g" : "%.*g", q, a);
	} else if (t == '%') {
		snprintf(out, n, sp->alt ? "%#.*f%%" : "%.*f%%", p < 0 ? 6 : p,
		         a * 100);
	} else {
		SET_ERR("ValueError: Unknown format code '%c' for object of "
		        "type 'float'",
		        t);
		return -1;
	}
	if (t == 'E' || t == 'F' || t == 'G')
		upcase(out);
	return 0;
}

static bool all_zero(const char *s)
{
	for (; *s && *s != 'e' && *s != 'E' && *s != '%'; s++)
		if (*s != '0' && *s != '.')
			return false;
	return true;
}

static const char *sign_of(bool neg, char sign)
{
	if (neg)
		return "-";
	return sign == '+' ? "+" : (sign == ' ' ? " " : "");
}

static int format_float(struct lc_buf *out, double d, const struct spec *sp,
                        char *err, size_t errlen)
{
	if (sp->group && sp->type && !strchr("eEfFgG%", sp->type)) {
		SET_ERR("ValueError: Cannot specify '%c' with '%c'.",
		        sp->group, sp->type);
		return FMT_ERROR;
	}
	char body[400];
	double a = fabs(d);
	if (float_body(body, sizeof(body), a, sp, err, errlen) != 0)
		return FMT_ERROR;
	bool neg = signbit(d) && !isnan(d);
	if (neg && sp->z && all_zero(body))
		neg = false;
	char g[540];
	const char *bp = body;
	if (sp->group) {
		group_digits(g, sizeof(g), body, sp->group, 3);
		bp = g;
	}
	if (put_padded(out, sp, '>', sign_of(neg, sp->sign), bp, strlen(bp)) !=
	    0)
		return FMT_NOMEM;
	return FMT_OK;
}

/* ---- integers ---- */

static void int_digits(char *out, size_t n, uint64_t u, int base, bool up)
{
	char tmp[72];
	size_t i = sizeof(tmp) - 1;
	tmp[i] = 0;
	const char *dg = up ? "0123456789ABCDEF" : "0123456789abcdef";
	do {
		tmp[--i] = dg[u % (unsigned)base];
		u /= (unsigned)base;
	} while (u);
	snprintf(out, n, "%s", tmp + i);
}

static int int_char(struct lc_buf *out, int64_t v, const struct spec *sp,
                    char *err, size_t errlen)
{
	if (sp->sign) {
		SET_ERR("ValueError: Sign not allowed with integer format "
		        "specifier 'c'");
		return FMT_ERROR;
	}
	if (v < 0 || v > 0x10FFFF) {
		SET_ERR("OverflowError: %%c arg not in range(0x110000)");
		return FMT_ERROR;
	}
	char b[5] = { 0 };
	uint32_t c = (uint32_t)v;
	if (c < 0x80)
		b[0] = (char)c;
	else if (c < 0x800) {
		b[0] = (char)(0xC0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3F));
	} else if (c < 0x10000) {
		b[0] = (char)(0xE0 | (c >> 12));
		b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
	} else {
		b[0] = (char)(0xF0 | (c >> 18));
		b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		b[3] = (char)(0x80 | (c & 0x3F));
	}
	return put_padded(out, sp, '<', "", b, strlen(b)) ? FMT_NOMEM : FMT_OK;
}

static int format_int(struct lc_buf *out, int64_t v, const struct spec *sp,
                      char *err, size_t errlen)
{
	char t = sp->type;
	if (t && strchr("eEfFgG%", t))
		return format_float(out, (double)v, sp, err, errlen);
	if (t && !strchr("bcdoxXn", t)) {
		SET_ERR("ValueError: Unknown format code '%c' for object of "
		        "type 'int'",
		        t);
		return FMT_ERROR;
	}
	if (sp->prec >= 0) {
		SET_ERR("ValueError: Precision not allowed in integer format "
		        "specifier");
		return FMT_ERROR;
	}
	if (t == 'c')
		return int_char(out, v, sp, err, errlen);
	int base = t == 'b'                 ? 2
	           : t == 'o'               ? 8
	           : (t == 'x' || t == 'X') ? 16
	                                    : 10;
	if ((sp->group == ',' && base != 10) || (sp->group && t == 'n')) {
		SET_ERR("ValueError: Cannot specify '%c' with '%c'.",
		        sp->group, t);
		return FMT_ERROR;
	}
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char dg[72], body[100];
	int_digits(dg, sizeof(dg), u, base, t == 'X');
	if (sp->group)
		group_digits(body, sizeof(body), dg, sp->group,
		             base == 10 ? 3 : 4);
	else
		snprintf(body, sizeof(body), "%s", dg);
	char head[8];
	const char *pre = "";
	if (sp->alt && base != 10)
		pre = t == 'b'   ? "0b"
		      : t == 'o' ? "0o"
		      : t == 'X' ? "0X"
		                 : "0x";
	snprintf(head, sizeof(head), "%s%s", sign_of(v < 0, sp->sign), pre);
	return put_padded(out, sp, '>', head, body, strlen(body)) ? FMT_NOMEM
	                                                          : FMT_OK;
}

/* ---- strings ---- */

static int format_string(struct lc_buf *out, const char *s, size_t len,
                         const struct spec *sp, char *err, size_t errlen)
{
	if (sp->type && sp->type != 's') {
		SET_ERR("ValueError: Unknown format code '%c' for object of "
		        "type 'str'",
		        sp->type);
		return FMT_ERROR;
	}
	if (sp->sign) {
		SET_ERR("ValueError: Sign not allowed in string format "
		        "specifier");
		return FMT_ERROR;
	}
	if (sp->alt) {
		SET_ERR("ValueError: Alternate form (#) not allowed in "
		        "string format specifier");
		return FMT_ERROR;
	}
	if (sp->group) {
		SET_ERR("ValueError: Cannot specify '%c' with 's'.",
		        sp->group);
		return FMT_ERROR;
	}
	if (sp->align == '=') {
		SET_ERR("ValueError: '=' alignment not allowed in string "
		        "format specifier");
		return FMT_ERROR;
	}
	if (sp->prec >= 0) { /* truncate to prec characters */
		size_t i = 0;
		int c = 0;
		while (i < len && c < sp->prec) {
			i += utf8_len_n(s + i, len - i);
			c++;
		}
		len = i;
	}
	struct spec s2 = *sp;
	s2.zero = false;
	return put_padded(out, &s2, '<', "", s, len) ? FMT_NOMEM : FMT_OK;
}

/* ---- dates ---- */

static void date_tm(int64_t us, struct tm *tm, int *micro)
{
	int64_t sec = us / 1000000;
	int64_t rem = us % 1000000;
	if (rem < 0) {
		rem += 1000000;
		sec--;
	}
	time_t t = (time_t)sec;
	gmtime_r(&t, tm);
	*micro = (int)rem;
}

char *fmt_date_str(char *out, int64_t us, bool aware)
{
	struct tm tm;
	int micro;
	date_tm(us, &tm, &micro);
	size_t n = strftime(out, 40, "%Y-%m-%d %H:%M:%S", &tm);
	if (micro)
		n += (size_t)snprintf(out + n, 40 - n, ".%06d", micro);
	if (aware)
		snprintf(out + n, 40 - n, "+00:00");
	return out;
}

static void date_repr(char *out, size_t n, int64_t us, bool aware)
{
	struct tm tm;
	int micro;
	date_tm(us, &tm, &micro);
	int o = snprintf(out, n, "datetime.datetime(%d, %d, %d, %d, %d",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                 tm.tm_hour, tm.tm_min);
	if (tm.tm_sec || micro)
		o += snprintf(out + o, n - (size_t)o, ", %d", tm.tm_sec);
	if (micro)
		o += snprintf(out + o, n - (size_t)o, ", %d", micro);
	snprintf(out + o, n - (size_t)o, "%s)",
	         aware ? ", tzinfo=datetime.timezone.utc" : "");
}

/* datetime.strftime(spec): %f %z %Z (and %:z) by hand, the rest by the C
 * library, as CPython does. */
static int date_strftime(struct lc_buf *out, int64_t us, bool aware,
                         const char *spec, size_t n)
{
	struct tm tm;
	int micro;
	date_tm(us, &tm, &micro);
	struct lc_buf f;
	lc_buf_init(&f, 4096);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (spec[i] != '%' || i + 1 >= n) {
			rc = lc_buf_append(&f, spec + i, 1);
			continue;
		}
		char c = spec[++i];
		if (c == 'f')
			rc = lc_buf_printf(&f, "%06d", micro);
		else if (c == 'z')
			rc = lc_buf_append_str(&f, aware ? "+0000" : "");
		else if (c == 'Z')
			rc = lc_buf_append_str(&f, aware ? "UTC" : "");
		else if (c == ':' && i + 1 < n && spec[i + 1] == 'z') {
			i++;
			rc = lc_buf_append_str(&f, aware ? "+00:00" : "");
		} else if (c == '%')
			rc = lc_buf_append_str(&f, "%%");
		else
			rc = lc_buf_printf(&f, "%%%c", c);
	}
	if (rc == 0 && f.len > 0) {
		/* the C library formats what is left; '%%' became "%%" */
		size_t cap = f.len * 8 + 64;
		char *res = malloc(cap);
		size_t got = 0;
		if (res) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			got = strftime(res, cap, f.data, &tm);
#pragma GCC diagnostic pop
			rc = lc_buf_append(out, res, got);
			free(res);
		} else {
			rc = -1;
		}
	}
	lc_buf_release(&f);
	return rc == 0 ? FMT_OK : FMT_NOMEM;
}

/* ---- str() / repr() ---- */

int fmt_str(struct lc_buf *out, const struct pv *v)
{
	char b[48];
	switch (v->t) {
	case PV_NONE: return lc_buf_append_str(out, "None");
	case PV_BOOL: return lc_buf_append_str(out, v->i ? "True" : "False");
	case PV_INT: return lc_buf_printf(out, "%lld", (long long)v->i);
	case PV_FLOAT: return lc_buf_append_str(out, fmt_float_repr(b, v->d));
	case PV_DATE:
		return lc_buf_append_str(out, fmt_date_str(b, v->i, v->aware));
	case PV_STR:
	case PV_RAW: return lc_buf_append_str(out, v->s ? v->s : "");
	}
	return -1;
}

static int str_repr(struct lc_buf *out, const char *s)
{
	char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
	int rc = lc_buf_append(out, &q, 1);
	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == (unsigned char)q)
			rc = lc_buf_printf(out, "\\%c", c);
		else if (c == '\n')
			rc = lc_buf_append_str(out, "\\n");
		else if (c == '\r')
			rc = lc_buf_append_str(out, "\\r");
		else if (c == '\t')
			rc = lc_buf_append_str(out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			rc = lc_buf_printf(out, "\\x%02x", c);
		else
			rc = lc_buf_append(out, s, 1);
	}
	return rc == 0 ? lc_buf_append(out, &q, 1) : rc;
}

int fmt_repr(struct lc_buf *out, const struct pv *v)
{
	char b[96];
	if (v->t == PV_STR)
		return str_repr(out, v->s ? v->s : "");
	if (v->t == PV_DATE) {
		date_repr(b, sizeof(b), v->i, v->aware);
		return lc_buf_append_str(out, b);
	}
	return fmt_str(out, v);
}

/* ---- format(value, spec) ---- */

static const char *type_name(const struct pv *v)
{
	switch (v->t) {
	case PV_NONE: return "NoneType";
	case PV_RAW: return "list";
	default: return "object";
	}
}

int fmt_format(struct lc_buf *out, const struct pv *v, const char *spec,
               size_t speclen, char *err, size_t errlen)
{
	struct spec sp;
	if (v->t == PV_DATE)
		return speclen ? date_strftime(out, v->i, v->aware, spec,
		                               speclen)
		               : (fmt_str(out, v) ? FMT_NOMEM : FMT_OK);
	if (speclen == 0 && v->t != PV_INT && v->t != PV_FLOAT)
		return fmt_str(out, v) ? FMT_NOMEM : FMT_OK;
	if (v->t == PV_NONE || v->t == PV_RAW) {
		SET_ERR("TypeError: unsupported format string passed to "
		        "%s.__format__",
		        type_name(v));
		return FMT_ERROR;
	}
	if (parse_spec(spec, speclen, &sp, err, errlen) != 0)
		return FMT_ERROR;
	if (v->t == PV_STR)
		return format_string(out, v->s ? v->s : "",
		                     strlen(v->s ? v->s : ""), &sp, err,
		                     errlen);
	if (v->t == PV_FLOAT)
		return format_float(out, v->d, &sp, err, errlen);
	return format_int(out, v->i, &sp, err, errlen);
}

/* ---- the template ---- */

struct field {
	const char *name; /* the field name (up to '!', ':', '.' or '[') */
	size_t namelen;
	size_t restlen; /* ".attr" / "[key]" after the name */
	char conv;      /* 0, 's', 'r', 'a' */
	const char *spec;
	size_t speclen;
};

/* Split the text between '{' and its '}' into its parts. */
static int parse_field(const char *s, size_t n, struct field *f, char *err,
                       size_t errlen)
{
	memset(f, 0, sizeof(*f));
	size_t i = 0;
	while (i < n && s[i] != '!' && s[i] != ':')
		i++;
	size_t end = i;
	f->name = s;
	f->namelen = strcspn(s, ".[!:");
	if (f->namelen > end)
		f->namelen = end;
	f->restlen = end - f->namelen;
	if (i < n && s[i] == '!') {
		if (i + 1 >= n) {
			SET_ERR("ValueError: end of string while looking for "
			        "conversion specifier");
			return -1;
		}
		f->conv = s[i + 1];
		i += 2;
		if (i < n && s[i] != ':') {
			SET_ERR("ValueError: expected ':' after conversion "
			        "specifier");
			return -1;
		}
		if (f->conv != 's' && f->conv != 'r' && f->conv != 'a') {
			SET_ERR("ValueError: Unknown conversion specifier %c",
			        f->conv);
			return -1;
		}
	}
	if (i < n && s[i] == ':') {
		f->spec = s + i + 1;
		f->speclen = n - i - 1;
	}
	if (f->spec && memchr(f->spec, '{', f->speclen)) {
		SET_ERR("ValueError: nested replacement fields are not "
		        "supported by ftsim");
		return -1;
	}
	return 0;
}

static const struct pv *lookup(const struct field *f,
                               const struct pv_field *fields, size_t n,
                               char *err, size_t errlen)
{
	if (f->namelen == 0) {
		SET_ERR("IndexError: Replacement index 0 out of range for "
		        "positional args tuple");
		return NULL;
	}
	if (strspn(f->name, "0123456789") >= f->namelen) {
		SET_ERR("IndexError: Replacement index %.*s out of range for "
		        "positional args tuple",
		        (int)f->namelen, f->name);
		return NULL;
	}
	for (size_t k = 0; k < n; k++)
		if (strlen(fields[k].key) == f->namelen &&
		    memcmp(fields[k].key, f->name, f->namelen) == 0)
			return &fields[k].v;
	SET_ERR("'%.*s'", (int)f->namelen, f->name);
	return NULL;
}

static int render_field(struct lc_buf *out, const char *s, size_t n,
                        const struct pv_field *fields, size_t nf, char *err,
                        size_t errlen)
{
	struct field f;
	if (parse_field(s, n, &f, err, errlen) != 0)
		return FMT_ERROR;
	const struct pv *v = lookup(&f, fields, nf, err, errlen);
	if (!v)
		return f.namelen && strspn(f.name, "0123456789") < f.namelen
		               ? FMT_KEYERROR
		               : FMT_ERROR;
	if (f.restlen) {
		SET_ERR("AttributeError: '%.*s' has no attribute access in "
		        "ftsim",
		        (int)f.namelen, f.name);
		return FMT_ERROR;
	}
	if (!f.conv)
		return fmt_format(out, v, f.spec, f.speclen, err, errlen);
	struct lc_buf tmp;
	lc_buf_init(&tmp, out->max);
	int rc = f.conv == 's' ? fmt_str(&tmp, v) : fmt_repr(&tmp, v);
	if (rc == 0) {
		struct pv sv = PV_S(tmp.data ? tmp.data : "");
		rc = fmt_format(out, &sv, f.spec, f.speclen, err, errlen);
	} else {
		rc = FMT_NOMEM;
	}
	lc_buf_release(&tmp);
	return rc;
}

/* Length of the field that starts after '{' at s (up to the matching
 * '}', nested braces counted), or -1 if the string ends first. */
static long field_len(const char *s)
{
	int depth = 1;
	for (long i = 0; s[i]; i++) {
		if (s[i] == '{')
			depth++;
		else if (s[i] == '}' && --depth == 0)
			return i;
	}
	return -1;
}

int fmt_render(struct lc_buf *out, const char *tmpl,
               const struct pv_field *fields, size_t n, char *err,
               size_t errlen)
{
	const char *p = tmpl;
	while (*p) {
		size_t lit = strcspn(p, "{}");
		if (lc_buf_append(out, p, lit) != 0)
			return FMT_NOMEM;
		p += lit;
		if (!*p)
			break;
		if (p[0] == p[1]) { /* "{{" or "}}" */
			if (lc_buf_append(out, p, 1) != 0)
				return FMT_NOMEM;
			p += 2;
			continue;
		}
		if (*p == '}') {
			SET_ERR("ValueError: Single '}' encountered in format "
			        "string");
			return FMT_ERROR;
		}
		long len = field_len(p + 1);
		if (len < 0) {
			SET_ERR("ValueError: expected '}' before end of "
				"string");
			return FMT_ERROR;
		}
		int rc = render_field(out, p + 1, (size_t)len, fields, n, err,
		                      errlen);
		if (rc != FMT_OK)
			return rc;
		p += len + 2;
	}
	return FMT_OK;
}
