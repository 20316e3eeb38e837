/* The bus's JSON envelope: parse and format requests, replies, events. */
#include "libcommon/envelope.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "libcommon/clock.h"

#define ID_INT_MAX 9007199254740991.0 /* 2^53 - 1 */

static void set_err(struct lc_env_error *err, const char *code,
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(struct lc_env_error *err, const char *code,
		    const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static bool is_space_or_nul(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/*
 * Parse buf[0..len) as exactly one JSON value followed by nothing but
 * whitespace or NULs. Returns the root (caller deletes) or NULL with *err
 * filled (bad_request; internal is indistinguishable in cJSON, whose
 * only failure besides bad input is ENOMEM).
 */
static cJSON *parse_json(const char *buf, size_t len, const char *what,
			 struct lc_env_error *err)
{
	const char *end = NULL;
	cJSON *root;

	while (len > 0 && is_space_or_nul(buf[len - 1]))
		len--;
	if (len == 0) {
		set_err(err, LC_ENV_E_BAD_REQUEST, "empty %s", what);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"%s is not valid JSON (error at byte %td)", what,
			end ? end - buf : (ptrdiff_t)0);
		return NULL;
	}
	if (end != buf + len) {
		cJSON_Delete(root);
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"%s has data after the JSON value (byte %td)", what,
			end - buf);
		return NULL;
	}
	return root;
}

/* Check "v": 0 if it is the number 1, else -1 with *err filled. */
static int check_version(const cJSON *root, const char *what,
			 struct lc_env_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");

	if (!cJSON_IsNumber(v)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"%s has no numeric 'v'", what);
		return -1;
	}
	if (v->valuedouble != LC_ENV_VERSION) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"unsupported %s version %g (expected %d)", what,
			v->valuedouble, LC_ENV_VERSION);
		return -1;
	}
	return 0;
}

bool lc_env_id_valid(const cJSON *id)
{
	if (cJSON_IsString(id))
		return id->valuestring != NULL;
	if (!cJSON_IsNumber(id))
		return false;
	double d = id->valuedouble;
	return isfinite(d) && fabs(d) <= ID_INT_MAX && d == floor(d);
}

bool lc_env_topic_valid(const char *topic)
{
	size_t n;

	if (!topic)
		return false;
	for (n = 0; topic[n]; n++) {
		unsigned char c = (unsigned char)topic[n];
		if (c <= 0x20 || c >= 0x7f || n >= LC_ENV_TOPIC_MAX)
			return false;
	}
	return n > 0;
}

int lc_env_parse_request(const void *buf, size_t len,
			 struct lc_env_request *out, struct lc_env_error *err)
{
	const cJSON *id, *method;
	cJSON *params;

	memset(out, 0, sizeof(*out));
	out->root = parse_json(buf, len, "request", err);
	if (!out->root)
		return -1;
	if (!cJSON_IsObject(out->root)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"request is not a JSON object");
		return -1;
	}
	/* Read the id first so every later error can echo it. */
	id = cJSON_GetObjectItemCaseSensitive(out->root, "id");
	if (!lc_env_id_valid(id)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"request 'id' must be a string or an integer");
		return -1;
	}
	out->id = id;
	if (check_version(out->root, "request", err) != 0)
		return -1;
	method = cJSON_GetObjectItemCaseSensitive(out->root, "method");
	if (!cJSON_IsString(method) || !method->valuestring ||
	    !method->valuestring[0]) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"request 'method' must be a non-empty string");
		return -1;
	}
	out->method = method->valuestring;
	params = cJSON_GetObjectItemCaseSensitive(out->root, "params");
	if (!params || cJSON_IsNull(params)) {
		cJSON_DeleteItemFromObjectCaseSensitive(out->root, "params");
		params = cJSON_AddObjectToObject(out->root, "params");
		if (!params) {
			set_err(err, LC_ENV_E_INTERNAL, "out of memory");
			return -1;
		}
	} else if (!cJSON_IsObject(params)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"request 'params' must be an object");
		return -1;
	}
	out->params = params;
	return 0;
}

void lc_env_request_release(struct lc_env_request *r)
{
	cJSON_Delete(r->root);
	memset(r, 0, sizeof(*r));
}

