#ifndef FTSIM_FMT_H
#define FTSIM_FMT_H
/*
 * Python values and str.format() for FreqTrade's webhook templates:
 * "{pair}", "{open_rate:.2f}", "{open_date:%Y-%m-%d %H:%M:%S}", "{{", "}}",
 * "!r"/"!s" conversions, every standard format spec
 * ([[fill]align][sign][z][#][0][width][,|_][.precision][type]).
 * Values print as Python prints them: floats repr-like (shortest
 * round-trip), None as "None", aware dates "2025-01-02 03:04:05.123456+00:00".
 * Pure: no I/O, no global state.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcommon/buf.h"

enum pv_type {
	PV_NONE,
	PV_BOOL,  /* i is 0 or 1 */
	PV_INT,   /* i */
	PV_FLOAT, /* d */
	PV_STR,   /* s */
	PV_DATE,  /* i: microseconds since the epoch; aware: tzinfo=UTC */
	PV_RAW,   /* s is both str() and repr() (a list, a tuple) */
};

/* A Python value; strings are borrowed. */
struct pv {
	enum pv_type t;
	bool aware; /* PV_DATE only */
	int64_t i;
	double d;
	const char *s;
};

struct pv_field {
	const char *key; /* borrowed */
	struct pv v;
};

#define PV_NONE_V ((struct pv){ .t = PV_NONE })
#define PV_I(x) ((struct pv){ .t = PV_INT, .i = (x) })
#define PV_B(x) ((struct pv){ .t = PV_BOOL, .i = !!(x) })
#define PV_F(x) ((struct pv){ .t = PV_FLOAT, .d = (x) })
#define PV_S(x) ((struct pv){ .t = PV_STR, .s = (x) })
#define PV_SN(x) ((x) ? PV_S(x) : PV_NONE_V) /* str or None */
#define PV_D(us, utc) ((struct pv){ .t = PV_DATE, .i = (us), .aware = (utc) })
#define PV_RAWS(x) ((struct pv){ .t = PV_RAW, .s = (x) })

enum fmt_rc {
	FMT_OK = 0,
	FMT_KEYERROR = 1, /* unknown placeholder; err holds "'name'" */
	FMT_ERROR = 2,    /* any other exception; err holds "Type: text" */
	FMT_NOMEM = 3,    /* the output buffer reached its maximum */
};

/*
 * Render tmpl as tmpl.format(**fields) into out (appended). Returns an
 * fmt_rc; on an error err (errlen bytes) says why, as Python would.
 */
int fmt_render(struct lc_buf *out, const char *tmpl,
               const struct pv_field *fields, size_t n, char *err,
               size_t errlen);

/* format(v, spec) (spec of speclen bytes) appended to out. */
int fmt_format(struct lc_buf *out, const struct pv *v, const char *spec,
               size_t speclen, char *err, size_t errlen);

/* str(v) and repr(v) appended to out; 0 or -1 (out full). */
int fmt_str(struct lc_buf *out, const struct pv *v)
        __attribute__((warn_unused_result));
int fmt_repr(struct lc_buf *out, const struct pv *v)
        __attribute__((warn_unused_result));

/* repr(float) into out (FMT_FLOAT_LEN bytes): "0.1", "1e-05",
 * "1e+16", "100.0", "nan", "-inf". Returns out. */
#define FMT_FLOAT_LEN 48
char *fmt_float_repr(char *out, double d);

/* round(d, ndigits) as Python rounds (on the exact binary value). */
double fmt_round(double d, int ndigits);

/* str(datetime): "2025-01-02 03:04:05.123456+00:00" (".123456" only when
 * the microseconds are not 0, "+00:00" only when aware). out must hold
 * 40 bytes. Returns out. */
char *fmt_date_str(char *out, int64_t us, bool aware);

#endif
