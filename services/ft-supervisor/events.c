/*
 * The supervisor's events (proto/README.md, Topics): strategy.state on
 * every status change, route.update when a bot becomes routable or
 * stops being so, alert.raised / alert.resolved for crashes, crash
 * loops, failed starts and failed upgrades. Events never carry secrets.
 * Publishing is fire and forget: a failure is logged, nothing waits.
 */
#include "services/ft-supervisor/sup.h"

#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void publish(struct sup *s, const char *topic, cJSON *data)
{
	if (lc_bus_publish(s->svc->pub, topic, data) != 0) {
		log_warn("event.publish_failed", LF_S("topic", topic));
		cJSON_Delete(data);
	}
}

static void add_int_or_null(cJSON *o, const char *key, long long v,
			    bool present)
{
	if (present)
		cJSON_AddNumberToObject(o, key, (double)v);
	else
		cJSON_AddNullToObject(o, key);
}

static void add_now(cJSON *o, const char *key)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	cJSON_AddStringToObject(o, key,
				lc_clock_rfc3339(ts, lc_clock_wall_ms()));
}

void ev_state(struct sup *s, const struct bot *b, enum bot_status prev,
	      const char *cause, const char *reason)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "strategy_id", b->id);
	cJSON_AddStringToObject(d, "name", bot_name(b));
	cJSON_AddStringToObject(d, "status", status_name(b->status));
	if ((int)prev >= 0)
		cJSON_AddStringToObject(d, "previous_status",
					status_name(prev));
	else
		cJSON_AddNullToObject(d, "previous_status");
	cJSON_AddStringToObject(d, "cause", cause);
	add_int_or_null(d, "port", b->port, b->port > 0);
	add_int_or_null(d, "pid", b->pid, b->pid > 0);
	cJSON_AddNumberToObject(d, "restart_count", b->restart_count);
	bool exited = !strcmp(cause, "exited") || !strcmp(cause, "crashed") ||
		      !strcmp(cause, "crash_loop");
	add_int_or_null(d, "exit_code", b->exit_code,
			exited && b->exit_code >= 0);
	add_int_or_null(d, "term_signal", b->term_signal,
			exited && b->term_signal > 0);
	if (reason && *reason)
		cJSON_AddStringToObject(d, "reason", reason);
	else
		cJSON_AddNullToObject(d, "reason");
	cJSON_AddStringToObject(d, "version", bot_version(b));
	add_now(d, "changed_at");
	log_info("strategy.state", LF_I("id", b->id),
		 LF_S("status", status_name(b->status)), LF_S("cause", cause),
		 LF_I("port", b->port), LF_I("pid", b->pid),
		 LF_S("reason", reason ? reason : ""));
	publish(s, BTCW_TOPIC_STRATEGY_STATE, d);
}

void ev_route(struct sup *s, const struct bot *b, bool add)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "op", add ? "add" : "remove");
	cJSON_AddStringToObject(d, "boot_id", s->boot_id);
	cJSON_AddNumberToObject(d, "seq", (double)++s->route_seq);
	cJSON_AddNumberToObject(d, "strategy_id", b->id);
	if (add) {
		cJSON_AddStringToObject(d, "host", "127.0.0.1");
		cJSON_AddNumberToObject(d, "port", b->port);
	}
	publish(s, BTCW_TOPIC_ROUTE_UPDATE, d);
}

static const char *severity_of(const char *priority)
{
	return priority[1] == '0' ? "critical"
	       : priority[1] == '1' ? "warning" : "info";
}

static void dedup_key(char *out, size_t n, const struct bot *b,
		      const char *kind)
{
	/* strategy:<id>:<condition>, e.g. strategy:4:crash_loop */
	const char *cond = strncmp(kind, "strategy_", 9) == 0 ? kind + 9
								: kind;
	if (b)
		snprintf(out, n, "strategy:%d:%s", b->id, cond);
	else
		snprintf(out, n, "supervisor:%s", cond);
}

void ev_alert(struct sup *s, const struct bot *b, const char *kind,
	      const char *priority, const char *title, cJSON *details,
	      const char *fmt, ...)
{
	char msg[1024], key[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dedup_key(key, sizeof(key), b, kind);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "dedup_key", key);
	cJSON_AddStringToObject(d, "source", BTCW_SERVICE_SUPERVISOR);
	cJSON_AddStringToObject(d, "kind", kind);
	cJSON_AddStringToObject(d, "severity", severity_of(priority));
	cJSON_AddStringToObject(d, "priority", priority);
	cJSON_AddStringToObject(d, "title", title);
	cJSON_AddStringToObject(d, "message", msg);
	add_int_or_null(d, "strategy_id", b ? b->id : 0, b != NULL);
	cJSON_AddItemToObject(d, "details",
			      details ? details : cJSON_CreateObject());
	add_now(d, "raised_at");
	log_warn("alert.raised", LF_S("kind", kind),
		 LF_S("priority", priority), LF_S("message", msg));
	publish(s, BTCW_TOPIC_ALERT_RAISED, d);
}

void ev_alert_resolved(struct sup *s, const struct bot *b, const char *kind,
		       int64_t raised_ms, const char *message)
{
	char key[128], ts[LC_CLOCK_RFC3339_LEN];
	dedup_key(key, sizeof(key), b, kind);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "dedup_key", key);
	cJSON_AddStringToObject(d, "source", BTCW_SERVICE_SUPERVISOR);
	cJSON_AddStringToObject(d, "kind", kind);
	add_int_or_null(d, "strategy_id", b ? b->id : 0, b != NULL);
	cJSON_AddStringToObject(d, "message", message);
	if (raised_ms > 0)
		cJSON_AddStringToObject(d, "raised_at",
					lc_clock_rfc3339(ts, raised_ms));
	else
		cJSON_AddNullToObject(d, "raised_at");
	add_now(d, "resolved_at");
	publish(s, BTCW_TOPIC_ALERT_RESOLVED, d);
}
