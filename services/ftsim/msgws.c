/*
 * msgws: the message websocket, /api/v1/message/ws?token=<ws_token or
 * access JWT> (rpc/api_server/api_ws.py). A client subscribes with
 * {"type": "subscribe", "data": ["entry_fill", …]} (every name must be a
 * message type; the set is replaced, nothing is answered) and then gets
 * each RPC message of those types as JSON. {"type": "whitelist"} and
 * {"type": "analyzed_df", "data": {"limit", "pair"}} are answered.
 *
 * A bad token: FastAPI closes the socket before accepting it, which
 * uvicorn turns into an HTTP 403 answer to the upgrade request.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/ws.h"
#include "services/ftsim/ftsim.h"

#define LOG_CH "freqtrade.rpc.api_server.ws.channel"
#define LOG_WS "freqtrade.rpc.api_server.api_ws"

struct ft_wsclient {
	struct ft_app *app;
	struct lc_ws *ws;
	uint32_t subs; /* bit per enum ft_msg_type */
	unsigned id;
	struct ft_wsclient *next;
};

static bool token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	return la == lb && memeql_sec(a, b, la);
}

/* validate_ws_token: one of the ws_tokens, or a valid access JWT. */
static bool token_ok(struct ft_app *app, const char *token)
{
	const cJSON *w = app->cfg.ws_token;
	char user[64];
	if (!token || !*token)
		return false;
	if (cJSON_IsString(w) && token_eq(w->valuestring, token))
		return true;
	const cJSON *e;
	const cJSON *list = cJSON_IsArray(w) ? w : NULL;
	cJSON_ArrayForEach (e, list)
		if (cJSON_IsString(e) && token_eq(e->valuestring, token))
			return true;
	return auth_check_token(&app->cfg, token, "access", user);
}

static void send_json(struct ft_wsclient *c, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s && lc_ws_send(c->ws, LC_WS_TEXT, s, strlen(s)) != 0)
		ftlog(FTL_INFO, LOG_CH, "Channel %08x is slow, closing",
		      c->id);
	free(s);
}

static void send_whitelist(struct ft_wsclient *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "whitelist");
	cJSON_AddItemToObject(o, "data",
	                      cJSON_Duplicate(c->app->active_wl, 1));
	send_json(c, o);
}

/* dataframe_to_json: pandas' to_json(orient="split"). */
char *msgws_frame_json(struct ft_app *app, size_t pair, size_t limit,
                       int64_t at_s)
{
	struct mk_candle *cs = calloc(limit, sizeof(*cs));
	if (!cs)
		return NULL;
	size_t n = market_candles(&app->mk, pair, app->cfg.tf_secs, at_s,
	                          limit, cs);
	cJSON *o = cJSON_CreateObject();
	cJSON *cols = cJSON_AddArrayToObject(o, "columns");
	const char *names[] = { "date", "open",  "high",
		                "low",  "close", "volume" };
	for (size_t i = 0; i < 6; i++)
		cJSON_AddItemToArray(cols, cJSON_CreateString(names[i]));
	cJSON *idx = cJSON_AddArrayToObject(o, "index");
	cJSON *data = cJSON_AddArrayToObject(o, "data");
	for (size_t i = 0; i < n; i++) {
		cJSON_AddItemToArray(idx, json_int((int64_t)i));
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(row, json_int(cs[i].t * 1000));
		cJSON_AddItemToArray(row, json_float(cs[i].open));
		cJSON_AddItemToArray(row, json_float(cs[i].high));
		cJSON_AddItemToArray(row, json_float(cs[i].low));
		cJSON_AddItemToArray(row, json_float(cs[i].close));
		cJSON_AddItemToArray(row, json_float(cs[i].volume));
		cJSON_AddItemToArray(data, row);
	}
	free(cs);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void send_analyzed(struct ft_wsclient *c, size_t pair, size_t limit)
{
	struct ft_app *app = c->app;
	char *df = msgws_frame_json(app, pair, limit, ft_now_us() / 1000000);
	char la[48];
	fmt_date_str(la, ft_now_us(), true);
	la[10] = 'T';
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "analyzed_df");
	cJSON *d = cJSON_AddObjectToObject(o, "data");
	cJSON *key = cJSON_AddArrayToObject(d, "key");
	cJSON_AddItemToArray(key,
	                     cJSON_CreateString(app->mk.pairs[pair].name));
	cJSON_AddItemToArray(key, cJSON_CreateString(app->cfg.timeframe));
	cJSON_AddItemToArray(key, cJSON_CreateString("spot"));
	cJSON *f = cJSON_AddObjectToObject(d, "df");
	cJSON_AddStringToObject(f, "__type__", "dataframe");
	cJSON_AddStringToObject(f, "__value__", df ? df : "{}");
	cJSON_AddStringToObject(d, "la", la);
	free(df);
	send_json(c, o);
}

