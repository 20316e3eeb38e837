/* Webhook bodies (json, form, raw) to (key, string) pairs. */
#include "services/signal-ingest/body.h"

#include "libcommon/buf.h"
#include "services/signal-ingest/sig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kvlist_init(struct kvlist *l)
{
	memset(l, 0, sizeof(*l));
}

void kvlist_release(struct kvlist *l)
{
	free(l->items);
	free(l->arena);
	kvlist_init(l);
}

/* One of 64 bits for a key: its length and first and last bytes. */
static uint64_t key_bit(const char *key)
{
	size_t n = strlen(key);
	unsigned h = (unsigned)n * 31u + (unsigned char)key[0] * 7u +
		     (n ? (unsigned char)key[n - 1] : 0u);
	return (uint64_t)1 << (h & 63);
}

const char *kvlist_get(const struct kvlist *l, const char *key)
{
	if (!(l->seen & key_bit(key)))
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].key, key) == 0)
			return l->items[i].val;
	return NULL;
}

void kvlist_remove(struct kvlist *l, const char *key)
{
	if (!(l->seen & key_bit(key)))
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].key, key) != 0)
			continue;
		memmove(&l->items[i], &l->items[i + 1],
			(l->n - i - 1) * sizeof(*l->items));
		l->n--;
		return;
	}
}

/* Room for everything decoded from an input of len bytes: decoding
 * never grows text, and each key and value adds one NUL. Reserved once,
 * so the pointers handed out stay valid. */
static int reserve(struct kvlist *l, size_t len, struct ierr *e)
{
	l->cap = 2 * len + 16;
	l->arena = malloc(l->cap);
	l->nmax = 32;
	l->items = malloc(l->nmax * sizeof(*l->items));
	if (!l->arena || !l->items)
		return ierr_set(e, 503, "unavailable", "out of memory");
	return 0;
}

static char *arena_at(struct kvlist *l)
{
	return l->arena + l->used;
}

/* The key and value just written at k (NUL-terminated, in the arena)
 * become a pair; duplicate keys and too many pairs are refused. */
static int add_pair(struct kvlist *l, const char *k, const char *v,
		    size_t vlen, struct ierr *e)
{
	if (strlen(k) > BODY_MAX_KEY)
		return ierr_set(e, 400, "invalid_body",
				"a field name is longer than %d bytes",
				BODY_MAX_KEY);
	uint64_t bit = key_bit(k);
	if ((l->seen & bit) && kvlist_get(l, k))
		return ierr_set(e, 400, "invalid_body",
				"field '%.64s' appears twice", k);
	if (l->n == BODY_MAX_FIELDS)
		return ierr_set(e, 400, "invalid_body",
				"more than %d fields", BODY_MAX_FIELDS);
	if (l->n == l->nmax) {
		struct kv *items = realloc(l->items,
					   2 * l->nmax * sizeof(*items));
		if (!items)
			return ierr_set(e, 503, "unavailable",
					"out of memory");
		l->items = items;
		l->nmax *= 2;
	}
	l->items[l->n++] = (struct kv){ k, v, vlen };
	l->seen |= bit;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (before end), 0 if invalid
 * (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n;
	uint32_t cp;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* Is s[0..len) valid UTF-8 without NUL? */
static bool text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		size_t n = *p ? utf8_len(p, end) : 0;
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

static char *put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- json ---- */

struct jp {
	const char *p, *end, *start;
	struct kvlist *l;
	struct ierr *e;
};

static int jbad(struct jp *j, const char *what)
{
	return ierr_set(j->e, 400, "invalid_json",
			"body is not valid JSON: %s at byte %zu", what,
			(size_t)(j->p - j->start));
}

static void jws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int j4hex(struct jp *j, uint32_t *out)
{
	uint32_t v = 0;
	if (j->end - j->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)j->p[i]);
		if (h < 0)
			return -1;
		v = (v << 4) | (uint32_t)h;
	}
	j->p += 4;
	*out = v;
	return 0;
}

