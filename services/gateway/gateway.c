/* The gateway's modules wired to the service kit: start, drain, free. */
#include "services/gateway/gateway.h"

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "services/gateway/authcache.h"
#include "services/gateway/downstream.h"
#include "services/gateway/events.h"
#include "services/gateway/health.h"
#include "services/gateway/http.h"
#include "services/gateway/livepush.h"
#include "services/gateway/msgws.h"
#include "services/gateway/passwd.h"
#include "services/gateway/routes.h"
#include "services/gateway/routes_table.h"
#include "services/gateway/sessions.h"
#include "services/gateway/token.h"
#include "services/gateway/wsclient.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DRAIN_POLL_MS 50
#define FLUSH_GRACE_POLLS 20 /* 1 s for the last replies to go out */

int gw_db_query(struct gw *g, const char *sql, int nparams,
		const char *const *params, lc_db_result_cb cb, void *arg)
{
	if (!g->svc->db)
		return -1;
	return lc_db_query(g->svc->db, sql, nparams, params, cb, arg);
}

const struct lc_cfg_sys_security *gw_security(const struct gw *g)
{
	return &g->svc->cfg->system.security;
}

/* ---- metrics ---- */

static bool read_inflight(void *arg, double *out)
{
	*out = (double)gw_http_inflight(((struct gw *)arg)->http);
	return true;
}

static bool read_hashing(void *arg, double *out)
{
	*out = (double)gw_passwd_pending(((struct gw *)arg)->pw);
	return true;
}

static bool read_supervisor(void *arg, double *out)
{
	*out = ((struct gw *)arg)->supervisor_ok ? 1 : 0;
	return true;
}

static bool read_routes(void *arg, double *out)
{
	*out = (double)gw_routes_count(((struct gw *)arg)->routes);
	return true;
}

static bool read_ws(void *arg, double *out)
{
	*out = (double)gw_push_clients(((struct gw *)arg)->push);
	return true;
}

static int add_metrics(struct gw *g, char *err, size_t errlen)
{
	struct lc_metrics *reg = g->svc->metrics;
	struct gw_metrics *m = &g->m;

	m->requests = lc_metrics_counter(
		reg, "btcw_gateway_http_requests_total",
		"Public API requests answered, by route pattern, method and "
		"status.",
		LC_LABELS("route", "method", "status"), err, errlen);
	m->latency = m->requests ? lc_metrics_histogram(
		reg, "btcw_gateway_http_request_duration_seconds",
		"Time from request to reply, by route pattern.",
		LC_LABELS("route"), lc_metrics_default_buckets,
		lc_metrics_default_nbuckets, err, errlen) : NULL;
	m->logins = m->latency ? lc_metrics_counter(
		reg, "btcw_gateway_logins_total",
		"Login attempts by result (success, failure, throttled).",
		LC_LABELS("result"), err, errlen) : NULL;
	m->lockouts = m->logins ? lc_metrics_counter(
		reg, "btcw_gateway_lockouts_total",
		"Lockouts started, by scope (account, address).",
		LC_LABELS("scope"), err, errlen) : NULL;
	m->downstream = m->lockouts ? lc_metrics_counter(
		reg, "btcw_gateway_downstream_errors_total",
		"Bus calls to other services that failed, by service and "
		"error code.", LC_LABELS("service", "code"), err, errlen)
				    : NULL;
	m->proxied = m->downstream ? lc_metrics_counter(
		reg, "btcw_gateway_proxy_requests_total",
		"Requests to bots (strategy proxy, FreqUI), by result (ok, "
		"no_route, refused, timeout, broken, too_large, bot_auth, "
		"cancelled).", LC_LABELS("result"), err, errlen) : NULL;
	m->pushed = m->proxied ? lc_metrics_counter(
		reg, "btcw_gateway_ws_messages_total",
		"Live push (/ws) messages by result (sent, dropped_slow).",
		LC_LABELS("result"), err, errlen) : NULL;
	if (!m->pushed ||
	    lc_metrics_callback(reg, LC_METRIC_GAUGE,
				"btcw_gateway_http_inflight",
				"Requests being handled.", read_inflight, g,
				err, errlen) != 0 ||
	    lc_metrics_callback(reg, LC_METRIC_GAUGE,
				"btcw_gateway_password_jobs",
				"argon2 jobs queued or running.",
				read_hashing, g, err, errlen) != 0 ||
	    lc_metrics_callback(reg, LC_METRIC_GAUGE,
				"btcw_gateway_supervisor_up",
				"1 if ft-supervisor answers on the bus.",
				read_supervisor, g, err, errlen) != 0 ||
	    lc_metrics_callback(reg, LC_METRIC_GAUGE,
				"btcw_gateway_routes_loaded",
				"Bots the strategy proxy routes to.",
				read_routes, g, err, errlen) != 0 ||
	    lc_metrics_callback(reg, LC_METRIC_GAUGE,
				"btcw_gateway_ws_clients",
				"Live push (/ws) sessions open.", read_ws, g,
				err, errlen) != 0)
		return -1;
	/* Zero series, so that rates work from the first scrape. */
	lc_metric_series(m->logins, "success");
	lc_metric_series(m->logins, "failure");
	lc_metric_series(m->logins, "throttled");
	lc_metric_series(m->lockouts, "account");
	lc_metric_series(m->lockouts, "address");
	lc_metric_series(m->proxied, "ok");
	lc_metric_series(m->pushed, "sent");
	lc_metric_series(m->pushed, "dropped_slow");
	return 0;
}

