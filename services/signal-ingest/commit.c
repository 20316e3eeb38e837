/*
 * Group commit: every signal waits for its own durability, but signals
 * that arrive together are committed together.
 *
 * Signals queue up; at the end of each loop turn (so that every request
 * read in that turn joins) the queue is cut into batches, one INSERT
 * per batch:
 *
 *   INSERT INTO signals (...) SELECT * FROM ROWS FROM (
 *     unnest($1::int[]), ..., json_array_elements($28::json))
 *   RETURNING id, strategy_id, dedupe_key
 *
 * one parameter per column, so the statement text never changes with
 * the batch size and PostgreSQL reads 28 values instead of thousands of
 * parameters: an array literal per column, and for the two JSON columns
 * (indicators, raw) one JSON array, which needs no escaping on our side
 * and no array parsing on the server's. Each statement is its own
 * transaction. A unique violation (a retried webhook meeting its first
 * copy) sends the batch again with ON CONFLICT (strategy_id, dedupe_key)
 * DO NOTHING; that clause costs the server a sixth more per row, so it
 * is kept for that case and for replay, where repeats are expected.
 *
 * Lanes: strategies are spread over COMMIT_LANES lanes (id modulo), each
 * with its own queue and at most one batch in flight; while it is, the
 * lane's next batch grows, so throughput rises with concurrency while
 * every signal still waits for its own commit. As soon as a batch is
 * committed the lane's next one is sent, before the answers and events
 * of the first are made, so PostgreSQL and the ingester work at the same
 * time. Why lanes and not any free connection: lanes never share a
 * strategy, so a strategy's signals are committed in the order they came
 * (and, before migration 0009 made the strategy check one per statement,
 * two batches never locked the same strategies row FOR KEY SHARE, which
 * made PostgreSQL build a MultiXact). One lane is the default because it
 * is the fastest on the 2-core reference machine (bench/ingest): each
 * further committing backend costs PostgreSQL more CPU per row than the
 * overlap gains (41 us with one lane, 55 with two, 80+ with three or
 * four before 0009; 35 and 53 after it: contention on the same index
 * pages and the WAL). A machine with more cores may want more.
 * The rows RETURNING gives were inserted; the others were already there
 * (a retry): both are acknowledged.
 *
 * When PostgreSQL cannot take a batch (down, connection lost, timeout),
 * its signals go to the spool instead, and so does every new signal
 * until the spool has been replayed: that keeps replay in order (a
 * sender that waits for each answer sees its signals stored in the order
 * it sent them). A batch PostgreSQL refuses for its data (a CHECK, a
 * value it cannot read) is retried one row at a time so that one bad
 * row fails alone.
 *
 * Replay: when the commit pool is ready, the spool is read in order and
 * committed one batch at a time; each record lands on its dedupe key, so
 * a record committed before a crash is not stored twice.
 */
#include "services/signal-ingest/ingest.h"

#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/signal-ingest/events.h"
#include "services/signal-ingest/spool.h"
#include "services/signal-ingest/strategies.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_LANES 1              /* batches out at once (see above) */
#define COMMIT_TIMEOUT_MS 5000      /* then the batch goes to the spool */
#define BATCH_MAX_ROWS 2000
#define BATCH_MAX_BYTES (8u << 20)
#define REPLAY_BATCH 500
#define REPLAY_RETRY_MIN_MS 500
#define REPLAY_RETRY_MAX_MS 30000

struct entry {
	struct committer *c;
	struct sig sig;
	int lane;                   /* by strategy */
	commit_done_fn fn;          /* NULL for replayed records */
	void *arg;
	struct entry *next;         /* queue link */
	struct entry *followers;    /* same key, same batch */
	int64_t id;                 /* once stored */
	bool inserted;              /* by this ingester's INSERT */
	bool isolated;              /* commit alone (after a data error) */
};

struct queue {
	struct entry *head, *tail;
};