/* \uXXXX (after the 'u'), with surrogate pairs, written at *o. */
static int junicode(struct jp *j, char **o)
{
	uint32_t cp, lo;
	if (j4hex(j, &cp) != 0)
		return jbad(j, "bad \\u escape");
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return jbad(j, "lone surrogate");
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return jbad(j, "lone surrogate");
		j->p += 2;
		if (j4hex(j, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
			return jbad(j, "lone surrogate");
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (cp == 0)
		return ierr_set(j->e, 400, "invalid_body",
				"a string holds a NUL character (\\u0000)");
	*o = put_utf8(*o, cp);
	return 0;
}

static int jescape(struct jp *j, char **o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char c = *j->p++;
	const char *f = c ? strchr(from, c) : NULL;
	if (c == 'u')
		return junicode(j, o);
	if (!f)
		return jbad(j, "bad escape");
	*(*o)++ = to[f - from];
	return 0;
}

/* A string (the opening quote already consumed) into the arena. */
static int jstring(struct jp *j, const char **out, size_t *len)
{
	char *o = arena_at(j->l), *start = o;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			*o++ = '\0';
			*out = start;
			*len = (size_t)(o - start - 1);
			j->l->used += (size_t)(o - start);
			return 0;
		}
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return jbad(j, "unterminated string");
			if (jescape(j, &o) != 0)
				return -1;
			continue;
		}
		if (c < 0x20)
			return jbad(j, "control character in a string");
		size_t n = utf8_len((const unsigned char *)j->p,
				    (const unsigned char *)j->end);
		if (n == 0)
			return ierr_set(j->e, 400, "invalid_body",
					"body is not valid UTF-8");
		memcpy(o, j->p, n);
		o += n;
		j->p += n;
	}
	return jbad(j, "unterminated string");
}

static int jmember(struct jp *j)
{
	const char *k, *v;
	size_t klen, vlen;
	if (j->p >= j->end || *j->p != '"')
		return jbad(j, "expected a field name");
	j->p++;
	if (jstring(j, &k, &klen) != 0)
		return -1;
	jws(j);
	if (j->p >= j->end || *j->p != ':')
		return jbad(j, "expected ':'");
	j->p++;
	jws(j);
	if (j->p >= j->end)
		return jbad(j, "unexpected end");
	if (*j->p != '"')
		return ierr_set(j->e, 400, "invalid_field",
				"field '%.64s' must be a string, as "
				"FreqTrade sends every value", k);
	j->p++;
	if (jstring(j, &v, &vlen) != 0)
		return -1;
	return add_pair(j->l, k, v, vlen, j->e);
}

/* A JSON object of string values: json bodies, and raw ones that hold
 * a JSON object. */
static int decode_json(const char *s, size_t len, struct kvlist *l,
		       struct ierr *e)
{
	struct jp j = { s, s + len, s, l, e };
	jws(&j);
	if (j.p >= j.end || *j.p != '{')
		return ierr_set(e, 400, "invalid_json",
				"body must be a JSON object");
	j.p++;
	jws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
	} else {
		for (;;) {
			if (jmember(&j) != 0)
				return -1;
			jws(&j);
			if (j.p < j.end && *j.p == ',') {
				j.p++;
				jws(&j);
				continue;
			}
			if (j.p < j.end && *j.p == '}') {
				j.p++;
				break;
			}
			return jbad(&j, "expected ',' or '}'");
		}
	}
	jws(&j);
	if (j.p != j.end)
		return jbad(&j, "text after the object");
	return 0;
}

/* ---- form and query strings ---- */

/* Decode s[0..len) ('+' and %XX when pct) into the arena. */
static int form_part(struct kvlist *l, const char *s, size_t len, bool pct,
		     const char **out, size_t *olen, struct ierr *e)
{
	char *o = arena_at(l), *start = o;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (!pct || (s[i] != '%' && s[i] != '+')) {
			*o++ = s[i];
		} else if (s[i] == '+') {
			*o++ = ' ';
		} else if (i + 2 < len &&
			   (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
			   (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			return ierr_set(e, 400, "invalid_body",
					"bad %%-escape in form data");
		}
	}
	*olen = (size_t)(o - start);
	if (!text_ok(start, *olen))
		return ierr_set(e, 400, "invalid_body",
				"form data is not valid UTF-8 or holds NUL");
	*o++ = '\0';
	l->used += (size_t)(o - start);
	*out = start;
	return 0;
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t' || **s == '\r')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' ||
			(*s)[*len - 1] == '\r'))
		(*len)--;
}

