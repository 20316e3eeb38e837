/* signal.new and the spool alert, paced (see events.h). */
#include "services/signal-ingest/events.h"

#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/signal-ingest/ingest.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

struct queued {
	cJSON *data;          /* owned */
	struct queued *next;
};

struct events {
	struct ingest *in;
	struct queued *head, *tail;
	size_t n;
	int64_t window_ms;    /* the millisecond being filled */
	int sent;             /* events sent in it */
	struct event *timer;  /* owned: the next millisecond */
};

static void send_now(struct events *ev, cJSON *data)
{
	if (lc_bus_publish(ev->in->svc->pub, BTCW_TOPIC_SIGNAL_NEW, data) !=
	    0) {
		cJSON_Delete(data);
		return;
	}
	lc_series_inc(ev->in->m.published);
}

/* Room in the current millisecond? */
static bool may_send(struct events *ev)
{
	int64_t now = lc_clock_mono_ms();
	if (now != ev->window_ms) {
		ev->window_ms = now;
		ev->sent = 0;
	}
	return ev->sent < EVENTS_BURST;
}

static void arm(struct events *ev)
{
	struct timeval tv;
	if (event_pending(ev->timer, EV_TIMEOUT, NULL))
		return;
	lc_clock_tv(&tv, 1);
	event_add(ev->timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct events *ev = arg;
	(void)fd;
	(void)what;
	while (ev->head && may_send(ev)) {
		struct queued *q = ev->head;
		ev->head = q->next;
		if (!ev->head)
			ev->tail = NULL;
		ev->n--;
		ev->sent++;
		send_now(ev, q->data);
		free(q);
	}
	if (ev->head)
		arm(ev);
	else if (ev->in->commit)
		commit_kick(ev->in->commit); /* replay may go on */
}

static void enqueue(struct events *ev, cJSON *data)
{
	struct queued *q = malloc(sizeof(*q));
	if (!q) {
		cJSON_Delete(data);
		lc_series_inc(ev->in->m.events_dropped);
		return;
	}
	if (ev->n == EVENTS_MAX_QUEUED) { /* as nng would: the oldest */
		struct queued *old = ev->head;
		ev->head = old->next;
		ev->n--;
		cJSON_Delete(old->data);
		free(old);
		lc_series_inc(ev->in->m.events_dropped);
		if (!ev->head)
			ev->tail = NULL;
	}
	*q = (struct queued){ data, NULL };
	if (ev->tail)
		ev->tail->next = q;
	else
		ev->head = q;
	ev->tail = q;
	ev->n++;
	arm(ev);
}

void events_signal(struct events *ev, const struct sig *s, int64_t id,
		   const char *strategy_name)
{
	char fallback[40];
	cJSON *data;
	if (!strategy_name) {
		snprintf(fallback, sizeof(fallback), "strategy-%s",
			 sig_get(s, SC_STRATEGY_ID));
		strategy_name = fallback;
	}
	data = sig_to_json(s, id, strategy_name);
	if (!data)
		return;
	if (!ev->head && may_send(ev)) {
		ev->sent++;
		send_now(ev, data);
		return;
	}
	/* it outlives the row: an owned copy */
	cJSON *copy = cJSON_Duplicate(data, 1);
	cJSON_Delete(data);
	if (copy)
		enqueue(ev, copy);
	else
		lc_series_inc(ev->in->m.events_dropped);
}

void events_spool_alert(struct events *ev, bool raised, const char *why,
			int64_t since_ms, uint64_t replayed,
			int64_t spool_bytes)
{
	char now[LC_CLOCK_RFC3339_LEN], since[LC_CLOCK_RFC3339_LEN];
	char msg[512];
	cJSON *d = cJSON_CreateObject(), *det;
	lc_clock_rfc3339(now, lc_clock_wall_ms());
	lc_clock_rfc3339(since, since_ms);
	cJSON_AddStringToObject(d, "dedup_key", "ingest:spool");
	cJSON_AddStringToObject(d, "source", BTCW_SERVICE_INGEST);
	cJSON_AddStringToObject(d, "kind", BTCW_ALERT_SIGNAL_SPOOL_ACTIVE);
	cJSON_AddNullToObject(d, "strategy_id");
	if (raised) {
		snprintf(msg, sizeof(msg),
			 "PostgreSQL cannot take signals (%.300s): webhooks "
			 "are acknowledged from the local spool and will be "
			 "replayed", why);
		cJSON_AddStringToObject(d, "severity", "warning");
		cJSON_AddStringToObject(d, "priority", "P1");
		cJSON_AddStringToObject(d, "title", "signals are spooled");
		cJSON_AddStringToObject(d, "message", msg);
		det = cJSON_AddObjectToObject(d, "details");
		cJSON_AddNumberToObject(det, "spool_bytes",
					(double)spool_bytes);
	} else {
		snprintf(msg, sizeof(msg),
			 "the spool is replayed (%llu signals)",
			 (unsigned long long)replayed);
		cJSON_AddStringToObject(d, "message", msg);
		cJSON_AddStringToObject(d, "resolved_at", now);
	}
	cJSON_AddStringToObject(d, "raised_at", since);
	if (lc_bus_publish(ev->in->svc->pub,
			   raised ? "alert.raised" : "alert.resolved", d) != 0)
		cJSON_Delete(d);
}

size_t events_backlog(const struct events *ev)
{
	return ev->n;
}

struct events *events_new(struct ingest *in)
{
	struct events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->in = in;
	ev->timer = evtimer_new(in->svc->d.base, on_tick, ev);
	if (!ev->timer) {
		free(ev);
		return NULL;
	}
	return ev;
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	while (ev->head) { /* at shutdown: send what is left */
		struct queued *q = ev->head;
		ev->head = q->next;
		send_now(ev, q->data);
		free(q);
	}
	event_free(ev->timer);
	free(ev);
}