struct batch {
	struct committer *c;
	struct entry **rows;        /* unique keys */
	size_t n;
	bool replay;                /* else from lanes[lane] */
	int lane;
	bool upsert;                /* ON CONFLICT DO NOTHING */
	int64_t t0_ms;
	uint32_t *index;            /* open addressing: row + 1, 0 empty */
	size_t mask;
};

struct committer {
	struct ingest *in;
	struct lane {
		struct queue q;     /* signals for PostgreSQL */
		bool busy;          /* a batch of it is out */
	} lanes[COMMIT_LANES];
	struct queue rq;            /* records read back from the spool */
	bool replay_inflight;       /* one replay batch out */
	size_t replay_open;         /* records of the last read unresolved */
	bool spooling;              /* new signals go to the spool */
	bool db_ready;
	bool draining, closing;
	bool retry_wait;            /* replay backs off */
	int64_t retry_ms;
	int64_t spool_since_ms;     /* wall time spooling began */
	uint64_t replayed_run;      /* records replayed this episode */
	struct event *pump_ev;      /* end of the loop turn */
	struct event *retry_ev;
	struct lc_buf arr[SC_NCOL]; /* parameters, reused */
	char *sql;                  /* plain INSERT */
	char *sql_upsert;           /* ... ON CONFLICT DO NOTHING */
};

static void pump(struct committer *c);

/* Column types of the INSERT's arrays. */
static const char *const col_type[SC_NCOL] = {
	[SC_STRATEGY_ID] = "int",        [SC_DEDUPE_KEY] = "text",
	[SC_ACTION] = "text",            [SC_PAIR] = "text",
	[SC_DIRECTION] = "text",         [SC_TRADE_ID] = "bigint",
	[SC_ENTER_TAG] = "text",         [SC_EXIT_REASON] = "text",
	[SC_MESSAGE] = "text",           [SC_OPEN_RATE] = "numeric",
	[SC_CLOSE_RATE] = "numeric",     [SC_LIMIT_RATE] = "numeric",
	[SC_CURRENT_RATE] = "numeric",   [SC_AMOUNT] = "numeric",
	[SC_STAKE_AMOUNT] = "numeric",   [SC_STAKE_CURRENCY] = "text",
	[SC_PROFIT_RATIO] = "numeric",   [SC_PROFIT_ABS] = "numeric",
	[SC_OPEN_DATE] = "timestamptz",  [SC_CLOSE_DATE] = "timestamptz",
	[SC_EVENT_AT] = "timestamptz",   [SC_RECEIVED_AT] = "timestamptz",
	[SC_STRENGTH] = "numeric",       [SC_LEVEL] = "text",
	[SC_PRIORITY] = "text",          [SC_STRATEGY_VERSION] = "text",
	[SC_INDICATORS] = "json",        [SC_RAW] = "json",
};

/* The JSON columns travel as one JSON array each. */
static bool json_col(int col)
{
	return col == SC_INDICATORS || col == SC_RAW;
}

static char *build_sql(bool upsert)
{
	struct lc_buf b;
	int rv;
	lc_buf_init(&b, 8192);
	rv = lc_buf_append_str(&b, "INSERT INTO signals (");
	for (int i = 0; i < SC_NCOL; i++)
		rv |= lc_buf_printf(&b, "%s%s", i ? ", " : "",
				    sig_col_name((enum sig_col)i));
	rv |= lc_buf_append_str(&b, ") SELECT * FROM ROWS FROM (");
	for (int i = 0; i < SC_NCOL; i++)
		rv |= json_col(i)
			      ? lc_buf_printf(&b, "%sjson_array_elements("
						  "$%d::json)",
					      i ? ", " : "", i + 1)
			      : lc_buf_printf(&b, "%sunnest($%d::%s[])",
					      i ? ", " : "", i + 1,
					      col_type[i]);
	rv |= lc_buf_append_str(&b, ")");
	if (upsert)
		rv |= lc_buf_append_str(&b, " ON CONFLICT (strategy_id,"
					    " dedupe_key) DO NOTHING");
	rv |= lc_buf_append_str(&b, " RETURNING id, strategy_id, dedupe_key");
	if (rv != 0) {
		lc_buf_release(&b);
		return NULL;
	}
	return lc_buf_detach(&b, NULL);
}

