/* The logins behind live WebSocket sessions, checked again and again. */
#include "services/gateway/sessions.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "services/gateway/auth.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS 1000

struct gw_live {
	struct gw_lives *set;
	struct gw_live *prev, *next;
	char *token;                  /* owned copy */
	struct gw_auth_entry was;     /* as accepted when it opened */
	bool until_exp;
	bool ended;                   /* end() ran: nothing more to do */
	bool busy;                    /* a check is running */
	struct gw_auth_check *pending; /* its handle, if it runs later */
	int64_t due_ms;               /* next check, monotonic */
	gw_live_end end;
	void *arg;
};

struct gw_lives {
	struct gw *g;
	struct gw_live *head;
	struct event *timer;          /* owned: the sweep */
	unsigned inflight;            /* checks running */
};

static int64_t interval_ms(const struct gw *g)
{
	return g->svc->cfg->system.gateway.ws_auth_check_interval * 1000;
}

static void end_session(struct gw_live *l, const char *why)
{
	l->ended = true;
	log_info("ws.login_ended", LF_S("user", l->was.username),
		 LF_S("reason", why));
	l->end(l->arg, why);
}

static void on_checked(enum gw_auth_verdict v,
		       const struct gw_auth_entry *e, const char *why,
		       void *arg)
{
	struct gw_live *l = arg;

	l->busy = false;
	l->pending = NULL;
	l->set->inflight--;
	if (l->ended)
		return;
	if (v == GW_AUTH_DENIED)
		end_session(l, why);
	else if (v == GW_AUTH_OK && e->role != l->was.role)
		/* token_version is bumped with the role, so this is a role
		 * changed in SQL behind the API's back */
		end_session(l, "the account's role changed");
	else if (v != GW_AUTH_OK)
		log_debug("ws.login_check_failed", LF_S("reason", why));
}

/* Start l's check. Its callback may run before this returns (a cache
 * hit, a query that could not be queued). */
static void check(struct gw_live *l, int64_t now_ms)
{
	struct gw_lives *set = l->set;

	l->due_ms = now_ms + interval_ms(set->g);
	l->busy = true;
	set->inflight++;
	struct gw_auth_check *k =
		gw_auth_recheck(set->g, l->token, &l->was, on_checked, l);
	if (k) /* cb runs later: l is still there */
		l->pending = k;
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
	struct gw_lives *set = arg;
	int64_t now_ms = lc_clock_mono_ms();
	int64_t now_s = lc_clock_wall_ms() / 1000;

	(void)fd;
	(void)what;
	for (struct gw_live *l = set->head, *next; l; l = next) {
		next = l->next;
		if (l->ended || l->busy)
			continue;
		if (l->until_exp && l->was.c.exp <= now_s)
			end_session(l, "token expired");
		else if (l->due_ms <= now_ms &&
			 set->inflight < GW_LIVE_MAX_INFLIGHT)
			check(l, now_ms);
	}
}

struct gw_live *gw_live_watch(struct gw_req *r, bool until_exp,
			      gw_live_end end, void *arg)
{
	struct gw_lives *set = r->g->lives;
	char buf[GW_TOKEN_MAX_LEN + 1];
	const char *token = gw_auth_request_token(r, buf, sizeof(buf));
	struct gw_live *l = set && token ? calloc(1, sizeof(*l)) : NULL;

	if (!l || !(l->token = strdup(token))) {
		free(l);
		return NULL;
	}
	l->set = set;
	l->until_exp = until_exp;
	l->end = end;
	l->arg = arg;
	l->due_ms = lc_clock_mono_ms() + interval_ms(r->g);
	l->was.c.uid = r->user.id;
	l->was.c.ver = r->user.ver;
	l->was.c.exp = r->user.exp;
	l->was.c.bot = r->user.bot;
	l->was.c.kind = r->user.kind;
	memcpy(l->was.c.jti, r->user.jti, sizeof(l->was.c.jti));
	memcpy(l->was.username, r->user.username, sizeof(l->was.username));
	l->was.role = r->user.role;
	l->next = set->head;
	if (set->head)
		set->head->prev = l;
	set->head = l;
	return l;
}

void gw_live_unwatch(struct gw_live *l)
{
	if (!l)
		return;
	if (l->busy) {
		gw_auth_cancel(l->pending);
		l->set->inflight--;
	}
	if (l->prev)
		l->prev->next = l->next;
	else
		l->set->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	explicit_bzero(l->token, strlen(l->token));
	free(l->token);
	free(l);
}

int gw_live_start(struct gw *g, char *err, size_t errlen)
{
	struct gw_lives *set = calloc(1, sizeof(*set));
	struct timeval tv;

	if (!set) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	set->g = g;
	g->lives = set;
	set->timer = event_new(g->svc->d.base, -1, EV_PERSIST, sweep, set);
	lc_clock_tv(&tv, SWEEP_MS);
	if (!set->timer || event_add(set->timer, &tv) != 0) {
		snprintf(err, errlen, "cannot start the session check timer");
		return -1;
	}
	return 0;
}

void gw_live_free(struct gw *g)
{
	struct gw_lives *set = g->lives;

	if (!set)
		return;
	if (set->timer)
		event_free(set->timer);
	while (set->head) /* none left by now; if one were, no leak */
		gw_live_unwatch(set->head);
	free(set);
	g->lives = NULL;
}
