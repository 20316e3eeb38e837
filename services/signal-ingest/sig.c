/* The stored signal row and the webhook caller's error. */
#include "services/signal-ingest/sig.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const col_names[SC_NCOL] = {
	[SC_STRATEGY_ID] = "strategy_id",
	[SC_DEDUPE_KEY] = "dedupe_key",
	[SC_ACTION] = "action",
	[SC_PAIR] = "pair",
	[SC_DIRECTION] = "direction",
	[SC_TRADE_ID] = "trade_id",
	[SC_ENTER_TAG] = "enter_tag",
	[SC_EXIT_REASON] = "exit_reason",
	[SC_MESSAGE] = "message",
	[SC_OPEN_RATE] = "open_rate",
	[SC_CLOSE_RATE] = "close_rate",
	[SC_LIMIT_RATE] = "limit_rate",
	[SC_CURRENT_RATE] = "current_rate",
	[SC_AMOUNT] = "amount",
	[SC_STAKE_AMOUNT] = "stake_amount",
	[SC_STAKE_CURRENCY] = "stake_currency",
	[SC_PROFIT_RATIO] = "profit_ratio",
	[SC_PROFIT_ABS] = "profit_abs",
	[SC_OPEN_DATE] = "open_date",
	[SC_CLOSE_DATE] = "close_date",
	[SC_EVENT_AT] = "event_at",
	[SC_RECEIVED_AT] = "received_at",
	[SC_STRENGTH] = "strength",
	[SC_LEVEL] = "level",
	[SC_PRIORITY] = "priority",
	[SC_STRATEGY_VERSION] = "strategy_version",
	[SC_INDICATORS] = "indicators",
	[SC_RAW] = "raw",
};

int ierr_set(struct ierr *e, int status, const char *code, const char *fmt,
	     ...)
{
	va_list ap;
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	return -1;
}

void sig_init(struct sig *s)
{
	lc_buf_init(&s->buf, SIG_MAX_BYTES);
	for (int i = 0; i < SC_NCOL; i++)
		s->off[i] = SIG_NULL;
}

void sig_release(struct sig *s)
{
	lc_buf_release(&s->buf);
	sig_init(s);
}

void sig_reserve(struct sig *s, size_t n)
{
	/* lc_buf's fields are public: give it its memory up front (it
	 * grows with realloc, so a malloc'd block is what it expects) */
	if (s->buf.data || n == 0 || n > SIG_MAX_BYTES)
		return;
	s->buf.data = malloc(n + 1);
	if (!s->buf.data)
		return;
	s->buf.data[0] = '\0';
	s->buf.cap = n + 1;
}

void sig_move(struct sig *dst, struct sig *src)
{
	*dst = *src;
	sig_init(src);
}

int sig_set(struct sig *s, enum sig_col col, const char *v, size_t len)
{
	size_t at = s->buf.len;
	if (s->buf.data && v >= s->buf.data && v < s->buf.data + at) {
		/* from this row's own buffer, which the append may move */
		if (v[len] == '\0') {
			s->off[col] = (uint32_t)(v - s->buf.data);
			return 0; /* a whole value: share it */
		}
		char *copy = strndup(v, len);
		int rv = copy ? sig_set(s, col, copy, len) : -1;
		free(copy);
		return rv;
	}
	if (lc_buf_append(&s->buf, v, len) != 0 ||
	    lc_buf_append(&s->buf, "", 1) != 0) {
		s->buf.len = at;
		return -1;
	}
	s->off[col] = (uint32_t)at;
	return 0;
}

int sig_set_str(struct sig *s, enum sig_col col, const char *v)
{
	return sig_set(s, col, v, strlen(v));
}

const char *sig_get(const struct sig *s, enum sig_col col)
{
	if (s->off[col] == SIG_NULL)
		return NULL;
	return s->buf.data + s->off[col];
}

const char *sig_col_name(enum sig_col col)
{
	return col_names[col];
}

