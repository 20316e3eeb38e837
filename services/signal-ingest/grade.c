/* Strength from tags and strategy messages; grading by thresholds. */
#include "services/signal-ingest/grade.h"

#include "services/signal-ingest/sig.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define IND_JSON_MAX (256u << 10) /* all indicators of one signal */

void ind_init(struct ind *in)
{
	lc_buf_init(&in->json, IND_JSON_MAX);
	in->n = 0;
}

void ind_release(struct ind *in)
{
	lc_buf_release(&in->json);
	in->n = 0;
}

static bool ind_has(const struct ind *in, const char *key)
{
	for (unsigned i = 0; i < in->n; i++)
		if (strcmp(in->keys[i], key) == 0)
			return true;
	return false;
}

int ind_add_raw(struct ind *in, const char *key, const char *json)
{
	size_t at = in->json.len;
	if (in->n == IND_MAX || strlen(key) > IND_KEY_MAX || ind_has(in, key))
		return 0; /* kept in raw anyway; the schema caps indicators */
	if ((in->n && lc_buf_append(&in->json, ",", 1) != 0) ||
	    lc_buf_append_json_str(&in->json, key) != 0 ||
	    lc_buf_append(&in->json, ":", 1) != 0 ||
	    lc_buf_append_str(&in->json, json) != 0) {
		in->json.len = at;
		return 0; /* over IND_JSON_MAX: leave it out */
	}
	memcpy(in->keys[in->n++], key, strlen(key) + 1);
	return 0;
}

int ind_add_str(struct ind *in, const char *key, const char *v)
{
	struct lc_buf b;
	int rv;
	lc_buf_init(&b, IND_JSON_MAX);
	if (lc_buf_append_json_str(&b, v) != 0) {
		lc_buf_release(&b);
		return 0;
	}
	rv = ind_add_raw(in, key, b.data);
	lc_buf_release(&b);
	return rv;
}

int ind_object(const struct ind *in, struct lc_buf *out)
{
	lc_buf_reset(out);
	if (lc_buf_append(out, "{", 1) != 0 ||
	    (in->json.len &&
	     lc_buf_append(out, in->json.data, in->json.len) != 0) ||
	    lc_buf_append(out, "}", 1) != 0)
		return -1;
	return 0;
}

static int bad_strength(struct ierr *e, const char *field)
{
	return ierr_set(e, 400, "invalid_field",
			"field '%.64s': strength must be a number from 0 "
			"to 1", field);
}

int grade_strength_text(const char *v, const char *field,
			struct strength *st, struct ierr *e)
{
	struct strength s = { .found = true };
	if (val_number(v, s.text, &s.v) != VAL_OK || s.v < 0 || s.v > 1)
		return bad_strength(e, field);
	if (!st->found)
		*st = s;
	return 0;
}

/* A strength in the strategy's own text that cannot be read: the first
 * one decides the grade (0) unless a readable one came before; either
 * way the value is kept as an indicator (see grade.h for why). */
static int strength_unreadable(const char *v, const char *field,
			       struct ind *in, struct strength *st)
{
	if (!st->found) {
		size_t i;
		*st = (struct strength){ .found = true, .invalid = true,
					 .bad_field = field };
		memcpy(st->text, "0", 2);
		/* quoted in a JSON answer as it is: nothing to escape, and
		 * no UTF-8 sequence cut in two */
		for (i = 0; v[i] && i < STRENGTH_BAD_MAX; i++) {
			char ch = v[i];
			bool shown = ch >= 0x20 && ch < 0x7f && ch != '"' &&
				     ch != '\\';
			st->bad_value[i] = shown ? ch : '?';
		}
		st->bad_value[i] = '\0';
	}
	return ind_add_str(in, "signal_strength_invalid", v);
}

/* A strength in the strategy's own text: readable, or kept aside. */
static int strength_in_text(const char *v, const char *field,
			    struct ind *in, struct strength *st)
{
	struct strength s = { .found = true };
	if (val_number(v, s.text, &s.v) != VAL_OK || s.v < 0 || s.v > 1)
		return strength_unreadable(v, field, in, st);
	if (!st->found)
		*st = s;
	if (st->invalid) /* graded 0, as if none: no strength to show */
		return 0;
	return ind_add_raw(in, "signal_strength", st->text);
}

static bool is_strength_key(const char *k)
{
	return strcmp(k, "strength") == 0 ||
	       strcmp(k, "signal_strength") == 0;
}

/* One key=value token. */
static int tag_token(char *tok, const char *field, struct ind *in,
		     struct strength *st, struct ierr *e)
{
	char *eq = strchr(tok, '='), num[VAL_NUM_MAX];
	if (!eq || eq == tok || eq - tok > IND_KEY_MAX)
		return 0;
	*eq = '\0';
	const char *k = tok, *v = eq + 1;
	(void)e;
	if (is_strength_key(k))
		return strength_in_text(v, field, in, st);
	if (val_number(v, num, NULL) == VAL_OK)
		return ind_add_raw(in, k, num);
	return ind_add_str(in, k, v);
}

