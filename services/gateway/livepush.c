/*
 * Live push at /ws: a WebSocket (RFC 6455, libcommon/ws.h) after token
 * auth (the BTC Watcher access token as ?token= or an Authorization
 * header, checked like any API call), streaming the bus events the
 * dashboard shows as JSON text messages:
 *
 *   {"type": "<topic>", "id": "<event id>", "ts": "<published at>",
 *    "data": {…the event's data, as proto/schemas/topics has it…}}
 *
 * for signal.new, strategy.state, strategy.health, system.status,
 * capacity.status, alert.raised, alert.resolved, notification.sent and
 * backup.completed (each as its daemon publishes it). The first message
 * is {"type": "welcome", "user", "role", "topics"}. A client may narrow
 * the stream with {"type": "subscribe", "topics": [...]} (answered
 * {"type": "subscribed", "topics"}) and ask {"type": "ping"} (answered
 * {"type": "pong"}).
 *
 * Each event is serialised once and queued to every session. A client
 * that does not read is dropped (1008, libcommon/ws.h) as soon as its
 * queue passes GW_PUSH_MAX_OUTBUF, so memory stays bounded however many
 * clients lag.
 *
 * A session lasts as long as its login (sessions.h): its token expiring,
 * a logout, the account disabled or its role changed close it (1008,
 * the reason in the close frame). Keep-alive (libcommon/ws.h): a ping
 * every GW_PUSH_PING_S; a client that sends nothing back (no pong, no
 * frame) within GW_PUSH_PONG_S of one is taken for dead and closed
 * (1011), so a vanished peer does not hold a session and its queue.
 */
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "libcommon/ws.h"
#include "proto/btcw_proto.h"
#include "services/gateway/events.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/livepush.h"
#include "services/gateway/routes.h"
#include "services/gateway/sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_PUSH_PING_S 30
#define GW_PUSH_PONG_S 20 /* a 1 MiB queue may be ahead of the pong */
#define GW_PUSH_MAX_OUTBUF (1u << 20)
#define GW_PUSH_MAX_IN 4096
#define GW_PUSH_MAX_CLIENTS 10000

static const char *const topics[] = {
	BTCW_TOPIC_SIGNAL_NEW,      BTCW_TOPIC_STRATEGY_STATE,
	BTCW_TOPIC_STRATEGY_HEALTH, BTCW_TOPIC_SYSTEM_STATUS,
	BTCW_TOPIC_CAPACITY_STATUS, BTCW_TOPIC_ALERT_RAISED,
	BTCW_TOPIC_ALERT_RESOLVED,  BTCW_TOPIC_NOTIFICATION_SENT,
	BTCW_TOPIC_BACKUP_COMPLETED, NULL,
};
#define NTOPICS (sizeof(topics) / sizeof(topics[0]) - 1)
#define ALL_TOPICS ((1u << NTOPICS) - 1)

struct client {
	struct gw_push *p;
	struct lc_ws *ws;
	struct gw_live *login;       /* owned: its login, watched */
	struct client *prev, *next;
	unsigned mask;               /* topics wanted, bit per topics[i] */
	char user[GW_USERNAME_MAX + 1];
};

struct gw_push {
	struct gw *g;
	struct client *head;
	unsigned n;
	uint64_t sent, dropped;
};

static void send_json(struct client *c, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (text && lc_ws_send(c->ws, LC_WS_TEXT, text, strlen(text)) != 0)
		c->p->dropped++;
	cJSON_free(text);
}

static cJSON *topic_list(unsigned mask)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < NTOPICS; i++)
		if (mask & (1u << i))
			cJSON_AddItemToArray(a, cJSON_CreateString(topics[i]));
	return a;
}

static int topic_index(const char *t)
{
	for (size_t i = 0; i < NTOPICS; i++)
		if (strcmp(topics[i], t) == 0)
			return (int)i;
	return -1;
}

/* ---- a client's messages ---- */

static void subscribe(struct client *c, const cJSON *list)
{
	unsigned mask = 0;
	const cJSON *t;
	cJSON *o = cJSON_CreateObject();

	cJSON_ArrayForEach(t, list) {
		int i = cJSON_IsString(t) ? topic_index(t->valuestring) : -1;
		if (i < 0) {
			cJSON_AddStringToObject(o, "type", "error");
			cJSON_AddStringToObject(o, "detail",
						"topics: unknown topic");
			send_json(c, o);
			return;
		}
		mask |= 1u << i;
	}
	c->mask = mask;
	cJSON_AddStringToObject(o, "type", "subscribed");
	cJSON_AddItemToObject(o, "topics", topic_list(mask));
	send_json(c, o);
}

static void on_message(struct lc_ws *ws, enum lc_ws_opcode op,
		       const char *data, size_t len, void *arg)
{
	struct client *c = arg;
	cJSON *m = op == LC_WS_TEXT ? cJSON_ParseWithLength(data, len) : NULL;
	const cJSON *type = cJSON_GetObjectItem(m, "type");
	const cJSON *list = cJSON_GetObjectItem(m, "topics");

	(void)ws;
	if (cJSON_IsString(type) && strcmp(type->valuestring, "ping") == 0) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", "pong");
		send_json(c, o);
	} else if (cJSON_IsString(type) &&
		   strcmp(type->valuestring, "subscribe") == 0 &&
		   cJSON_IsArray(list)) {
		subscribe(c, list);
	} else {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", "error");
		cJSON_AddStringToObject(o, "detail",
					"send {\"type\": \"subscribe\", "
					"\"topics\": [...]} or {\"type\": "
					"\"ping\"}");
		send_json(c, o);
	}
	cJSON_Delete(m);
}

