#ifndef INGEST_BODY_H
#define INGEST_BODY_H
/*
 * A webhook body in one of FreqTrade's three formats, decoded into a
 * flat list of (key, string value) pairs. FreqTrade renders every value
 * of a template as a string, so that is all a body may hold:
 *
 *   json  application/json: one object whose values are all strings
 *         (anything else is a 400 naming the field);
 *   form  application/x-www-form-urlencoded: k=v&k=v, '+' and %XX;
 *   raw   text/plain: the rendered `data` template. It is kept as the
 *         single pair data=<body>; its fields are read from it when it
 *         is a JSON object (as for json), else as key=value pairs
 *         separated by newlines or '&' (no %-decoding).
 *
 * Every key and value is valid UTF-8 without NUL (PostgreSQL text and
 * jsonb refuse both), keys are unique, at most BODY_MAX_FIELDS pairs.
 * Pure code: no I/O, no event loop.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ierr;

#define BODY_MAX_FIELDS 256
#define BODY_MAX_KEY 128

enum body_format {
	BODY_JSON,
	BODY_FORM,
	BODY_RAW,
};

struct kv {
	const char *key; /* NUL-terminated, borrowed from the list */
	const char *val; /* NUL-terminated, borrowed from the list */
	size_t vlen;
};

struct kvlist {
	struct kv *items; /* owned */
	size_t n, nmax;   /* pairs, room for pairs */
	uint64_t seen;    /* a bit per key hash: most lookups of an
			     absent key end here */
	char *arena;      /* owned: every key and value */
	size_t used, cap;
};

void kvlist_init(struct kvlist *l);
void kvlist_release(struct kvlist *l);

/* The value of key (borrowed), or NULL when absent. */
const char *kvlist_get(const struct kvlist *l, const char *key);
/* Remove key if present (order of the others kept). */
void kvlist_remove(struct kvlist *l, const char *key);

/*
 * The media type of a Content-Type header value (parameters such as
 * charset ignored, case-insensitive): 0 with *out set, or -1 when it is
 * none of the three (or NULL).
 */
int body_format_of(const char *content_type, enum body_format *out)
	__attribute__((warn_unused_result));

/*
 * Decode body[0..len) (borrowed) of format f. raw gets the pairs to
 * store as the signal's `raw` object. For the raw format, fields gets
 * the pairs read from its text; for json and form it stays empty (the
 * message's fields are raw's own pairs: see body_fields). Both must be
 * initialised and empty; the caller releases them in every case.
 * Returns 0, or -1 with *e set (400).
 */
int body_decode(enum body_format f, const char *body, size_t len,
		struct kvlist *raw, struct kvlist *fields, struct ierr *e)
	__attribute__((warn_unused_result));

/* The pairs the message is read from: fields for the raw format, raw
 * otherwise (borrowed). */
const struct kvlist *body_fields(enum body_format f, const struct kvlist *raw,
				 const struct kvlist *fields);

/*
 * Decode a query string (k=v&k=v, '+' and %XX) into l (initialised,
 * empty). Returns 0, or -1 with *e set (400).
 */
int body_decode_query(const char *q, size_t len, struct kvlist *l,
		      struct ierr *e) __attribute__((warn_unused_result));

/* Append the pairs as one JSON object, in their order, to out (an
 * lc_buf). Returns 0 or -1 (out's maximum or ENOMEM). */
struct lc_buf;
int kvlist_to_json(const struct kvlist *l, struct lc_buf *out)
	__attribute__((warn_unused_result));

#endif
