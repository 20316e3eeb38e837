/* Field tables for JSON bodies and query strings. */
#include "services/gateway/validate.h"

#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INT 9007199254740991.0 /* 2^53 - 1 */
#define PATH_MAX_LEN 128

/* ---- formats ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_alpha(char c)
{
	return is_lower(c) || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

/* Every byte of s[0..n) is alphanumeric or in extra. */
static bool span_ok(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

static int two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

bool gw_fmt_timestamp(const char *s)
{
	static const char tpl[] = "0000-00-00T00:00:00";
	size_t i = 0;

	for (; tpl[i]; i++)
		if (tpl[i] == '0' ? !is_digit(s[i]) : s[i] != tpl[i])
			return false;
	int mon = two_digits(s + 5), day = two_digits(s + 8);
	if (mon < 1 || mon > 12 || day < 1 || day > 31 ||
	    two_digits(s + 11) > 23 || two_digits(s + 14) > 59 ||
	    two_digits(s + 17) > 60)
		return false;
	if (s[i] == '.') {
		size_t d = 0;
		while (is_digit(s[i + 1 + d]))
			d++;
		if (d < 1 || d > 9)
			return false;
		i += 1 + d;
	}
	return s[i] == 'Z' && s[i + 1] == '\0';
}

bool gw_fmt_pair(const char *s)
{
	size_t n = strlen(s), a = strcspn(s, "/");

	if (n < 3 || n > 64 || a == 0 || s[a] != '/')
		return false;
	const char *q = s + a + 1;
	size_t b = strcspn(q, ":");
	if (b == 0)
		return false;
	if (!span_ok(s, a, "._-") || !span_ok(q, b, "._-"))
		return false;
	if (q[b] == '\0')
		return true;
	q += b + 1;
	return *q != '\0' && span_ok(q, strlen(q), "._-");
}

bool gw_fmt_timeframe(const char *s)
{
	size_t d = 0;

	while (is_digit(s[d]))
		d++;
	return d >= 1 && d <= 3 && s[0] != '0' && s[d] != '\0' &&
	       strchr("smhdwM", s[d]) && s[d + 1] == '\0';
}

bool gw_fmt_name(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 64 && is_alnum(s[0]) && span_ok(s, n, " _.-");
}

bool gw_fmt_ident(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 100 && !is_digit(s[0]) && span_ok(s, n, "_");
}

bool gw_fmt_exchange(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > 32 || !is_lower(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '_')
			return false;
	return true;
}

bool gw_fmt_label(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 32 && is_alnum(s[0]) && span_ok(s, n, "._+-");
}

bool gw_fmt_backup_id(const char *s)
{
	static const char tpl[] = "00000000T000000Z";
	size_t i = 0;

	for (; tpl[i]; i++)
		if (tpl[i] == '0' ? !is_digit(s[i]) : s[i] != tpl[i])
			return false;
	if (s[i] == '\0')
		return true;
	size_t n = strlen(s + i + 1);
	if (s[i] != '-' || n < 1 || n > 16)
		return false;
	for (size_t k = 0; k < n; k++) {
		char c = s[i + 1 + k];
		if (!is_lower(c) && !is_digit(c) && c != '_')
			return false;
	}
	return true;
}

bool gw_parse_id(const char *s, size_t n, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || n > 16 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* ---- validation ---- */

static bool has_bounds(const struct gw_field *f)
{
	return f->min != 0 || f->max != 0;
}

static bool bad_field(char *err, size_t errlen, const char *path,
		 const char *what)
{
	snprintf(err, errlen, "%s: %s", path, what);
	return false;
}

static bool check_range(double v, const struct gw_field *f,
			const char *path, char *err, size_t errlen)
{
	char m[96];

	if (!has_bounds(f) || (v >= f->min && v <= f->max))
		return true;
	if (f->max >= MAX_SAFE_INT)
		snprintf(m, sizeof(m), "must be at least %.15g", f->min);
	else
		snprintf(m, sizeof(m), "must be between %.15g and %.15g",
			 f->min, f->max);
	return bad_field(err, errlen, path, m);
}

static bool check_string(const char *s, const struct gw_field *f,
			 const char *path, char *err, size_t errlen)
{
	char m[256];
	size_t n = strlen(s), used = 0;

	if (has_bounds(f) && (n < f->min || n > f->max)) {
		snprintf(m, sizeof(m), "must be %.15g to %.15g characters "
			 "long", f->min, f->max);
		return bad_field(err, errlen, path, m);
	}
	if (f->check && !f->check(s)) {
		snprintf(m, sizeof(m), "must look like %s",
			 f->format ? f->format : "the documented format");
		return bad_field(err, errlen, path, m);
	}
	if (!f->values)
		return true;
	for (size_t i = 0; f->values[i]; i++)
		if (strcmp(f->values[i], s) == 0)
			return true;
	used = (size_t)snprintf(m, sizeof(m), "must be one of");
	for (size_t i = 0; f->values[i] && used < sizeof(m); i++)
		used += (size_t)snprintf(m + used, sizeof(m) - used, "%s %s",
					 i ? "," : "", f->values[i]);
	return bad_field(err, errlen, path, m);
}

static bool check_value(const cJSON *v, const struct gw_field *f,
			const char *path, char *err, size_t errlen);

static bool check_array(const cJSON *v, const struct gw_field *f,
			const char *path, char *err, size_t errlen)
{
	char sub[PATH_MAX_LEN + 16], m[96];
	int n = cJSON_GetArraySize(v), i = 0;
	const cJSON *item;

	if (has_bounds(f) && (n < f->min || n > f->max)) {
		snprintf(m, sizeof(m), "must have %.15g to %.15g items",
			 f->min, f->max);
		return bad_field(err, errlen, path, m);
	}
	cJSON_ArrayForEach(item, v) {
		snprintf(sub, sizeof(sub), "%s[%d]", path, i++);
		if (!check_value(item, &f->sub[0], sub, err, errlen))
			return false;
		for (const cJSON *o = v->child;
		     (f->flags & GW_F_UNIQUE) && o != item; o = o->next)
			if (cJSON_Compare(o, item, true))
				return bad_field(err, errlen, sub,
					    "is a duplicate");
	}
	return true;
}

static bool check_members(const cJSON *obj, const struct gw_field *spec,
			  const char *prefix, char *err, size_t errlen);

static bool check_value(const cJSON *v, const struct gw_field *f,
			const char *path, char *err, size_t errlen)
{
	if (cJSON_IsNull(v))
		return (f->flags & GW_F_NULL) ||
		       bad_field(err, errlen, path, "must not be null");
	switch (f->type) {
	case GW_T_INT:
		if (!cJSON_IsNumber(v) ||
		    v->valuedouble != floor(v->valuedouble) ||
		    fabs(v->valuedouble) > MAX_SAFE_INT)
			return bad_field(err, errlen, path,
					 "must be an integer");
		return check_range(v->valuedouble, f, path, err, errlen);
	case GW_T_NUM:
		if (!cJSON_IsNumber(v))
			return bad_field(err, errlen, path,
					 "must be a number");
		return check_range(v->valuedouble, f, path, err, errlen);
	case GW_T_BOOL:
		return cJSON_IsBool(v) ||
		       bad_field(err, errlen, path, "must be true or false");
	case GW_T_STR:
		if (!cJSON_IsString(v))
			return bad_field(err, errlen, path,
					 "must be a string");
		return check_string(v->valuestring, f, path, err, errlen);
	case GW_T_ARR:
		if (!cJSON_IsArray(v))
			return bad_field(err, errlen, path,
					 "must be an array");
		return check_array(v, f, path, err, errlen);
	case GW_T_OBJ:
		if (!cJSON_IsObject(v))
			return bad_field(err, errlen, path,
					 "must be an object");
		return check_members(v, f->sub, path, err, errlen);
	case GW_T_OPEN:
		if (!cJSON_IsObject(v))
			return bad_field(err, errlen, path,
					 "must be an object");
		if (f->max > 0 && cJSON_GetArraySize(v) > f->max)
			return bad_field(err, errlen, path,
					 "has too many members");
		return true;
	}
	return bad_field(err, errlen, path, "has an unknown type");
}

static const struct gw_field *find_field(const struct gw_field *spec,
					 const char *name)
{
	for (; spec && spec->name; spec++)
		if (strcmp(spec->name, name) == 0)
			return spec;
	return NULL;
}

static void join(char *out, size_t n, const char *prefix, const char *name)
{
	if (prefix && *prefix)
		snprintf(out, n, "%s.%s", prefix, name);
	else
		snprintf(out, n, "%s", name);
}

static bool check_members(const cJSON *obj, const struct gw_field *spec,
			  const char *prefix, char *err, size_t errlen)
{
	char path[PATH_MAX_LEN];
	const cJSON *m;

	cJSON_ArrayForEach(m, obj) {
		const struct gw_field *f = find_field(spec, m->string);
		join(path, sizeof(path), prefix, m->string);
		if (!f)
			return bad_field(err, errlen, path,
					 "is not a known field");
		if (!check_value(m, f, path, err, errlen))
			return false;
	}
	for (; spec && spec->name; spec++) {
		join(path, sizeof(path), prefix, spec->name);
		if ((spec->flags & GW_F_REQ) &&
		    !cJSON_GetObjectItemCaseSensitive(obj, spec->name))
			return bad_field(err, errlen, path, "is required");
	}
	return true;
}

bool gw_validate(const cJSON *obj, const struct gw_field *spec, char *err,
		 size_t errlen)
{
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "body: must be a JSON object");
		return false;
	}
	return check_members(obj, spec, "", err, errlen);
}