/* ---- queues and entries ---- */

static void push(struct queue *q, struct entry *e)
{
	e->next = NULL;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
}

static void push_front(struct queue *q, struct entry *e)
{
	e->next = q->head;
	q->head = e;
	if (!q->tail)
		q->tail = e;
}

static struct entry *pop(struct queue *q)
{
	struct entry *e = q->head;
	if (e) {
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		e->next = NULL;
	}
	return e;
}

static void entry_free(struct entry *e)
{
	sig_release(&e->sig);
	free(e);
}

/* Answer an entry and free it. */
static void finish(struct entry *e, enum commit_outcome o, int64_t id)
{
	if (e->fn)
		e->fn(e->arg, o, id);
	entry_free(e);
}

static void schedule_pump(struct committer *c)
{
	if (c->pump_ev && !event_pending(c->pump_ev, EV_TIMEOUT, NULL))
		event_active(c->pump_ev, EV_TIMEOUT, 0);
}

static void publish(struct committer *c, const struct entry *e)
{
	int64_t sid = strtoll(sig_get(&e->sig, SC_STRATEGY_ID), NULL, 10);
	events_signal(c->in->events, &e->sig, e->id,
		      strategies_name(c->in->strats, sid));
}

static void alert(struct committer *c, bool raised, const char *why)
{
	events_spool_alert(c->in->events, raised, why, c->spool_since_ms,
			   c->replayed_run,
			   c->in->spool ? spool_bytes(c->in->spool) : 0);
}

/* ---- the spool side ---- */

static void on_spooled(void *arg, int err)
{
	struct entry *e = arg;
	struct committer *c = e->c;
	if (err == 0) {
		lc_series_inc(c->in->m.spooled);
		finish(e, CO_SPOOLED, 0);
	} else {
		finish(e, CO_UNAVAILABLE, 0);
	}
	schedule_pump(c); /* perhaps the spool can be replayed now */
}

/* Into the spool; answered when it is on disk. */
static void to_spool(struct committer *c, struct entry *e)
{
	if (c->closing || !c->in->spool ||
	    spool_append(c->in->spool, &e->sig, on_spooled, e) != 0)
		finish(e, CO_UNAVAILABLE, 0);
}

/* Spooling begins: new signals go to the spool from now on. */
static void begin_spooling(struct committer *c, const char *why)
{
	if (c->spooling)
		return;
	c->spooling = true;
	c->spool_since_ms = lc_clock_wall_ms();
	c->replayed_run = 0;
	log_warn("ingest.spooling", LF_S("reason", why),
		 LF_B("spool", c->in->spool != NULL));
	alert(c, true, why);
}

/* Whatever waits in the lanes for PostgreSQL goes to the spool, in
 * order. Callers first spool anything older (a failed batch's rows):
 * replay follows file order. Rows being retried alone after a data
 * error stay (PostgreSQL refused their batch, so the spool would only
 * defer the verdict past their acknowledgement). */
static void spool_lanes(struct committer *c)
{
	struct entry *e;
	for (int l = 0; l < COMMIT_LANES; l++) {
		struct queue keep = { NULL, NULL };
		while ((e = pop(&c->lanes[l].q)) != NULL) {
			if (e->isolated)
				push(&keep, e);
			else
				to_spool(c, e);
		}
		c->lanes[l].q = keep;
	}
}

static void start_spooling(struct committer *c, const char *why)
{
	begin_spooling(c, why);
	spool_lanes(c);
}

static void stop_spooling(struct committer *c)
{
	c->spooling = false;
	log_info("ingest.spool_replayed",
		 LF_I("signals", (int64_t)c->replayed_run));
	alert(c, false, NULL);
}

/* ---- batches ---- */