static void on_close(struct lc_ws *ws, int code, const char *reason,
		     void *arg)
{
	struct client *c = arg;
	struct gw_push *p = c->p;

	(void)ws;
	if (c->prev)
		c->prev->next = c->next;
	else
		p->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->n--;
	log_info("ws.closed", LF_S("user", c->user), LF_I("code", code),
		 LF_S("reason", reason));
	gw_live_unwatch(c->login);
	free(c);
}

/* ---- events ---- */

static void on_event(const char *topic, const cJSON *data,
		     const cJSON *env, void *arg)
{
	struct gw_push *p = arg;
	int i = topic_index(topic);
	unsigned bit = i >= 0 ? 1u << i : 0;
	cJSON *o;
	char *text;
	uint64_t sent = 0, dropped = 0;

	if (!p->head || !bit || p->g->svc->d.stopping)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", topic);
	cJSON_AddItemToObject(o, "id", cJSON_Duplicate(
		cJSON_GetObjectItem(env, "id"), true));
	cJSON_AddItemToObject(o, "ts", cJSON_Duplicate(
		cJSON_GetObjectItem(env, "ts"), true));
	cJSON_AddItemToObject(o, "data", cJSON_Duplicate(data, true));
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return;
	size_t len = strlen(text);
	for (struct client *c = p->head, *next; c; c = next) {
		next = c->next; /* a send may drop c (on_close comes later) */
		if (!(c->mask & bit))
			continue;
		if (lc_ws_send(c->ws, LC_WS_TEXT, text, len) == 0)
			sent++;
		else
			dropped++;
	}
	cJSON_free(text);
	lc_series_add(lc_metric_series(p->g->m.pushed, "sent"),
		      (double)sent);
	if (dropped)
		lc_series_add(lc_metric_series(p->g->m.pushed,
					       "dropped_slow"),
			      (double)dropped);
}

/* The login behind c ended (sessions.h). */
static void on_login_ended(void *arg, const char *why)
{
	struct client *c = arg;

	lc_ws_close(c->ws, LC_WS_POLICY, why);
}

/* ---- GET /ws ---- */

static void route_ws(struct gw_req *r)
{
	struct gw_push *p = r->g->push;
	static const struct lc_ws_cbs cbs = { on_message, on_close };
	const struct lc_ws_limits lim = { GW_PUSH_MAX_IN, GW_PUSH_MAX_OUTBUF,
					  GW_PUSH_PING_S * 1000,
					  GW_PUSH_PONG_S * 1000 };
	struct client *c;

	if (!p || !lc_ws_is_upgrade(r->ev)) {
		gw_reply_error(r, 400, "bad_request",
			       "/ws is a WebSocket: send an upgrade request");
		return;
	}
	if (p->n >= GW_PUSH_MAX_CLIENTS) {
		gw_reply_error(r, 503, "unavailable",
			       "too many live push clients");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->login = gw_live_watch(r, true, on_login_ended, c);
	if (!c || !c->login) {
		free(c);
		gw_reply_internal(r, "out of memory");
		return;
	}
	c->p = p;
	c->mask = ALL_TOPICS;
	memcpy(c->user, r->user.username, sizeof(c->user));
	c->ws = lc_ws_accept(r->ev, &cbs, c, &lim);
	if (!c->ws) { /* it answered 400 or 500 itself */
		gw_live_unwatch(c->login);
		free(c);
		gw_req_detach(r, 400);
		return;
	}
	c->next = p->head;
	if (p->head)
		p->head->prev = c;
	p->head = c;
	p->n++;
	log_info("ws.open", LF_S("user", c->user),
		 LF_S("client", r->client_addr));
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "welcome");
	cJSON_AddStringToObject(o, "user", c->user);
	cJSON_AddStringToObject(o, "role", gw_role_name(r->user.role));
	cJSON_AddItemToObject(o, "topics", topic_list(c->mask));
	gw_req_detach(r, 101);
	send_json(c, o);
}

const struct gw_route gw_routes_push[] = {
	{ "GET", "/ws", GW_ROLES_ANY, GW_R_QUERY_TOKEN, route_ws },
	{ 0 },
};

/* ---- start and free ---- */

void gw_push_close_all(struct gw_push *p)
{
	for (struct client *c = p ? p->head : NULL; c; c = c->next)
		lc_ws_close(c->ws, LC_WS_GOING_AWAY, "server shutting down");
}

unsigned gw_push_clients(const struct gw_push *p)
{
	return p ? p->n : 0;
}

int gw_push_start(struct gw *g, char *err, size_t errlen)
{
	struct gw_push *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->g = g;
	g->push = p;
	for (size_t i = 0; i < NTOPICS; i++)
		if (gw_events_on(g, topics[i], on_event, p) != 0) {
			snprintf(err, errlen, "cannot subscribe to %s",
				 topics[i]);
			return -1;
		}
	return 0;
}

void gw_push_free(struct gw_push *p)
{
	if (!p)
		return;
	/* Sessions are gone: the HTTP server closed them before. */
	for (struct client *c = p->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(p);
}