/* ---- query strings ---- */

static bool parse_int(const char *s, double *out)
{
	size_t i = s[0] == '-';
	size_t d = 0;

	while (is_digit(s[i + d]))
		d++;
	if (d == 0 || d > 16 || s[i + d] != '\0')
		return false;
	*out = strtod(s, NULL);
	return true;
}

static cJSON *query_value(const char *v, const struct gw_field *f)
{
	double d;
	char *end = NULL;

	switch (f->type) {
	case GW_T_INT:
		return parse_int(v, &d) ? cJSON_CreateNumber(d) : NULL;
	case GW_T_NUM:
		d = strtod(v, &end);
		if (!*v || *end != '\0' || !isfinite(d))
			return NULL;
		return cJSON_CreateNumber(d);
	case GW_T_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			return cJSON_CreateTrue();
		if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
			return cJSON_CreateFalse();
		return NULL;
	case GW_T_STR:
		return cJSON_CreateString(v);
	default:
		return NULL;
	}
}

static const char *type_word(enum gw_ftype t)
{
	switch (t) {
	case GW_T_INT:
		return "must be an integer";
	case GW_T_NUM:
		return "must be a number";
	case GW_T_BOOL:
		return "must be true or false";
	default:
		return "is not accepted in a query string";
	}
}