static uint64_t key_hash(const struct sig *s)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = sig_get(s, SC_DEDUPE_KEY); *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (const char *p = sig_get(s, SC_STRATEGY_ID); *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static bool same_key(const struct sig *a, const struct sig *b)
{
	return strcmp(sig_get(a, SC_DEDUPE_KEY),
		      sig_get(b, SC_DEDUPE_KEY)) == 0 &&
	       strcmp(sig_get(a, SC_STRATEGY_ID),
		      sig_get(b, SC_STRATEGY_ID)) == 0;
}

/* The row of the batch with s's key, or NULL (then *slot is where to
 * put it). */
static struct entry *lookup(struct batch *b, const struct sig *s,
			    size_t *slot)
{
	size_t i = (size_t)key_hash(s) & b->mask;
	while (b->index[i]) {
		struct entry *e = b->rows[b->index[i] - 1];
		if (same_key(&e->sig, s))
			return e;
		i = (i + 1) & b->mask;
	}
	*slot = i;
	return NULL;
}

static struct batch *batch_new(struct committer *c, bool replay)
{
	size_t cap = 1;
	struct batch *b = calloc(1, sizeof(*b));
	while (cap < 2 * BATCH_MAX_ROWS)
		cap *= 2;
	if (!b)
		return NULL;
	b->rows = malloc(BATCH_MAX_ROWS * sizeof(*b->rows));
	b->index = calloc(cap, sizeof(*b->index));
	if (!b->rows || !b->index) {
		free(b->rows);
		free(b->index);
		free(b);
		return NULL;
	}
	b->mask = cap - 1;
	b->c = c;
	b->replay = replay;
	b->upsert = replay; /* replayed records may be stored already */
	b->t0_ms = lc_clock_mono_ms();
	return b;
}

static void batch_free(struct batch *b)
{
	free(b->rows);
	free(b->index);
	free(b);
}

/* Take signals from the head of q into b: up to the limits, an isolated
 * one alone, a repeated key as a follower of its first row. */
static void batch_fill(struct batch *b, struct queue *q)
{
	size_t bytes = 0, slot;
	struct entry *e;
	while ((e = q->head) != NULL && b->n < BATCH_MAX_ROWS &&
	       bytes < BATCH_MAX_BYTES) {
		if (e->isolated && b->n > 0)
			break;
		pop(q);
		struct entry *row = lookup(b, &e->sig, &slot);
		if (row) {
			e->next = row->followers;
			row->followers = e;
			continue;
		}
		b->rows[b->n++] = e;
		b->index[slot] = (uint32_t)b->n;
		bytes += e->sig.buf.len;
		if (e->isolated)
			break;
	}
}

/* One array literal element: NULL, or "..." with \ and " escaped. */
static int array_elem(struct lc_buf *a, const char *v)
{
	const char *p = v;
	if (!v)
		return lc_buf_append(a, "NULL", 4);
	if (lc_buf_append(a, "\"", 1) != 0)
		return -1;
	while (*p) {
		size_t n = strcspn(p, "\"\\");
		if (lc_buf_append(a, p, n) != 0)
			return -1;
		p += n;
		if (!*p)
			break;
		if (lc_buf_append(a, "\\", 1) != 0 ||
		    lc_buf_append(a, p, 1) != 0)
			return -1;
		p++;
	}
	return lc_buf_append(a, "\"", 1);
}

/* "[v,v,...]" of JSON texts (never NULL: both columns are NOT NULL). */
static int json_array(struct lc_buf *a, const struct batch *b, int col)
{
	if (lc_buf_append(a, "[", 1) != 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		const char *v = sig_get(&b->rows[i]->sig, (enum sig_col)col);
		if ((i && lc_buf_append(a, ",", 1) != 0) ||
		    lc_buf_append_str(a, v ? v : "{}") != 0)
			return -1;
	}
	return lc_buf_append(a, "]", 1);
}

static int array_literal(struct lc_buf *a, const struct batch *b, int col)
{
	if (lc_buf_append(a, "{", 1) != 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		if ((i && lc_buf_append(a, ",", 1) != 0) ||
		    array_elem(a, sig_get(&b->rows[i]->sig,
					  (enum sig_col)col)) != 0)
			return -1;
	}
	return lc_buf_append(a, "}", 1);
}

static int build_params(struct committer *c, const struct batch *b,
			const char **params)
{
	for (int col = 0; col < SC_NCOL; col++) {
		struct lc_buf *a = &c->arr[col];
		lc_buf_reset(a);
		if ((json_col(col) ? json_array(a, b, col)
				   : array_literal(a, b, col)) != 0)
			return -1;
		params[col] = a->data;
	}
	return 0;
}

/* ---- batch outcomes ---- */

/* A row and its followers are resolved: count, publish, answer. A
 * replayed record that was already stored is published too when its id
 * is known: it reached the spool because its commit's outcome was lost,
 * so no event went out for it (subscribers tell repeats by the signal
 * id). */
static void resolve(struct committer *c, struct entry *e, bool stored,
		    bool replay)
{
	struct entry *f = e->followers, *next;
	e->followers = NULL;
	if (stored) {
		lc_series_inc(c->in->m.stored);
		publish(c, e);
	} else {
		lc_series_inc(c->in->m.duplicates);
		if (replay && e->id > 0)
			publish(c, e);
	}
	if (replay) {
		lc_series_inc(c->in->m.replayed);
		c->replayed_run++;
		c->replay_open--;
	}
	finish(e, stored ? CO_STORED : CO_DUPLICATE, stored ? e->id : 0);
	for (; f; f = next) {
		next = f->next;
		lc_series_inc(c->in->m.duplicates);
		if (replay)
			c->replay_open--;
		finish(f, CO_DUPLICATE, 0);
	}
}

/* Set each row's id from (id, strategy_id, dedupe_key) tuples;
 * inserted: they come from the INSERT's RETURNING. */
static void take_ids(struct batch *b, const PGresult *res, bool inserted)
{
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct sig probe;
		struct entry *e;
		size_t slot;
		sig_init(&probe);
		if (sig_set_str(&probe, SC_STRATEGY_ID,
				PQgetvalue(res, i, 1)) == 0 &&
		    sig_set_str(&probe, SC_DEDUPE_KEY,
				PQgetvalue(res, i, 2)) == 0 &&
		    (e = lookup(b, &probe, &slot)) != NULL) {
			e->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			e->inserted = inserted;
		}
		sig_release(&probe);
	}
}

