/* signal-ingest's metrics and readiness checks. */
#include "services/signal-ingest/ingest.h"

#include "libcommon/admin.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "services/signal-ingest/httpd.h"
#include "services/signal-ingest/spool.h"
#include "services/signal-ingest/strategies.h"

#include <stdio.h>

static const double seconds_bounds[] = { 0.0005, 0.001, 0.002, 0.005,
					 0.01,   0.02,  0.05,  0.1,
					 0.2,    0.5,   1,     2,
					 5,      10 };
static const double rows_bounds[] = { 1,  2,   4,   8,   16,  32,
				      64, 128, 256, 512, 1024, 2048 };

#define N(a) (sizeof(a) / sizeof(*(a)))

static struct lc_series *counter(struct lc_metrics *r, const char *name,
				 const char *help, int *rv)
{
	char err[256];
	struct lc_metric *m = lc_metrics_counter(r, name, help, NULL, err,
						 sizeof(err));
	if (!m) {
		log_error("metrics.register_failed", LF_S("error", err));
		*rv = -1;
	}
	return lc_metric_series(m);
}

static struct lc_series *histogram(struct lc_metrics *r, const char *name,
				   const char *help, const double *b,
				   size_t nb, int *rv)
{
	char err[256];
	struct lc_metric *m = lc_metrics_histogram(r, name, help, NULL, b, nb,
						   err, sizeof(err));
	if (!m) {
		log_error("metrics.register_failed", LF_S("error", err));
		*rv = -1;
	}
	return lc_metric_series(m);
}

static bool read_spool_bytes(void *arg, double *out)
{
	struct ingest *in = arg;
	*out = in->spool ? (double)spool_bytes(in->spool) : 0;
	return true;
}

static bool read_spooling(void *arg, double *out)
{
	struct ingest *in = arg;
	*out = in->commit && commit_spooling(in->commit) ? 1 : 0;
	return true;
}

static bool read_strategies(void *arg, double *out)
{
	struct ingest *in = arg;
	*out = in->strats ? (double)strategies_count(in->strats) : 0;
	return true;
}

static bool read_reloads(void *arg, double *out)
{
	struct ingest *in = arg;
	*out = in->strats ? (double)strategies_reloads(in->strats) : 0;
	return true;
}

static bool read_pending(void *arg, double *out)
{
	struct ingest *in = arg;
	*out = in->http ? httpd_pending(in->http) : 0;
	return true;
}

static int gauges(struct ingest *in)
{
	static const struct {
		const char *name, *help;
		lc_metrics_read_fn fn;
		enum lc_metric_type type;
	} g[] = {
		{ "btcw_ingest_spool_bytes",
		  "Bytes of signals held in the local spool.",
		  read_spool_bytes, LC_METRIC_GAUGE },
		{ "btcw_ingest_spooling",
		  "1 while new signals go to the spool (PostgreSQL cannot "
		  "take them, or the spool is being replayed).",
		  read_spooling, LC_METRIC_GAUGE },
		{ "btcw_ingest_strategies",
		  "Strategies in the cache.", read_strategies,
		  LC_METRIC_GAUGE },
		{ "btcw_ingest_strategy_reloads_total",
		  "Successful reloads of the strategy cache.", read_reloads,
		  LC_METRIC_COUNTER },
		{ "btcw_ingest_pending_webhooks",
		  "Webhooks received and not yet answered.", read_pending,
		  LC_METRIC_GAUGE },
	};
	char err[256];
	for (size_t i = 0; i < N(g); i++) {
		if (lc_metrics_callback(in->svc->metrics, g[i].type,
					g[i].name, g[i].help, g[i].fn, in, err,
					sizeof(err)) != 0) {
			log_error("metrics.register_failed",
				  LF_S("error", err));
			return -1;
		}
	}
	return 0;
}

static bool check_strategies(void *arg, char *detail, size_t n)
{
	struct ingest *in = arg;
	if (strategies_loaded(in->strats))
		return true;
	snprintf(detail, n, "the strategy registry is not loaded yet");
	return false;
}

static bool check_commit_pool(void *arg, char *detail, size_t n)
{
	struct ingest *in = arg;
	if (in->cdb && lc_db_ready(in->cdb))
		return true;
	snprintf(detail, n, "no commit connection to the database");
	return false;
}

static bool check_spool(void *arg, char *detail, size_t n)
{
	struct ingest *in = arg;
	if (in->spool)
		return true;
	snprintf(detail, n, "%s", in->spool_err);
	return false;
}

static int checks(struct ingest *in)
{
	char err[256];
	if (lc_admin_add_check(in->svc->admin, "strategies",
			       check_strategies, in, err, sizeof(err)) ||
	    lc_admin_add_check(in->svc->admin, "commit_pool",
			       check_commit_pool, in, err, sizeof(err)) ||
	    lc_admin_add_check(in->svc->admin, "spool", check_spool, in, err,
			       sizeof(err))) {
		log_error("admin.check_failed", LF_S("error", err));
		return -1;
	}
	return 0;
}

int stats_register(struct ingest *in)
{
	struct lc_metrics *r = in->svc->metrics;
	struct ingest_metrics *m = &in->m;
	char err[256];
	int rv = 0;
	m->rejected = lc_metrics_counter(
		r, "btcw_ingest_rejected_total",
		"Webhooks refused, by error code.", LC_LABELS("reason"), err,
		sizeof(err));
	if (!m->rejected) {
		log_error("metrics.register_failed", LF_S("error", err));
		rv = -1;
	}
	m->accepted = counter(r, "btcw_ingest_accepted_total",
			      "Webhooks acknowledged (2xx).", &rv);
	m->stored = counter(r, "btcw_ingest_stored_total",
			    "Signals committed as new rows.", &rv);
	m->duplicates = counter(r, "btcw_ingest_duplicates_total",
				"Webhooks or spool records already stored.",
				&rv);
	m->spooled = counter(r, "btcw_ingest_spooled_total",
			     "Signals fsynced in the local spool.", &rv);
	m->replayed = counter(r, "btcw_ingest_replayed_total",
			      "Spool records committed on replay.", &rv);
	m->refused = counter(r, "btcw_ingest_db_refused_total",
			     "Signals PostgreSQL refused (not stored).", &rv);
	m->bad_strength = counter(r, "btcw_ingest_strength_unreadable_total",
				  "Signals kept with a strength that is not "
				  "a number from 0 to 1, graded as none.",
				  &rv);
	m->published = counter(r, "btcw_ingest_published_total",
			       "signal.new events published.", &rv);
	m->events_dropped = counter(r, "btcw_ingest_events_dropped_total",
				    "signal.new events dropped: more waited "
				    "than the pacing queue holds.", &rv);
	m->commit_s = histogram(r, "btcw_ingest_commit_seconds",
				"Time from sending a batch to its commit.",
				seconds_bounds, N(seconds_bounds), &rv);
	m->ack_s = histogram(r, "btcw_ingest_ack_seconds",
			     "Time from a complete webhook to its 2xx.",
			     seconds_bounds, N(seconds_bounds), &rv);
	m->batch_rows = histogram(r, "btcw_ingest_batch_rows",
				  "Rows per committed batch.", rows_bounds,
				  N(rows_bounds), &rv);
	if (rv != 0 || gauges(in) != 0 || checks(in) != 0)
		return -1;
	return 0;
}

void stats_rejected(struct ingest *in, const char *code)
{
	lc_series_inc(lc_metric_series(in->m.rejected, code));
}
