/*
 * signal-ingest: FreqTrade webhooks in, graded durable signals out.
 *
 * Start-up, config, admin HTTP, the RPC server, the event publisher and
 * the PostgreSQL pool (with migrations) come from the service kit
 * (libcommon/svc.h). This file adds, in order: the dedupe window, the
 * spool, a pool of its own for commits (its readiness drives replay),
 * the strategy cache, the committer, metrics and RPC methods, the
 * webhook port, and a subscription to strategy.state (a change there
 * reloads the cache). See README.md beside it.
 */
#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/signal-ingest/dedupe.h"
#include "services/signal-ingest/events.h"
#include "services/signal-ingest/httpd.h"
#include "services/signal-ingest/ingest.h"
#include "services/signal-ingest/spool.h"
#include "services/signal-ingest/strategies.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_CONNS 2       /* the commit pool: a batch per lane (one),
				and the replay's lookups (commit.c) */
#define DRAIN_POLL_MS 50

static void die(const char *event, const char *detail)
{
	log_error(event, LF_S("error", detail));
	exit(LC_EXIT_SYSTEM);
}

static void on_db_state(bool ready, void *arg)
{
	struct ingest *in = arg;
	log_info("ingest.commit_pool", LF_B("ready", ready));
	if (in->commit)
		commit_db_state(in->commit, ready);
}

static void on_strategies_loaded(void *arg)
{
	struct ingest *in = arg;
	if (in->commit)
		commit_kick(in->commit);
}

static void on_strategy_state(const char *topic, const cJSON *data,
			      const cJSON *env, void *arg)
{
	struct ingest *in = arg;
	(void)topic;
	(void)data;
	(void)env;
	strategies_poke(in->strats);
}

static void open_spool(struct ingest *in)
{
	const struct lc_cfg_sys_ingest *c = &in->svc->cfg->system.ingest;
	in->spool = spool_open(in->svc->d.base, c->spool_directory,
			       c->spool_max_bytes, in->spool_err,
			       sizeof(in->spool_err));
	/* without a spool the ingester still works while PostgreSQL is
	 * up; /readyz says why it is not ready */
	if (!in->spool)
		log_error("ingest.spool_unusable",
			  LF_S("error", in->spool_err));
}

static void open_commit_pool(struct ingest *in)
{
	char conninfo[2048], err[512];
	const struct lc_config *cfg = in->svc->cfg;
	struct lc_db_config dc = {
		.conninfo = conninfo,
		.name = "ingest-commit",
		.pool_size = COMMIT_CONNS,
		.statement_timeout_ms =
			cfg->system.performance.db_command_timeout * 1000,
		.on_state = on_db_state,
		.state_arg = in,
	};
	if (lc_svc_conninfo(&cfg->system.database, conninfo,
			    sizeof(conninfo)) != 0)
		die("db.bad_config", "conninfo too long");
	in->cdb = lc_db_new(in->svc->d.base, &dc, err, sizeof(err));
	if (!in->cdb)
		die("db.bad_config", err);
}

static void open_http(struct ingest *in)
{
	char err[512];
	const struct lc_cfg_service *me = lc_svc_self(in->svc);
	size_t max_body = (size_t)in->svc->cfg->system.ingest.max_body_bytes;
	in->http = httpd_new(in->svc->d.base, me->bind_host,
			     (int)me->http_port, max_body, webhook_handle,
			     webhook_refused, in, err, sizeof(err));
	if (!in->http)
		die("http.listen_failed", err);
	log_info("http.listening", LF_I("port", httpd_port(in->http)));
}

/* Follow the supervisor's strategy.state: a change reloads the cache.
 * Optional: without it the cache still reloads periodically. */
static void open_subscription(struct ingest *in)
{
	char err[256];
	const char *url =
		in->svc->cfg->services.svc[LC_CFG_SVC_SUPERVISOR].events;
	in->sub = lc_bus_sub_new(in->svc->d.base, NULL, err, sizeof(err));
	if (!in->sub || lc_bus_sub_dial(in->sub, url, err, sizeof(err)) ||
	    lc_bus_subscribe(in->sub, BTCW_TOPIC_STRATEGY_STATE,
			     on_strategy_state, in))
		log_warn("ingest.subscribe_failed", LF_S("error", err));
}

static void on_reload(struct lc_svc *s, const struct lc_config *old,
		      void *arg)
{
	struct ingest *in = arg;
	const struct lc_cfg_sys_ingest *c = &s->cfg->system.ingest;
	(void)old;
	httpd_set_max_body(in->http, (size_t)c->max_body_bytes);
	if (in->spool)
		spool_set_max(in->spool, c->spool_max_bytes);
}

static void check_drained(evutil_socket_t fd, short what, void *arg)
{
	struct ingest *in = arg;
	(void)fd;
	(void)what;
	if (httpd_pending(in->http) == 0 && commit_idle(in->commit)) {
		lc_svc_drained(in->svc);
		return;
	}
	struct timeval tv;
	lc_clock_tv(&tv, DRAIN_POLL_MS);
	event_add(in->drain_ev, &tv);
}

/* SIGTERM: no new webhooks; those in flight finish; then exit. */
static void on_shutdown(struct lc_svc *s, void *arg)
{
	struct ingest *in = arg;
	(void)s;
	in->draining = true;
	httpd_stop_accepting(in->http);
	commit_drain(in->commit);
	check_drained(-1, 0, in);
}

static void start(struct ingest *in)
{
	struct event_base *base = in->svc->d.base;
	in->dd = dedupe_new();
	in->drain_ev = evtimer_new(base, check_drained, in);
	if (!in->dd || !in->drain_ev)
		die("ingest.start_failed", "out of memory");
	open_spool(in);
	open_commit_pool(in);
	in->strats = strategies_new(base, in->svc->db, on_strategies_loaded,
				    in);
	in->events = events_new(in);
	in->commit = in->strats && in->events ? commit_new(in) : NULL;
	if (!in->commit)
		die("ingest.start_failed", "out of memory");
	if (stats_register(in) != 0 || query_register(in) != 0)
		die("ingest.start_failed", "cannot register metrics or RPC");
	open_http(in);
	open_subscription(in);
}

static void stop(struct ingest *in)
{
	httpd_free(in->http);
	lc_bus_sub_free(in->sub);
	commit_free(in->commit); /* also the commit pool and the spool */
	events_free(in->events);
	strategies_free(in->strats);
	dedupe_free(in->dd);
	if (in->drain_ev)
		event_free(in->drain_ev);
}

int main(int argc, char **argv)
{
	struct lc_svc s;
	struct ingest in;
	int rc;
	lc_svc_init(&s, LC_CFG_SVC_INGEST, BTCW_VERSION, argc, argv,
		    LC_SVC_DB | LC_SVC_MIGRATE);
	memset(&in, 0, sizeof(in));
	in.svc = &s;
	start(&in);
	s.on_reload = on_reload;
	s.on_shutdown = on_shutdown;
	s.arg = &in;
	rc = lc_svc_run(&s);
	stop(&in);
	lc_svc_release(&s);
	return rc;
}
