#ifndef INGEST_VALUES_H
#define INGEST_VALUES_H
/*
 * FreqTrade's string values to what we store. A webhook renders Python
 * values with str(): floats as their repr ("64250.5", "1e-05", "nan"),
 * None as "None", datetimes as "2025-01-02 03:04:05.123456+00:00".
 * Pure code.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VAL_NUM_MAX 64   /* longest number text we accept, NUL included */
#define VAL_TIME_LEN 28  /* "2025-06-01T08:00:02.117000Z" + NUL */

enum val_rc {
	VAL_OK,        /* a value */
	VAL_NULL,      /* "None", "null" or empty: no value */
	VAL_NONFINITE, /* nan, inf: a number we do not store */
	VAL_BAD,       /* not what was expected */
};

/* "None", "none", "null" or "": Python's None as a template renders it. */
bool val_none(const char *s);

/*
 * A decimal number. On VAL_OK, out (VAL_NUM_MAX bytes) holds it as a
 * JSON number, the text as sent when it already is one ("64250.5"), else
 * the shortest text that reads back the same double ("+5" -> "5"), and
 * *d (may be NULL) its value.
 */
enum val_rc val_number(const char *s, char *out, double *d);

/* A non-negative integer such as a trade id ("57"); *out its value. */
enum val_rc val_uint(const char *s, int64_t *out);

/*
 * A time: "YYYY-MM-DD HH:MM:SS[.ffffff][Z|+HH:MM|-HH:MM|+HHMM|+HH]"
 * (a 'T' instead of the space too; no zone means UTC). out
 * (VAL_TIME_LEN bytes) gets it in UTC as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ",
 * fractions past microseconds cut. Years 1900..9999.
 */
enum val_rc val_time(const char *s, char *out);

/* The shortest "%.*g" text of d that reads back as d (d finite). */
void val_shortest(double d, char *out, size_t outlen);

/* How many of the first len bytes of the UTF-8 text s to keep so that
 * at most max bytes remain and no character is cut. */
size_t val_utf8_cut(const char *s, size_t len, size_t max);

/* Wall clock now, microseconds since the epoch, and as our time text. */
int64_t val_now_us(void);
void val_time_from_us(int64_t us, char *out);

#endif
