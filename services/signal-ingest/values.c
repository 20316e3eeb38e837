/* FreqTrade's rendered values: numbers, ids, times. */
#include "services/signal-ingest/values.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

bool val_none(const char *s)
{
	return !s || !*s || strcmp(s, "None") == 0 ||
	       strcmp(s, "none") == 0 || strcmp(s, "null") == 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return false;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

static bool nonfinite_word(const char *s)
{
	static const char *const words[] = { "nan", "-nan", "inf", "-inf",
					     "+inf", "infinity", "-infinity",
					     "+infinity" };
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

void val_shortest(double d, char *out, size_t outlen)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

enum val_rc val_number(const char *s, char *out, double *d)
{
	char *end;
	double v;
	if (val_none(s))
		return VAL_NULL;
	if (nonfinite_word(s))
		return VAL_NONFINITE;
	if (strlen(s) >= VAL_NUM_MAX || strspn(s, "0123456789+-.eE") !=
						strlen(s))
		return VAL_BAD;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end)
		return VAL_BAD;
	if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1))
		return VAL_NONFINITE;
	if (json_number(s))
		memcpy(out, s, strlen(s) + 1);
	else
		val_shortest(v, out, VAL_NUM_MAX);
	if (d)
		*d = v;
	return VAL_OK;
}

enum val_rc val_uint(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (val_none(s))
		return VAL_NULL;
	if (strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
		return VAL_BAD;
	for (; *s; s++)
		v = v * 10 + (*s - '0');
	*out = v;
	return VAL_OK;
}

/* n digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30,
				  31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : md[m - 1];
}

/* "[.fffffffff]" into microseconds. */
static bool fraction(const char **p, int *us)
{
	int n = 0;
	*us = 0;
	if (**p != '.')
		return true;
	(*p)++;
	while (isdigit((unsigned char)**p)) {
		if (n < 6)
			*us = *us * 10 + (**p - '0');
		n++;
		(*p)++;
	}
	for (int i = n; i < 6; i++)
		*us *= 10;
	return n > 0 && n <= 9;
}

/* "", "Z", "+HH:MM", "-HH:MM", "+HHMM", "+HH" into seconds east. */
static bool zone(const char *p, int *east)
{
	int sign, hh, mm = 0;
	*east = 0;
	if (!*p || ((*p == 'Z' || *p == 'z') && !p[1]))
		return true;
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, 2, &hh))
		return false;
	if (*p == ':')
		p++;
	if (*p && !digits(&p, 2, &mm))
		return false;
	if (*p || hh > 23 || mm > 59)
		return false;
	*east = sign * (hh * 3600 + mm * 60);
	return true;
}

enum val_rc val_time(const char *s, char *out)
{
	int y, mo, d, h, mi, sec, us, east;
	const char *p = s;
	if (val_none(s))
		return VAL_NULL;
	if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) ||
	    !expect(&p, '-') || !digits(&p, 2, &d) ||
	    (*p != ' ' && *p != 'T' && *p != 't'))
		return VAL_BAD;
	p++;
	if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) ||
	    !expect(&p, ':') || !digits(&p, 2, &sec) || !fraction(&p, &us) ||
	    !zone(p, &east))
		return VAL_BAD;
	if (y < 1900 || mo < 1 || mo > 12 || d < 1 ||
	    d > month_days(y, mo) || h > 23 || mi > 59 || sec > 59)
		return VAL_BAD;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		    sec - east;
	val_time_from_us(t * 1000000 + us, out);
	return VAL_OK;
}

/* v (>= 0) as exactly n decimal digits. */
static void put_digits(char *out, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void val_time_from_us(int64_t us, char *out)
{
	time_t sec = (time_t)(us / 1000000);
	int frac = (int)(us % 1000000);
	struct tm tm;
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	/* by hand: this runs for every signal, several times */
	put_digits(out, tm.tm_year + 1900, 4);
	out[4] = '-';
	put_digits(out + 5, tm.tm_mon + 1, 2);
	out[7] = '-';
	put_digits(out + 8, tm.tm_mday, 2);
	out[10] = 'T';
	put_digits(out + 11, tm.tm_hour, 2);
	out[13] = ':';
	put_digits(out + 14, tm.tm_min, 2);
	out[16] = ':';
	put_digits(out + 17, tm.tm_sec, 2);
	out[19] = '.';
	put_digits(out + 20, frac, 6);
	out[26] = 'Z';
	out[27] = '\0';
}

int64_t val_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t val_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* back off continuation bytes so no character is split */
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}