/* k=v pieces separated by any of seps. pct: form decoding; else raw
 * text, trimmed, pieces without '=' ignored. */
static int decode_pairs(const char *s, size_t len, const char *seps,
			bool pct, struct kvlist *l, struct ierr *e)
{
	const char *end = s + len;
	while (s < end) {
		const char *p = s, *eq = NULL;
		while (p < end && !strchr(seps, *p)) {
			if (*p == '=' && !eq)
				eq = p;
			p++;
		}
		const char *k = s, *v = eq ? eq + 1 : p, *ko, *vo;
		size_t klen = (size_t)((eq ? eq : p) - s);
		size_t vlen = (size_t)(p - v), kol, vol;
		s = p < end ? p + 1 : p;
		if (!pct) {
			trim(&k, &klen);
			trim(&v, &vlen);
		}
		if (klen == 0 || (!pct && !eq))
			continue;
		if (form_part(l, k, klen, pct, &ko, &kol, e) != 0 ||
		    form_part(l, v, vlen, pct, &vo, &vol, e) != 0 ||
		    add_pair(l, ko, vo, vol, e) != 0)
			return -1;
	}
	return 0;
}

int body_decode_query(const char *q, size_t len, struct kvlist *l,
		      struct ierr *e)
{
	if (reserve(l, len, e) != 0)
		return -1;
	return decode_pairs(q, len, "&", true, l, e);
}

/* ---- raw ---- */

static int decode_raw(const char *s, size_t len, struct kvlist *raw,
		      struct kvlist *fields, struct ierr *e)
{
	const char *p = s;
	size_t n = len;
	char *o;
	if (!text_ok(s, len))
		return ierr_set(e, 400, "invalid_body",
				"body is not valid UTF-8 or holds NUL");
	if (reserve(raw, len, e) != 0 || reserve(fields, len, e) != 0)
		return -1;
	o = arena_at(raw);
	memcpy(o, "data", 5);
	memcpy(o + 5, s, len);
	o[5 + len] = '\0';
	raw->used = len + 6;
	if (add_pair(raw, o, o + 5, len, e) != 0)
		return -1;
	trim(&p, &n);
	while (n && *p == '\n') {
		p++;
		n--;
		trim(&p, &n);
	}
	if (n && *p == '{')
		return decode_json(p, n, fields, e);
	return decode_pairs(s, len, "\n&", false, fields, e);
}

/* ---- entry points ---- */

int body_format_of(const char *ct, enum body_format *out)
{
	static const struct {
		const char *type;
		enum body_format f;
	} types[] = {
		{ "application/json", BODY_JSON },
		{ "application/x-www-form-urlencoded", BODY_FORM },
		{ "text/plain", BODY_RAW },
	};
	size_t n;
	if (!ct)
		return -1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		if (strlen(types[i].type) == n &&
		    strncasecmp(ct, types[i].type, n) == 0) {
			*out = types[i].f;
			return 0;
		}
	}
	return -1;
}

const struct kvlist *body_fields(enum body_format f, const struct kvlist *raw,
				 const struct kvlist *fields)
{
	return f == BODY_RAW ? fields : raw;
}

int body_decode(enum body_format f, const char *body, size_t len,
		struct kvlist *raw, struct kvlist *fields, struct ierr *e)
{
	switch (f) {
	case BODY_RAW:
		return decode_raw(body, len, raw, fields, e);
	case BODY_FORM:
		if (reserve(raw, len, e) != 0)
			return -1;
		return decode_pairs(body, len, "&", true, raw, e);
	case BODY_JSON:
	default:
		if (reserve(raw, len, e) != 0)
			return -1;
		return decode_json(body, len, raw, e);
	}
}

int kvlist_to_json(const struct kvlist *l, struct lc_buf *out)
{
	if (lc_buf_append(out, "{", 1) != 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if ((i && lc_buf_append(out, ",", 1) != 0) ||
		    lc_buf_append_json_str(out, l->items[i].key) != 0 ||
		    lc_buf_append(out, ":", 1) != 0 ||
		    lc_buf_append_json_str(out, l->items[i].val) != 0)
			return -1;
	}
	return lc_buf_append(out, "}", 1);
}
