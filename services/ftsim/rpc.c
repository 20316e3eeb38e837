/*
 * rpc: FreqTrade's RPCManager. Every message goes to the modules in
 * FreqTrade's order, one message at a time: the webhook first (which may
 * take a while: retries, timeouts), then the API server's message
 * websocket. The worker waits until the outbox is empty, as FreqTrade's
 * synchronous send_msg makes its loop wait.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "services/ftsim/ftsim.h"

#define LOG_RPC "freqtrade.rpc.rpc_manager"

struct ft_rpc {
	struct ft_msg *head, *tail;
	struct ft_msg *cur; /* being delivered */
	struct event *kick; /* deliver the next message */
};

static void on_kick(evutil_socket_t fd, short what, void *arg);

int rpc_init(struct ft_app *app)
{
	struct ft_rpc *r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->kick = event_new(app->base, -1, 0, on_kick, app);
	if (!r->kick) {
		free(r);
		return -1;
	}
	app->rpc = r;
	if (app->cfg.wh.enabled)
		ftlog(FTL_INFO, LOG_RPC, "Enabling rpc.webhook ...");
	return 0;
}

static void drop_all(struct ft_rpc *r)
{
	while (r->head) {
		struct ft_msg *m = r->head;
		r->head = m->next;
		msg_free(m);
	}
	r->tail = NULL;
	msg_free(r->cur);
	r->cur = NULL;
}

void rpc_release(struct ft_app *app)
{
	struct ft_rpc *r = app->rpc;
	if (!r)
		return;
	webhook_abort(app);
	drop_all(r);
	event_free(r->kick);
	free(r);
	app->rpc = NULL;
}

void rpc_abort(struct ft_app *app)
{
	if (!app->rpc)
		return;
	webhook_abort(app);
	drop_all(app->rpc);
}

bool rpc_idle(const struct ft_app *app)
{
	return !app->rpc || (!app->rpc->head && !app->rpc->cur);
}

static bool echoed(enum ft_msg_type t)
{
	return t != MSG_ANALYZED_DF && t != MSG_WHITELIST &&
	       t != MSG_NEW_CANDLE && t != MSG_STRATEGY_MSG;
}

void rpc_send(struct ft_app *app, struct ft_msg *m)
{
	struct ft_rpc *r = app->rpc;
	if (!m)
		return;
	if (!r) {
		msg_free(m);
		return;
	}
	if (echoed(m->type)) {
		struct lc_buf b;
		lc_buf_init(&b, 16384);
		if (msg_repr(m, &b) == 0)
			ftlog(FTL_INFO, LOG_RPC, "Sending rpc message: %s",
			      b.data);
		lc_buf_release(&b);
	}
	m->next = NULL;
	if (r->tail)
		r->tail->next = m;
	else
		r->head = m;
	r->tail = m;
	if (!r->cur)
		event_active(r->kick, 0, 0);
}

void rpc_status(struct ft_app *app, enum ft_msg_type type, const char *status)
{
	struct ft_msg *m = msg_new(type);
	msg_add_str(m, "status", status);
	rpc_send(app, m);
}

static void delivered(struct ft_app *app)
{
	struct ft_rpc *r = app->rpc;
	if (!r || !r->cur)
		return;
	/* strategy messages only reach modules that allow them: the
	 * API server never does */
	if (r->cur->type != MSG_STRATEGY_MSG)
		msgws_publish(app, r->cur);
	msg_free(r->cur);
	r->cur = NULL;
	event_active(r->kick, 0, 0);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_app *app = arg;
	struct ft_rpc *r = app->rpc;
	if (r->cur)
		return;
	if (!r->head) {
		app_on_drained(app);
		return;
	}
	r->cur = r->head;
	r->head = r->cur->next;
	if (!r->head)
		r->tail = NULL;
	r->cur->next = NULL;
	webhook_send(app, r->cur, delivered);
}
