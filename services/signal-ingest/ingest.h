#ifndef INGEST_H
#define INGEST_H
/*
 * signal-ingest's private umbrella header: the daemon's state and the
 * modules that need the loop, the database or the bus.
 *
 *   httpd.c       the webhook port (HTTP/1.1)
 *   webhook.c     the endpoint: routes, auth, statuses
 *   body.c        json / form / raw bodies -> (key, value) pairs
 *   parse.c       pairs -> one signal row; values.c, grade.c, dedupe.c
 *   strategies.c  the strategy cache (tokens, thresholds)
 *   commit.c      group commit to PostgreSQL, spool fallback, replay
 *   events.c      signal.new and the spool alert, paced
 *   spool.c       the fsynced local spool; spoolrec.c its records
 *   query.c       the RPC methods (ingest.signals.*, signal_stats)
 *   stats.c       metrics
 */
#include <stdbool.h>
#include <stdint.h>

#include "services/signal-ingest/sig.h"

struct lc_svc;
struct lc_db;
struct lc_bus_sub;
struct lc_metric;
struct lc_series;
struct httpd;
struct strategies;
struct committer;
struct spool;
struct dedupe;
struct event;

struct ingest_metrics {
	struct lc_metric *rejected;   /* {reason}: webhooks refused */
	struct lc_series *accepted;   /* webhooks answered 2xx */
	struct lc_series *stored;     /* new rows committed */
	struct lc_series *duplicates; /* already stored (retry, replay) */
	struct lc_series *spooled;    /* signals written to the spool */
	struct lc_series *replayed;   /* spool records committed */
	struct lc_series *refused;    /* rows PostgreSQL refused */
	struct lc_series *bad_strength; /* kept, strength unreadable */
	struct lc_series *published;  /* signal.new events sent */
	struct lc_series *events_dropped; /* ... dropped (events.h) */
	struct lc_series *commit_s;   /* histogram: one batch's commit */
	struct lc_series *ack_s;      /* histogram: webhook in -> answer */
	struct lc_series *batch_rows; /* histogram: rows per batch */
};

struct ingest {
	struct lc_svc *svc;           /* borrowed */
	struct lc_db *cdb;            /* owned: the commit pool */
	struct httpd *http;           /* owned */
	struct strategies *strats;    /* owned */
	struct committer *commit;     /* owned */
	struct events *events;        /* owned */
	struct spool *spool;          /* owned; NULL if it cannot be used */
	char spool_err[256];          /* why not */
	struct dedupe *dd;            /* owned */
	struct lc_bus_sub *sub;       /* owned: strategy.state */
	struct ingest_metrics m;
	bool draining;
	struct event *drain_ev;       /* owned: checks the drain */
};

/* ---- commit.c ---- */

enum commit_outcome {
	CO_STORED,      /* committed now (id known) */
	CO_DUPLICATE,   /* was already stored */
	CO_SPOOLED,     /* fsynced in the spool, to be replayed */
	CO_UNAVAILABLE, /* neither: 503, the sender retries */
	CO_FAILED,      /* PostgreSQL refused the row: 500 */
};

typedef void (*commit_done_fn)(void *arg, enum commit_outcome o,
			       int64_t id);

struct committer *commit_new(struct ingest *in);
/* Fails every waiting signal (CO_UNAVAILABLE). NULL: nothing. */
void commit_free(struct committer *c);
/*
 * Make s durable: takes it (s is left empty) and calls fn(arg, ...)
 * exactly once, later, on the loop. 0, or -1 (ENOMEM: fn not called, s
 * still the caller's).
 */
int commit_submit(struct committer *c, struct sig *s, commit_done_fn fn,
		  void *arg) __attribute__((warn_unused_result));
/* The commit pool's readiness changed. */
void commit_db_state(struct committer *c, bool ready);
/* Nothing waiting or in flight (draining may end). */
bool commit_idle(const struct committer *c);
/* Signals currently go to the spool. */
bool commit_spooling(const struct committer *c);
/* Stop starting replays (shutdown). */
void commit_drain(struct committer *c);
/* Something changed that may let replay continue (cache loaded...). */
void commit_kick(struct committer *c);

/* ---- webhook.c ---- */

/* The httpd handler and refusal counter (arg: struct ingest). */
struct httpd_req;
void webhook_handle(struct httpd_req *r, void *arg);
void webhook_refused(int status, const char *code, void *arg);

/* ---- query.c ---- */

/* Register ingest.signals.list / get and ingest.signal_stats.get. */
int query_register(struct ingest *in) __attribute__((warn_unused_result));

/* ---- stats.c ---- */

/* Register the metrics (and readiness checks). 0, or -1 logged. */
int stats_register(struct ingest *in) __attribute__((warn_unused_result));
/* Count a refused webhook under its error code. */
void stats_rejected(struct ingest *in, const char *code);

#endif