/* Fill the ok/error part of a reply; 0 or -1 with *err filled. */
static int parse_reply_body(struct lc_env_reply *out, struct lc_env_error *err)
{
	const cJSON *ok, *error, *code, *msg;

	ok = cJSON_GetObjectItemCaseSensitive(out->root, "ok");
	if (!cJSON_IsBool(ok)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"reply 'ok' must be true or false");
		return -1;
	}
	out->ok = cJSON_IsTrue(ok);
	if (out->ok) {
		out->result =
			cJSON_GetObjectItemCaseSensitive(out->root, "result");
		if (!out->result)
			out->result = cJSON_AddNullToObject(out->root,
							    "result");
		if (!out->result) {
			set_err(err, LC_ENV_E_INTERNAL, "out of memory");
			return -1;
		}
		return 0;
	}
	error = cJSON_GetObjectItemCaseSensitive(out->root, "error");
	code = cJSON_GetObjectItemCaseSensitive(error, "code");
	msg = cJSON_GetObjectItemCaseSensitive(error, "message");
	if (!cJSON_IsObject(error) || !cJSON_IsString(code) ||
	    !code->valuestring || !code->valuestring[0]) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"reply 'error' must be an object with a 'code'");
		return -1;
	}
	if (msg && !(cJSON_IsString(msg) && msg->valuestring)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"reply error 'message' must be a string");
		return -1;
	}
	out->code = code->valuestring;
	out->message = msg ? msg->valuestring : "";
	out->details = cJSON_GetObjectItemCaseSensitive(error, "details");
	if (out->details && !cJSON_IsObject(out->details))
		out->details = NULL;
	return 0;
}

int lc_env_parse_reply(const void *buf, size_t len, struct lc_env_reply *out,
		       struct lc_env_error *err)
{
	memset(out, 0, sizeof(*out));
	out->root = parse_json(buf, len, "reply", err);
	if (!out->root)
		return -1;
	if (!cJSON_IsObject(out->root)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"reply is not a JSON object");
		goto fail;
	}
	if (check_version(out->root, "reply", err) != 0)
		goto fail;
	out->id = cJSON_GetObjectItemCaseSensitive(out->root, "id");
	if (parse_reply_body(out, err) != 0)
		goto fail;
	return 0;
fail:
	lc_env_reply_release(out);
	return -1;
}

void lc_env_reply_release(struct lc_env_reply *r)
{
	cJSON_Delete(r->root);
	memset(r, 0, sizeof(*r));
}

/* A string member of obj, or NULL if absent or not a string. */
static const char *get_str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Validate the envelope of an event whose prefix topic is topic[0..tlen). */
static int check_event(struct lc_env_event *out, const char *topic,
		       size_t tlen, struct lc_env_error *err)
{
	if (!cJSON_IsObject(out->root)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"event is not a JSON object");
		return -1;
	}
	if (check_version(out->root, "event", err) != 0)
		return -1;
	out->topic = get_str(out->root, "topic");
	if (!out->topic || strlen(out->topic) != tlen ||
	    memcmp(out->topic, topic, tlen) != 0) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"event 'topic' does not match its prefix '%.*s'",
			(int)tlen, topic);
		return -1;
	}
	out->id = get_str(out->root, "id");
	out->ts = get_str(out->root, "ts");
	out->data = cJSON_GetObjectItemCaseSensitive(out->root, "data");
	if (!out->id || !out->id[0] || !out->ts ||
	    !cJSON_IsObject(out->data)) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"event needs string 'id' and 'ts' and object 'data'");
		return -1;
	}
	return 0;
}

int lc_env_parse_event(const void *buf, size_t len, struct lc_env_event *out,
		       struct lc_env_error *err)
{
	const char *p = buf;
	const char *sp;
	size_t tlen, i;

	memset(out, 0, sizeof(*out));
	sp = memchr(p, ' ', len < LC_ENV_TOPIC_MAX + 1 ? len
						       : LC_ENV_TOPIC_MAX + 1);
	if (!sp || sp == p) {
		set_err(err, LC_ENV_E_BAD_REQUEST,
			"event does not start with '<topic> '");
		return -1;
	}
	tlen = (size_t)(sp - p);
	for (i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7f) {
			set_err(err, LC_ENV_E_BAD_REQUEST,
				"event topic has a non-printable byte");
			return -1;
		}
	}
	out->root = parse_json(sp + 1, len - tlen - 1, "event", err);
	if (!out->root)
		return -1;
	if (check_event(out, p, tlen, err) != 0) {
		lc_env_event_release(out);
		return -1;
	}
	return 0;
}