static void resolve_all(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		resolve(b->c, b->rows[i], b->rows[i]->inserted, b->replay);
}

static void on_dup_ids(const PGresult *res, const char *err, void *arg)
{
	struct batch *b = arg;
	struct committer *c = b->c;
	c->replay_inflight = false;
	if (err)
		log_warn("ingest.replay_lookup_failed", LF_S("error", err));
	else
		take_ids(b, res, false);
	resolve_all(b);
	batch_free(b);
	schedule_pump(c);
}

/* Replayed records that were stored already: fetch their ids (for the
 * events). True when the batch now waits for that. */
static bool lookup_repeats(struct batch *b)
{
	static const char sql[] =
		"SELECT s.id, s.strategy_id, s.dedupe_key FROM signals s"
		" JOIN unnest($1::int[], $2::text[]) AS k(sid, key)"
		" ON s.strategy_id = k.sid AND s.dedupe_key = k.key";
	struct committer *c = b->c;
	struct lc_buf *ids = &c->arr[0], *keys = &c->arr[1];
	const char *params[2];
	size_t n = 0;
	lc_buf_reset(ids);
	lc_buf_reset(keys);
	int rv = lc_buf_append(ids, "{", 1) | lc_buf_append(keys, "{", 1);
	for (size_t i = 0; i < b->n && rv == 0; i++) {
		const struct sig *s = &b->rows[i]->sig;
		if (b->rows[i]->id > 0)
			continue;
		rv |= (n ? lc_buf_append(ids, ",", 1) |
				   lc_buf_append(keys, ",", 1)
			 : 0) |
		      array_elem(ids, sig_get(s, SC_STRATEGY_ID)) |
		      array_elem(keys, sig_get(s, SC_DEDUPE_KEY));
		n++;
	}
	rv |= lc_buf_append(ids, "}", 1) | lc_buf_append(keys, "}", 1);
	if (n == 0 || rv != 0)
		return false;
	params[0] = ids->data;
	params[1] = keys->data;
	if (lc_db_query_timeout(c->in->cdb, COMMIT_TIMEOUT_MS, sql, 2, params,
				on_dup_ids, b) != 0)
		return false;
	c->replay_inflight = true;
	return true;
}