int grade_tags(const char *text, const char *field, struct ind *in,
	       struct strength *st, struct ierr *e)
{
	static const char seps[] = " \t\r\n,;|&";
	char tok[IND_KEY_MAX + VAL_NUM_MAX + 64];
	const char *p = text;
	while (p && *p) {
		size_t n;
		p += strspn(p, seps);
		n = strcspn(p, seps);
		if (n > 0 && n < sizeof(tok)) {
			memcpy(tok, p, n);
			tok[n] = '\0';
			if (tag_token(tok, field, in, st, e) != 0)
				return -1;
		}
		p += n;
	}
	return 0;
}

/* A scalar JSON member as an indicator (objects and arrays left out). */
static int ind_add_json(struct ind *in, const char *key, const cJSON *v)
{
	char num[VAL_NUM_MAX];
	if (cJSON_IsNumber(v)) {
		if (!isfinite(v->valuedouble))
			return ind_add_raw(in, key, "null");
		val_shortest(v->valuedouble, num, sizeof(num));
		return ind_add_raw(in, key, num);
	}
	if (cJSON_IsString(v))
		return ind_add_str(in, key, v->valuestring);
	if (cJSON_IsBool(v))
		return ind_add_raw(in, key,
				   cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsNull(v))
		return ind_add_raw(in, key, "null");
	return 0;
}

static int msg_strength(const cJSON *v, struct ind *in,
			struct strength *st)
{
	char text[VAL_NUM_MAX];
	char *json;
	int rv;
	if (cJSON_IsString(v))
		return strength_in_text(v->valuestring, "msg", in, st);
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
		val_shortest(v->valuedouble, text, sizeof(text));
		return strength_in_text(text, "msg", in, st);
	}
	/* true, null, an object...: kept as the JSON text it was */
	json = cJSON_PrintUnformatted(v);
	if (!json)
		return -1;
	rv = strength_unreadable(json, "msg", in, st);
	cJSON_free(json);
	return rv;
}

/* Members that say something about the message rather than being an
 * indicator. */
static int msg_member(const cJSON *m, struct ind *in, struct strength *st,
		      struct msg_fields *mf, struct ierr *e)
{
	static const char *const times[] = { "time", "timestamp", "date",
					     "candle_time", "candle_date" };
	const char *k = m->string;
	if (is_strength_key(k))
		return msg_strength(m, in, st) != 0
			       ? ierr_set(e, 503, "unavailable",
					  "out of memory")
			       : 0;
	if (strcmp(k, "pair") == 0 && cJSON_IsString(m)) {
		mf->pair = m->valuestring;
		return 0;
	}
	if ((strcmp(k, "direction") == 0 || strcmp(k, "side") == 0) &&
	    cJSON_IsString(m)) {
		mf->direction = m->valuestring;
		return 0;
	}
	if ((strcmp(k, "rate") == 0 || strcmp(k, "current_rate") == 0 ||
	     strcmp(k, "price") == 0) && cJSON_IsNumber(m) &&
	    isfinite(m->valuedouble) && m->valuedouble >= 0) {
		if (!mf->rate[0])
			val_shortest(m->valuedouble, mf->rate,
				     sizeof(mf->rate));
		return 0;
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(*times); i++)
		if (strcmp(k, times[i]) == 0)
			mf->has_time = true;
	if (strcmp(k, "indicators") == 0 && cJSON_IsObject(m)) {
		const cJSON *c;
		cJSON_ArrayForEach(c, m)
			if (ind_add_json(in, c->string, c) != 0)
				return -1;
		return 0;
	}
	return ind_add_json(in, k, m);
}

int grade_msg_json(const char *msg, struct ind *in, struct strength *st,
		   struct msg_fields *mf, struct ierr *e)
{
	cJSON *root;
	const cJSON *m;
	memset(mf, 0, sizeof(*mf));
	if (!msg || msg[strspn(msg, " \t\r\n")] != '{')
		return 0;
	root = cJSON_Parse(msg);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return 0;
	}
	mf->root = root;
	cJSON_ArrayForEach(m, root)
		if (m->string && msg_member(m, in, st, mf, e) != 0)
			return -1;
	return 1;
}

void grade_msg_release(struct msg_fields *mf)
{
	cJSON_Delete(mf->root);
	mf->root = NULL;
}

void grade_level(double strength, const struct thresholds *t,
		 const char **level, const char **priority)
{
	if (strength >= t->strong) {
		*level = "strong";
		*priority = "P0";
	} else if (strength >= t->medium) {
		*level = "medium";
		*priority = "P1";
	} else if (strength >= t->weak) {
		*level = "weak";
		*priority = "P2";
	} else {
		*level = "ignore";
		*priority = NULL;
	}
}