void lc_env_event_release(struct lc_env_event *e)
{
	cJSON_Delete(e->root);
	memset(e, 0, sizeof(*e));
}

/*
 * Add item (borrowed; NULL means JSON null) to obj under key as a
 * reference: printing sees it, deleting obj leaves it alone. cJSON's
 * reference API takes a non-const pointer but never writes through it.
 */
static bool add_ref(cJSON *obj, const char *key, const cJSON *item)
{
	if (!item)
		return cJSON_AddNullToObject(obj, key) != NULL;
	return cJSON_AddItemReferenceToObject(obj, key, (cJSON *)item);
}

/* Print obj unformatted and delete it; NULL on ENOMEM. */
static char *print_and_delete(cJSON *obj, size_t *len)
{
	char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (s && len)
		*len = strlen(s);
	return s;
}

/* A new {"v":1} object, or NULL on ENOMEM. */
static cJSON *new_envelope(void)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj && !cJSON_AddNumberToObject(obj, "v", LC_ENV_VERSION)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

char *lc_env_format_request(const cJSON *id, const char *method,
			    const cJSON *params, size_t *len)
{
	cJSON *obj;

	if (!lc_env_id_valid(id) || !method || !method[0] ||
	    (params && !cJSON_IsObject(params)))
		return NULL;
	obj = new_envelope();
	if (!obj || !add_ref(obj, "id", id) ||
	    !cJSON_AddStringToObject(obj, "method", method))
		goto fail;
	if (params ? !add_ref(obj, "params", params)
		   : !cJSON_AddObjectToObject(obj, "params"))
		goto fail;
	return print_and_delete(obj, len);
fail:
	cJSON_Delete(obj);
	return NULL;
}

char *lc_env_format_reply_ok(const cJSON *id, const cJSON *result,
			     size_t *len)
{
	cJSON *obj = new_envelope();

	if (!obj || !add_ref(obj, "id", id) ||
	    !cJSON_AddTrueToObject(obj, "ok") ||
	    !add_ref(obj, "result", result)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return print_and_delete(obj, len);
}

char *lc_env_format_reply_err(const cJSON *id, const char *code,
			      const char *message, const cJSON *details,
			      size_t *len)
{
	cJSON *obj;
	cJSON *error;

	if (details && !cJSON_IsObject(details))
		return NULL;
	if (!code || !code[0])
		code = LC_ENV_E_INTERNAL;
	if (!message || !message[0])
		message = code;
	obj = new_envelope();
	if (!obj || !add_ref(obj, "id", id) ||
	    !cJSON_AddFalseToObject(obj, "ok"))
		goto fail;
	error = cJSON_AddObjectToObject(obj, "error");
	if (!error || !cJSON_AddStringToObject(error, "code", code) ||
	    !cJSON_AddStringToObject(error, "message", message) ||
	    (details && !add_ref(error, "details", details)))
		goto fail;
	return print_and_delete(obj, len);
fail:
	cJSON_Delete(obj);
	return NULL;
}

char *lc_env_format_event(const char *topic, const char *id, int64_t wall_ms,
			  const cJSON *data, size_t *len)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	size_t tlen, jlen;
	char *json, *out;
	cJSON *obj;

	if (!lc_env_topic_valid(topic) || !id || !id[0] ||
	    (data && !cJSON_IsObject(data)))
		return NULL;
	lc_clock_rfc3339(ts, wall_ms);
	obj = new_envelope();
	if (!obj || !cJSON_AddStringToObject(obj, "id", id) ||
	    !cJSON_AddStringToObject(obj, "topic", topic) ||
	    !cJSON_AddStringToObject(obj, "ts", ts) ||
	    !(data ? add_ref(obj, "data", data)
		   : cJSON_AddObjectToObject(obj, "data") != NULL)) {
		cJSON_Delete(obj);
		return NULL;
	}
	json = print_and_delete(obj, &jlen);
	if (!json)
		return NULL;
	tlen = strlen(topic);
	out = cJSON_malloc(tlen + 1 + jlen + 1);
	if (out) {
		memcpy(out, topic, tlen);
		out[tlen] = ' ';
		memcpy(out + tlen + 1, json, jlen + 1);
		if (len)
			*len = tlen + 1 + jlen;
	}
	cJSON_free(json);
	return out;
}
