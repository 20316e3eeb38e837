/* FreqUI's message websocket relayed to the bot's (msgws.h). */
#include "services/gateway/msgws.h"

#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "libcommon/ws.h"
#include "services/gateway/botpool.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/routes_table.h"
#include "services/gateway/sessions.h"
#include "services/gateway/wsclient.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 10000
#define CLIENT_MAX_MESSAGE (64u << 10)   /* FreqUI sends small requests */
#define CLIENT_MAX_OUTBUF (32u << 20)    /* analyzed_df can be large */
#define BOT_MAX_MESSAGE (16u << 20)
#define CLIENT_PING_MS 30000
#define CLIENT_PONG_MS 60000  /* 32 MiB may be queued ahead of the pong */

struct session {
	struct gw *g;
	struct gw_req *r;          /* until the client's handshake */
	struct gw_upreq *login;    /* the bot token request in flight */
	struct gw_wsc *up;         /* the bot's websocket */
	struct lc_ws *down;        /* the client's websocket */
	struct gw_live *watch;     /* owned: the client's login, watched */
	int64_t id;
	char host[254];
	int port;
	struct session *prev, *next; /* every session */
};

/* Every session, setting up (owning a request) or relayed. */
struct gw_msgws {
	struct session *head;
};

static struct gw_msgws *list_of(struct gw *g)
{
	if (!g->msgws)
		g->msgws = calloc(1, sizeof(*g->msgws));
	return g->msgws;
}

