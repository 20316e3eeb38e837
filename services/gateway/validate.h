#ifndef GW_VALIDATE_H
#define GW_VALIDATE_H
/*
 * Checking what clients send: JSON bodies and query strings against small
 * field tables, so that a bad request gets a 422 naming the field before
 * anything goes downstream (tests/unit/test_gateway_validate.c). The
 * owning service checks again against proto/ (the authority); these
 * tables mirror the proto schemas' types, ranges, enums and formats.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

enum gw_ftype {
	GW_T_INT,  /* integral number */
	GW_T_NUM,  /* any number */
	GW_T_BOOL, /* true / false */
	GW_T_STR,  /* string */
	GW_T_OBJ,  /* object with the members in sub */
	GW_T_ARR,  /* array of sub[0] */
	GW_T_OPEN, /* any object (extra_config, settings) */
};

enum gw_fflags {
	GW_F_REQ = (1 << 0),  /* must be present */
	GW_F_NULL = (1 << 1), /* null is allowed */
	GW_F_UNIQUE = (1 << 2), /* ARR: no two items equal */
};

struct gw_field {
	const char *name;            /* member name; NULL ends a table */
	enum gw_ftype type;
	unsigned flags;              /* enum gw_fflags */
	double min, max;             /* INT/NUM: value; STR: length in
					bytes; ARR: items; OPEN: members
					(max only); both 0: no bounds */
	const char *const *values;   /* STR: the allowed values, NULL-ended */
	bool (*check)(const char *); /* STR: format check */
	const char *format;          /* STR: what check wants, for messages */
	const struct gw_field *sub;  /* OBJ: members; ARR: sub[0] is the
					item (its name is unused) */
};

/*
 * Check obj (borrowed) against spec: unknown members, required members,
 * types, bounds, allowed values, formats, recursively. Returns true, or
 * false with "field: reason" in err ("thresholds.strong: must be at most
 * 1", "pair_whitelist[2]: must look like BASE/QUOTE").
 */
bool gw_validate(const cJSON *obj, const struct gw_field *spec, char *err,
		 size_t errlen) __attribute__((warn_unused_result));

/*
 * Parse a query string ("a=1&b=x%20y", may be NULL or "") into a new
 * object typed by spec (only INT, NUM, BOOL and STR fields) and validate
 * it. Returns the object (caller deletes it) or NULL with the reason in
 * err: an unknown or repeated parameter, a bad percent-encoding, a value
 * of the wrong type or out of bounds.
 */
cJSON *gw_query_parse(const char *query, const struct gw_field *spec,
		      char *err, size_t errlen);

#define GW_ID_MAX 2147483647LL          /* integer ids (users, strategies) */
#define GW_BIGID_MAX 9007199254740991LL /* bigint ids (signals): 2^53 - 1 */

/* A path id: decimal 1 .. max, exactly n bytes of s. */
bool gw_parse_id(const char *s, size_t n, int64_t max, int64_t *out)
	__attribute__((warn_unused_result));

/* Formats (proto/schemas/common/types.schema.json). */
bool gw_fmt_timestamp(const char *s); /* 2025-06-01T08:30:00.125Z */
bool gw_fmt_pair(const char *s);      /* BTC/USDT, BTC/USDT:USDT */
bool gw_fmt_timeframe(const char *s); /* 5m, 1h, 1d */
bool gw_fmt_name(const char *s);      /* strategy name */
bool gw_fmt_ident(const char *s);     /* Python identifier */
bool gw_fmt_exchange(const char *s);  /* binance */
bool gw_fmt_label(const char *s);     /* version label v1.0 */
bool gw_fmt_backup_id(const char *s); /* 20250601T030000Z[-suffix] */

#endif