/* The batch is committed. False when it is not finished yet. */
static bool batch_stored(struct batch *b, const PGresult *res)
{
	struct committer *c = b->c;
	take_ids(b, res, true);
	lc_series_observe(c->in->m.commit_s,
			  (double)(lc_clock_mono_ms() - b->t0_ms) / 1000.0);
	lc_series_observe(c->in->m.batch_rows, (double)b->n);
	c->retry_ms = 0;
	if (b->replay && lookup_repeats(b))
		return false;
	/* The lane's next batch goes out before this one's answers and
	 * events are made: PostgreSQL works on it meanwhile, instead of
	 * waiting for us. */
	if (!b->replay)
		pump(c);
	resolve_all(b);
	return true;
}

/* PostgreSQL refused the batch for its data: each row alone, and a row
 * refused alone fails. */
static void batch_refused(struct batch *b, const char *err)
{
	struct committer *c = b->c;
	struct queue *q = b->replay ? &c->rq : &c->lanes[b->lane].q;
	if (b->n == 1) {
		struct entry *e = b->rows[0], *f, *next;
		log_error("ingest.row_refused", LF_S("error", err),
			  LF_S("dedupe_key", sig_get(&e->sig, SC_DEDUPE_KEY)),
			  LF_B("replay", b->replay));
		for (f = e; f; f = next) {
			next = f == e ? e->followers : f->next;
			lc_series_inc(c->in->m.refused);
			if (b->replay)
				c->replay_open--;
			finish(f, CO_FAILED, 0);
		}
		return;
	}
	/* back to the front, in their order, each alone */
	for (size_t i = b->n; i-- > 0;) {
		struct entry *e = b->rows[i], *f = e->followers, *next;
		e->followers = NULL;
		for (; f; f = next) {
			next = f->next;
			f->isolated = true;
			push_front(q, f);
		}
		e->isolated = true;
		push_front(q, e);
	}
}

/* PostgreSQL could not take the batch: to the spool (direct), or read
 * again later (replay). */
static void batch_unavailable(struct batch *b, const char *err)
{
	struct committer *c = b->c;
	struct entry *e, *f, *next;
	if (b->replay) {
		for (size_t i = 0; i < b->n; i++) {
			for (f = b->rows[i]->followers; f; f = next) {
				next = f->next;
				entry_free(f);
			}
			entry_free(b->rows[i]);
		}
		while ((e = pop(&c->rq)) != NULL)
			entry_free(e);
		c->replay_open = 0;
		if (c->in->spool)
			spool_unread(c->in->spool);
		c->retry_ms = c->retry_ms ? c->retry_ms * 2
					  : REPLAY_RETRY_MIN_MS;
		if (c->retry_ms > REPLAY_RETRY_MAX_MS)
			c->retry_ms = REPLAY_RETRY_MAX_MS;
		log_warn("ingest.replay_failed", LF_S("error", err),
			 LF_I("retry_ms", c->retry_ms));
		if (!c->closing) {
			struct timeval tv;
			lc_clock_tv(&tv, c->retry_ms);
			c->retry_wait = true;
			event_add(c->retry_ev, &tv);
		}
		return;
	}
	/* The batch's rows came before those queued behind it in the
	 * lanes: they go to the spool first, so that replay stores them
	 * first. */
	if (!c->closing)
		begin_spooling(c, err);
	for (size_t i = 0; i < b->n; i++) {
		f = b->rows[i]->followers;
		b->rows[i]->followers = NULL;
		to_spool(c, b->rows[i]);
		for (; f; f = next) {
			next = f->next;
			to_spool(c, f);
		}
	}
	if (!c->closing)
		spool_lanes(c);
}