/* Decode one "k=v" piece into obj; false with err set. */
static bool query_piece(cJSON *obj, const char *p, size_t n,
			const struct gw_field *spec, char *err, size_t errlen)
{
	const char *eq = memchr(p, '=', n);
	size_t kl = eq ? (size_t)(eq - p) : n, ksz = 0, vsz = 0;
	char *kraw = strndup(p, kl);
	char *vraw = strndup(eq ? eq + 1 : "", eq ? n - kl - 1 : 0);
	char *k = kraw ? evhttp_uridecode(kraw, 1, &ksz) : NULL;
	char *v = vraw ? evhttp_uridecode(vraw, 1, &vsz) : NULL;
	const struct gw_field *f = NULL;
	cJSON *val = NULL;
	bool ok = false;

	if (!k || !v || strlen(k) != ksz || strlen(v) != vsz) {
		snprintf(err, errlen, "query string: bad encoding");
		goto done;
	}
	f = find_field(spec, k);
	if (!f) {
		snprintf(err, errlen, "%.64s: is not a known parameter", k);
		goto done;
	}
	if (cJSON_GetObjectItemCaseSensitive(obj, k)) {
		snprintf(err, errlen, "%s: is given more than once", k);
		goto done;
	}
	val = query_value(v, f);
	if (!val) {
		snprintf(err, errlen, "%s: %s", k, type_word(f->type));
		goto done;
	}
	cJSON_AddItemToObject(obj, f->name, val);
	ok = true;
done:
	free(k);
	free(v);
	free(kraw);
	free(vraw);
	return ok;
}

cJSON *gw_query_parse(const char *query, const struct gw_field *spec,
		      char *err, size_t errlen)
{
	cJSON *obj = cJSON_CreateObject();
	const char *p = query ? query : "";

	while (obj && *p) {
		size_t n = strcspn(p, "&");
		if (n > 0 && !query_piece(obj, p, n, spec, err, errlen)) {
			cJSON_Delete(obj);
			return NULL;
		}
		p += n + (p[n] == '&');
	}
	if (!obj) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!gw_validate(obj, spec, err, errlen)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}