static void unlink_session(struct session *s)
{
	struct gw_msgws *l = s->g->msgws;

	if (!l || (!s->prev && l->head != s))
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* r is being answered (or freed) while the session sets up. */
static void setup_abort(void *p)
{
	struct session *s = p;

	unlink_session(s);
	gw_upreq_cancel(s->login);
	gw_wsc_close(s->up, LC_WS_GOING_AWAY, "client gone");
	free(s);
}

/* ---- relayed ---- */

static void down_message(struct lc_ws *ws, enum lc_ws_opcode op,
			 const char *data, size_t len, void *arg)
{
	struct session *s = arg;

	(void)ws;
	if (s->up && gw_wsc_send(s->up, (int)op, data, len) != 0)
		lc_ws_close(s->down, 1011, "the bot connection failed");
}

static void down_close(struct lc_ws *ws, int code, const char *reason,
		       void *arg)
{
	struct session *s = arg;

	(void)ws;
	log_info("frequi.ws_closed", LF_I("strategy_id", s->id),
		 LF_I("code", code), LF_S("reason", reason));
	if (s->up)
		gw_wsc_close(s->up, code >= 1000 && code < 1004 ? code : 1000,
			     NULL);
	gw_live_unwatch(s->watch);
	unlink_session(s);
	free(s);
}

/* The client's login ended (sessions.h): down_close closes the bot's
 * side in turn. */
static void on_login_ended(void *arg, const char *why)
{
	struct session *s = arg;

	lc_ws_close(s->down, LC_WS_POLICY, why);
}

static void up_message(struct gw_wsc *c, int opcode, const char *data,
		       size_t len, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (s->down &&
	    lc_ws_send(s->down, (enum lc_ws_opcode)opcode, data, len) != 0)
		lc_series_inc(lc_metric_series(s->g->m.pushed,
					       "dropped_slow"));
}

static void up_open(struct gw_wsc *c, void *arg)
{
	struct session *s = arg;
	struct gw_req *r = s->r;
	static const struct lc_ws_cbs cbs = { down_message, down_close };
	const struct lc_ws_limits lim = { CLIENT_MAX_MESSAGE,
					  CLIENT_MAX_OUTBUF, CLIENT_PING_MS,
					  CLIENT_PONG_MS };

	(void)c;
	r->state = NULL; /* the session now lives with its connections */
	r->state_free = NULL;
	s->r = NULL;
	s->down = lc_ws_accept(r->ev, &cbs, s, &lim);
	if (!s->down) { /* it answered 400 or 500 itself */
		gw_req_detach(r, 400);
		gw_wsc_close(s->up, LC_WS_GOING_AWAY, "client handshake");
		unlink_session(s);
		free(s);
		return;
	}
	/* Not until the token's expiry: FreqUI reconnects with the same
	 * access token (15 min), so that would end its stream for good. */
	s->watch = gw_live_watch(r, false, on_login_ended, s);
	if (!s->watch)
		lc_ws_close(s->down, LC_WS_INTERNAL, "out of memory");
	gw_req_detach(r, 101);
	log_info("frequi.ws_open", LF_I("strategy_id", s->id));
}

static void up_close(struct gw_wsc *c, int http_status, int code,
		     const char *reason, void *arg)
{
	struct session *s = arg;

	(void)c;
	s->up = NULL;
	if (s->r) { /* before the client's handshake: a plain answer */
		gw_reply_error(s->r, 502, "upstream_error",
			       "strategy %lld refused its message websocket "
			       "(%s%d %s)", (long long)s->id,
			       http_status ? "HTTP " : "",
			       http_status ? http_status : code, reason);
		return;
	}
	if (s->down)
		lc_ws_close(s->down, code == 1006 || code == 1005
					     ? 1011 : code, reason);
}

/* ---- setting up ---- */

static void on_token(const struct gw_up_res *res, void *arg)
{
	struct session *s = arg;
	struct gw_req *r = s->r;
	cJSON *j = NULL;
	const cJSON *tok;
	char target[4200];

	s->login = NULL;
	if (res->error == GW_UP_OK && res->status == 200) {
		size_t n = evbuffer_get_length(res->body);
		const char *text =
			(const char *)evbuffer_pullup(res->body, -1);
		j = text ? cJSON_ParseWithLength(text, n) : NULL;
	}
	tok = cJSON_GetObjectItem(j, "access_token");
	if (!cJSON_IsString(tok) || strlen(tok->valuestring) > 4096) {
		cJSON_Delete(j);
		gw_reply_error(r, 502, "upstream_error",
			       "strategy %lld did not give the gateway a "
			       "token for its message websocket",
			       (long long)s->id);
		return;
	}
	snprintf(target, sizeof(target), "/api/v1/message/ws?token=%s",
		 tok->valuestring);
	cJSON_Delete(j);
	const struct gw_wsc_opts o = { s->host, s->port, target,
				       CONNECT_TIMEOUT_MS, BOT_MAX_MESSAGE,
				       CLIENT_MAX_MESSAGE * 16 };
	static const struct gw_wsc_cbs cbs = { up_open, up_message,
					       up_close };
	s->up = gw_wsc_connect(s->g->svc->d.base, &o, &cbs, s);
	if (!s->up)
		gw_reply_internal(r, "cannot open the bot's websocket");
}

void gw_msgws_start(struct gw_req *r, struct gw_bot *b)
{
	struct gw_msgws *l = list_of(r->g);
	struct session *s = l ? calloc(1, sizeof(*s)) : NULL;
	char hdrs[512];

	if (!lc_ws_is_upgrade(r->ev)) {
		free(s);
		gw_reply_error(r, 400, "bad_request",
			       "this path is a WebSocket: send an upgrade "
			       "request");
		return;
	}
	if (!s) {
		gw_reply_internal(r, "out of memory");
		return;
	}
	s->g = r->g;
	s->r = r;
	s->id = b->id;
	s->port = b->port;
	memcpy(s->host, b->host, sizeof(s->host));
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	l->head = s;
	r->state = s;
	r->state_free = setup_abort;
	snprintf(hdrs, sizeof(hdrs), "%sContent-Type: application/json\r\n",
		 b->auth);
	s->login = gw_pool_request(b->pool, "POST", "/api/v1/token/login",
				   hdrs, "{}", 2, LOGIN_TIMEOUT_MS, 64 * 1024,
				   on_token, s);
	if (!s->login)
		gw_reply_internal(r, "out of memory");
}

void gw_msgws_close_all(struct gw *g)
{
	for (struct session *s = g->msgws ? g->msgws->head : NULL; s;
	     s = s->next)
		if (s->down)
			lc_ws_close(s->down, LC_WS_GOING_AWAY,
				    "server shutting down");
}

void gw_msgws_stop(struct gw *g)
{
	struct session *s = g->msgws ? g->msgws->head : NULL;

	while (s) {
		if (!s->r) {
			s = s->next;
			continue;
		}
		gw_reply_unavailable(s->r, "the gateway is stopping");
		s = g->msgws->head; /* that one is gone: start again */
	}
}

void gw_msgws_free(struct gw *g)
{
	free(g->msgws);
	g->msgws = NULL;
}