/* ---- shutdown: stop accepting, wait for the requests in flight ---- */

static void on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
	struct gw *g = arg;

	(void)fd;
	(void)what;
	if (gw_http_inflight(g->http) > 0)
		return;
	if (gw_http_flushing(g->http) == 0 ||
	    ++g->drain_polls >= FLUSH_GRACE_POLLS)
		lc_svc_drained(g->svc);
}

static void on_shutdown(struct lc_svc *s, void *arg)
{
	struct gw *g = arg;
	struct timeval tv;

	gw_http_stop(g->http);
	gw_push_close_all(g->push);
	gw_msgws_close_all(g);
	log_info("http.draining",
		 LF_I("inflight", gw_http_inflight(g->http)));
	g->drain = event_new(s->d.base, -1, EV_PERSIST, on_drain_poll, g);
	lc_clock_tv(&tv, DRAIN_POLL_MS);
	if (!g->drain || event_add(g->drain, &tv) != 0)
		lc_svc_drained(s);
}

/* ---- start and release ---- */

static int start_parts(struct gw *g, char *err, size_t errlen)
{
	const struct lc_cfg_service *me = lc_svc_self(g->svc);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int threads = cpus > 2 ? (int)(cpus / 2) : 1;

	g->pw = gw_passwd_new(g->svc->d.base, threads > 4 ? 4 : threads, err,
			      errlen);
	if (!g->pw)
		return -1;
	g->down = gw_downstream_new(g, err, errlen);
	if (!g->down)
		return -1;
	g->auth = gw_authcache_new(0);
	if (!g->auth) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (gw_events_start(g, err, errlen) != 0 ||
	    gw_routes_start(g, err, errlen) != 0 ||
	    gw_live_start(g, err, errlen) != 0 ||
	    gw_push_start(g, err, errlen) != 0)
		return -1;
	if (gw_gateway_rpc_start(g) != 0) {
		snprintf(err, errlen, "cannot register gateway.health.get");
		return -1;
	}
	if (!gw_http_new(g, me->bind_host, (int)me->http_port, err, errlen))
		return -1;
	return gw_health_start(g, err, errlen);
}

int gw_init(struct gw *g, struct lc_svc *s, char *err, size_t errlen)
{
	const char *key = s->cfg->system.security.jwt_secret_key;
	char dummy[GW_JTI_LEN + 1];

	memset(g, 0, sizeof(*g));
	g->svc = s;
	g->jwt_key_len = key ? strlen(key) : 0;
	g->jwt_key = (unsigned char *)strdup(key ? key : "");
	if (!g->jwt_key || add_metrics(g, err, errlen) != 0)
		return -1;
	lc_log_redact(key);
	/* Verified for unknown users: same cost as a real account's. */
	if (gw_token_new_jti(dummy) != 0) {
		snprintf(err, errlen, "no randomness for the dummy hash");
		return -1;
	}
	g->dummy_hash = gw_passwd_hash_now(dummy, err, errlen);
	if (!g->dummy_hash || start_parts(g, err, errlen) != 0)
		return -1;
	s->on_shutdown = on_shutdown;
	s->arg = g;
	return 0;
}

void gw_release(struct gw *g)
{
	gw_health_stop(g);
	if (g->drain)
		event_free(g->drain);
	/* Pending work ends now, each answering its request 503, while the
	 * HTTP server still exists: bus calls, then queries, then hashes. */
	gw_downstream_free(g->down);
	g->down = NULL;
	gw_events_stop(g);
	gw_msgws_stop(g);
	gw_routes_free(g->routes); /* proxied requests end 503 */
	g->routes = NULL;
	lc_db_free(g->svc->db);
	g->svc->db = NULL;
	gw_passwd_free(g->pw);
	g->pw = NULL;
	gw_http_free(g->http); /* ends every WebSocket session */
	gw_push_free(g->push);
	gw_msgws_free(g);
	gw_wsc_free_all(); /* the bots' side of relayed sessions */
	gw_live_free(g);
	if (g->jwt_key) {
		explicit_bzero(g->jwt_key, g->jwt_key_len);
		free(g->jwt_key);
	}
	free(g->dummy_hash);
	gw_authcache_free(g->auth);
	memset(g, 0, sizeof(*g));
}