static void analyzed_request(struct ft_wsclient *c, const cJSON *data)
{
	const cJSON *l = jget(data, "limit");
	const cJSON *p = jget(data, "pair");
	size_t limit = cJSON_IsNumber(l) && l->valuedouble >= 1 &&
	                               l->valuedouble < 1500
	                       ? (size_t)l->valuedouble
	                       : 1500;
	if (cJSON_IsString(p)) {
		int i = market_find(&c->app->mk, p->valuestring);
		if (i >= 0)
			send_analyzed(c, (size_t)i, limit);
		return;
	}
	const cJSON *w;
	cJSON_ArrayForEach (w, c->app->active_wl) {
		int i = market_find(&c->app->mk, w->valuestring);
		if (i >= 0)
			send_analyzed(c, (size_t)i, limit);
	}
}

static void subscribe(struct ft_wsclient *c, const cJSON *data)
{
	uint32_t mask = 0;
	const cJSON *t;
	if (!cJSON_IsArray(data) || cJSON_GetArraySize(data) == 0)
		return;
	cJSON_ArrayForEach (t, data) {
		int k = cJSON_IsString(t) ? msg_type_parse(t->valuestring)
		                          : -1;
		if (k < 0)
			return; /* all must be valid */
		mask |= 1u << k;
	}
	c->subs = mask;
}

static void on_message(struct lc_ws *ws, enum lc_ws_opcode op,
                       const char *data, size_t len, void *arg)
{
	(void)ws;
	(void)op;
	struct ft_wsclient *c = arg;
	cJSON *req = cJSON_ParseWithLength(data, len);
	const cJSON *type = jget(req, "type");
	const cJSON *d = jget(req, "data");
	if (!cJSON_IsString(type)) {
		ftlog(FTL_ERROR, LOG_WS,
		      "Invalid request from WebSocketChannel(%08x): %.*s",
		      c->id, (int)(len > 200 ? 200 : len), data);
	} else if (strcmp(type->valuestring, "subscribe") == 0) {
		subscribe(c, d);
	} else if (strcmp(type->valuestring, "whitelist") == 0) {
		send_whitelist(c);
	} else if (strcmp(type->valuestring, "analyzed_df") == 0) {
		analyzed_request(c, d);
	} else {
		ftlog(FTL_ERROR, LOG_WS,
		      "Invalid request from WebSocketChannel(%08x): unknown "
		      "type '%s'",
		      c->id, type->valuestring);
	}
	cJSON_Delete(req);
}

static void on_close(struct lc_ws *ws, int code, const char *reason, void *arg)
{
	(void)ws;
	(void)code;
	(void)reason;
	struct ft_wsclient *c = arg;
	struct ft_wsclient **pp = &c->app->ws;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	ftlog(FTL_INFO, LOG_CH,
	      "Disconnected from channel - "
	      "WebSocketChannel(%08x)",
	      c->id);
	free(c);
}

static void reply_status(struct evhttp_request *req, int code,
                         const char *reason, const char *body)
{
	struct evbuffer *b = evbuffer_new();
	if (body) {
		evbuffer_add_printf(b, "%s", body);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Content-Type", "application/json");
	}
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

void msgws_handle(struct ft_app *app, struct evhttp_request *req,
                  const char *token)
{
	static unsigned next_id = 0x1f2e3d4c;
	static const struct lc_ws_cbs cbs = { on_message, on_close };
	if (!lc_ws_is_upgrade(req)) {
		reply_status(req, 404, "Not Found",
		             "{\"detail\":\"Not Found\"}");
		return;
	}
	if (!token_ok(app, token)) {
		ftlog(FTL_INFO, "uvicorn.error",
		      "('127.0.0.1', 0) - \"WebSocket "
		      "/api/v1/message/ws\" 403");
		ftlog(FTL_INFO, "uvicorn.error",
		      "connection rejected (403 Forbidden)");
		reply_status(req, 403, "Forbidden", NULL);
		return;
	}
	struct ft_wsclient *c = calloc(1, sizeof(*c));
	if (!c) {
		reply_status(req, 500, "Internal Server Error", NULL);
		return;
	}
	c->app = app;
	c->id = next_id;
	next_id = next_id * 1103515245u + 12345u;
	c->ws = lc_ws_accept(req, &cbs, c, NULL);
	if (!c->ws) {
		free(c);
		return;
	}
	c->next = app->ws;
	app->ws = c;
	ftlog(FTL_INFO, LOG_CH,
	      "Connected to channel - WebSocketChannel(%08x, "
	      "%s)",
	      c->id, lc_ws_peer(c->ws));
}

void msgws_publish(struct ft_app *app, const struct ft_msg *m)
{
	char *s = NULL;
	for (struct ft_wsclient *c = app->ws; c; c = c->next) {
		if (!(c->subs & (1u << m->type)))
			continue;
		if (!s)
			s = msg_json(m);
		if (s && lc_ws_send(c->ws, LC_WS_TEXT, s, strlen(s)) != 0)
			ftlog(FTL_INFO, LOG_CH,
			      "Channel %08x is slow, closing", c->id);
	}
	free(s);
}

void msgws_close_all(struct ft_app *app)
{
	for (struct ft_wsclient *c = app->ws; c; c = c->next)
		lc_ws_close(c->ws, LC_WS_GOING_AWAY, NULL);
}