const char *sig_rate(const struct sig *s)
{
	const char *action = sig_get(s, SC_ACTION);
	const char *r = NULL;
	if (action && strncmp(action, "entry", 5) == 0)
		r = sig_get(s, SC_OPEN_RATE);
	else if (action && strncmp(action, "exit", 4) == 0) {
		r = sig_get(s, SC_CLOSE_RATE);
		if (!r)
			r = sig_get(s, SC_LIMIT_RATE);
	}
	return r ? r : sig_get(s, SC_CURRENT_RATE);
}

void sig_time_ms(const char *us_time, char *out, size_t outlen)
{
	/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ": keep the milliseconds */
	snprintf(out, outlen, "%.23sZ", us_time);
}

/*
 * The event is built from references: keys are constants and values
 * point into the row (and into the caller's strings), so an event costs
 * one allocation per member instead of three. cJSON frees neither kind
 * (cJSON_StringIsConst, cJSON_IsReference); cJSON_Duplicate makes an
 * owned copy when an event must outlive the row.
 */
static cJSON *ref_item(int type, const char *v)
{
	cJSON *item = cJSON_CreateNull();
	if (item && v) {
		item->type = type | cJSON_IsReference;
		item->valuestring = (char *)v; /* not freed: a reference */
	}
	return item;
}

static bool add(cJSON *o, const char *name, int type, const char *v)
{
	cJSON *item = ref_item(type, v);
	return item && cJSON_AddItemToObjectCS(o, name, item);
}

/* Add a text value or null. */
static bool add_text(cJSON *o, const char *name, const char *v)
{
	return add(o, name, cJSON_String, v);
}

/* Add a number stored as decimal text (already valid JSON) or null. */
static bool add_num(cJSON *o, const char *name, const char *v)
{
	return add(o, name, cJSON_Raw, v);
}

static bool add_time(cJSON *o, const char *name, const char *v)
{
	char ms[40];
	if (!v)
		return add(o, name, cJSON_NULL, NULL);
	sig_time_ms(v, ms, sizeof(ms));
	return cJSON_AddStringToObject(o, name, ms) != NULL; /* a copy */
}

cJSON *sig_to_json(const struct sig *s, int64_t id,
		   const char *strategy_name)
{
	cJSON *o = cJSON_CreateObject();
	char idtext[24];
	const char *ind = sig_get(s, SC_INDICATORS);
	bool ok;

	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ok = o && cJSON_AddRawToObject(o, "id", idtext) && /* a copy */
	     add_num(o, "strategy_id", sig_get(s, SC_STRATEGY_ID)) &&
	     add_text(o, "strategy_name", strategy_name) &&
	     add_text(o, "action", sig_get(s, SC_ACTION)) &&
	     add_text(o, "pair", sig_get(s, SC_PAIR)) &&
	     add_text(o, "direction", sig_get(s, SC_DIRECTION)) &&
	     add_num(o, "trade_id", sig_get(s, SC_TRADE_ID)) &&
	     add_num(o, "rate", sig_rate(s)) &&
	     add_num(o, "amount", sig_get(s, SC_AMOUNT)) &&
	     add_num(o, "stake_amount", sig_get(s, SC_STAKE_AMOUNT)) &&
	     add_text(o, "stake_currency", sig_get(s, SC_STAKE_CURRENCY)) &&
	     add_num(o, "profit_ratio", sig_get(s, SC_PROFIT_RATIO)) &&
	     add_num(o, "profit_abs", sig_get(s, SC_PROFIT_ABS)) &&
	     add_text(o, "enter_tag", sig_get(s, SC_ENTER_TAG)) &&
	     add_text(o, "exit_reason", sig_get(s, SC_EXIT_REASON)) &&
	     add_num(o, "strength", sig_get(s, SC_STRENGTH)) &&
	     add_text(o, "level", sig_get(s, SC_LEVEL)) &&
	     add_text(o, "priority", sig_get(s, SC_PRIORITY)) &&
	     add_num(o, "indicators", ind ? ind : "{}") &&
	     add_text(o, "message", sig_get(s, SC_MESSAGE)) &&
	     add_time(o, "event_at", sig_get(s, SC_EVENT_AT)) &&
	     add_time(o, "received_at", sig_get(s, SC_RECEIVED_AT));
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