/* Data the server will never take, as opposed to a server that cannot
 * take anything now. */
static bool refused_for_data(const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
			     : NULL;
	return st && (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 ||
		      strncmp(st, "42", 2) == 0);
}

static void send_batch(struct committer *c, struct batch *b);

static bool unique_violation(const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
			     : NULL;
	return st && strcmp(st, "23505") == 0;
}

static void on_batch(const PGresult *res, const char *err, void *arg)
{
	struct batch *b = arg;
	struct committer *c = b->c;
	if (b->replay)
		c->replay_inflight = false;
	else
		c->lanes[b->lane].busy = false;
	if (err && !b->upsert && unique_violation(res) && !c->closing) {
		/* a retry met its first copy: once more, skipping repeats */
		b->upsert = true;
		send_batch(c, b);
		return;
	}
	if (!err) {
		if (!batch_stored(b, res))
			return; /* on_dup_ids finishes it */
	} else if (refused_for_data(res) && !c->closing)
		batch_refused(b, err);
	else
		batch_unavailable(b, err);
	batch_free(b);
	schedule_pump(c);
}

static void send_batch(struct committer *c, struct batch *b)
{
	const char *params[SC_NCOL];
	if (b->replay)
		c->replay_inflight = true;
	else
		c->lanes[b->lane].busy = true;
	if (build_params(c, b, params) != 0 ||
	    lc_db_query_timeout(c->in->cdb, COMMIT_TIMEOUT_MS,
				b->upsert ? c->sql_upsert : c->sql, SC_NCOL,
				params, on_batch, b) != 0)
		on_batch(NULL, "cannot build or submit the batch", b);
}

/* ---- the pump ---- */

/* Records from the spool into rq, when the previous read is done. */
static bool refill_replay(struct committer *c)
{
	struct sig rows[64];
	size_t n = 0, got = 0;
	struct spool *sp = c->in->spool;
	if (!sp)
		return false;
	spool_consumed(sp); /* everything read before is resolved */
	while (got < REPLAY_BATCH) {
		for (size_t i = 0; i < 64; i++)
			sig_init(&rows[i]);
		if (spool_read(sp, rows, 64, &n) != 0)
			n = 0;
		for (size_t i = 0; i < n; i++) {
			struct entry *e = calloc(1, sizeof(*e));
			if (!e) {
				sig_release(&rows[i]);
				continue;
			}
			e->c = c;
			sig_move(&e->sig, &rows[i]);
			push(&c->rq, e);
			c->replay_open++;
		}
		for (size_t i = n; i < 64; i++)
			sig_release(&rows[i]);
		got += n;
		if (n < 64)
			break;
	}
	return got > 0;
}

static void pump_replay(struct committer *c)
{
	struct batch *b;
	/* the events of the last batch go out first (events.h) */
	if (!c->db_ready || c->replay_inflight || c->retry_wait ||
	    c->draining || c->closing || !strategies_loaded(c->in->strats) ||
	    events_backlog(c->in->events) > 0)
		return;
	if (!c->rq.head && c->replay_open == 0 && !refill_replay(c)) {
		if (!c->in->spool || spool_empty(c->in->spool))
			stop_spooling(c);
		return;
	}
	if (!c->rq.head)
		return;
	b = batch_new(c, true);
	if (!b)
		return;
	batch_fill(b, &c->rq);
	send_batch(c, b);
}

static void pump(struct committer *c)
{
	if (c->spooling)
		pump_replay(c);
	/* while spooling, the lanes hold only rows retried alone */
	if (c->spooling && !c->db_ready)
		return;
	for (int l = 0; l < COMMIT_LANES; l++) {
		struct lane *ln = &c->lanes[l];
		struct batch *b;
		if (ln->busy || !ln->q.head)
			continue;
		b = batch_new(c, false);
		if (!b)
			return;
		b->lane = l;
		batch_fill(b, &ln->q);
		send_batch(c, b);
	}
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct committer *c = arg;
	(void)fd;
	(void)what;
	c->retry_wait = false;
	pump(c);
}

/* ---- interface ---- */

int commit_submit(struct committer *c, struct sig *s, commit_done_fn fn,
		  void *arg)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	e->c = c;
	sig_move(&e->sig, s);
	e->fn = fn;
	e->arg = arg;
	e->lane = (int)(strtoll(sig_get(&e->sig, SC_STRATEGY_ID), NULL, 10) %
			COMMIT_LANES);
	if (c->spooling || !c->db_ready) {
		if (!c->spooling)
			start_spooling(c, "no connection to PostgreSQL");
		to_spool(c, e);
		return 0;
	}
	push(&c->lanes[e->lane].q, e);
	schedule_pump(c);
	return 0;
}

void commit_db_state(struct committer *c, bool ready)
{
	c->db_ready = ready;
	if (ready) {
		c->retry_ms = 0;
		if (c->retry_wait) {
			event_del(c->retry_ev);
			c->retry_wait = false;
		}
	}
	schedule_pump(c);
}

bool commit_idle(const struct committer *c)
{
	for (int l = 0; l < COMMIT_LANES; l++)
		if (c->lanes[l].q.head || c->lanes[l].busy)
			return false;
	return !c->replay_inflight &&
	       (!c->in->spool || spool_idle(c->in->spool));
}

bool commit_spooling(const struct committer *c)
{
	return c->spooling;
}

void commit_drain(struct committer *c)
{
	c->draining = true;
}

void commit_kick(struct committer *c)
{
	schedule_pump(c);
}

struct committer *commit_new(struct ingest *in)
{
	struct committer *c = calloc(1, sizeof(*c));
	struct event_base *base = in->svc->d.base;
	if (!c)
		return NULL;
	c->in = in;
	for (int i = 0; i < SC_NCOL; i++)
		lc_buf_init(&c->arr[i], (size_t)1 << 30);
	c->sql = build_sql(false);
	c->sql_upsert = build_sql(true);
	c->pump_ev = event_new(base, -1, 0, on_pump, c);
	c->retry_ev = evtimer_new(base, on_retry, c);
	if (!c->sql || !c->sql_upsert || !c->pump_ev || !c->retry_ev) {
		commit_free(c);
		return NULL;
	}
	/* signals left in the spool by an earlier run go first */
	if (in->spool && !spool_empty(in->spool))
		start_spooling(c, "spool left by an earlier run");
	return c;
}

void commit_free(struct committer *c)
{
	struct entry *e;
	if (!c)
		return;
	/* In this order: batches in flight are cancelled (and answered)
	 * while the spool still exists; then appends still pending in the
	 * spool are answered while the committer still exists. */
	c->closing = true;
	lc_db_free(c->in->cdb);
	c->in->cdb = NULL;
	spool_free(c->in->spool);
	c->in->spool = NULL;
	for (int l = 0; l < COMMIT_LANES; l++)
		while ((e = pop(&c->lanes[l].q)) != NULL)
			finish(e, CO_UNAVAILABLE, 0);
	while ((e = pop(&c->rq)) != NULL)
		entry_free(e);
	if (c->pump_ev)
		event_free(c->pump_ev);
	if (c->retry_ev)
		event_free(c->retry_ev);
	for (int i = 0; i < SC_NCOL; i++)
		lc_buf_release(&c->arr[i]);
	free(c->sql);
	free(c->sql_upsert);
	free(c);
}
