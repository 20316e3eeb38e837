/* PostgreSQL connection pool: the loop's callbacks, janitor, public API.
 * The design is explained in db.h. */
#include "libcommon/db_internal.h"

#include "libcommon/backoff.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TICK_MS 50              /* janitor period: deadlines, reconnects */
#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 10000

/* ---- the loop's side: callbacks and the janitor ------------------------ */

static void deliver(struct lc_db *db, struct db_req *r)
{
	const char *err = NULL;
	if (r->failed) {
		err = r->err ? r->err : "out of memory";
		db->st.errors++;
		db->st.timeouts += r->timed_out;
		db->st.rejected += r->rejected;
	}
	if (r->kind == REQ_ACQUIRE)
		r->acb(err ? NULL : r->handle, err, r->arg);
	else if (r->qcb)
		r->qcb(r->res, err, r->arg);
	db_req_free(r);
}

static void db_destroy(struct lc_db *db);

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_db *db = arg;
	db->depth++;
	struct db_req *r;
	while (!db->free_pending && (r = db_list_pop(&db->done)) != NULL)
		deliver(db, r);
	bool ready = db_any_up(db);
	if (!db->free_pending && ready != db->reported_ready) {
		db->reported_ready = ready;
		if (db->on_state)
			db->on_state(ready, db->state_arg);
	}
	db->depth--;
	if (db->free_pending && db->depth == 0)
		db_destroy(db);
}

static void expire_list(struct lc_db *db, struct req_list *l, int64_t now,
			const char *why)
{
	struct db_req *r = l->head;
	while (r) {
		struct db_req *next = r->next;
		if (now >= r->deadline) {
			db_list_remove(l, r);
			db->nwaiting--;
			r->timed_out = true;
			db_req_fail(db, r, why, NULL);
		}
		r = next;
	}
}

static void slot_tick(struct lc_db_conn *s, int64_t now)
{
	switch (s->state) {
	case SLOT_DOWN:
		if (!s->held && s->retry_at && now >= s->retry_at)
			db_slot_connect(s);
		break;
	case SLOT_CONNECTING:
	case SLOT_SETUP:
		if (now >= s->connect_deadline)
			db_slot_down(s, "connect timed out");
		break;
	case SLOT_BUSY:
		if (s->cur && now >= s->cur->deadline) {
			struct db_req *r = s->cur;
			s->cur = NULL;
			r->timed_out = true;
			db_req_fail(s->db, r, "timed out", "query abandoned");
			/* PQcancel would block: drop the connection instead */
			db_slot_down(s, "query timed out, connection dropped");
		}
		break;
	case SLOT_IDLE:
		break;
	}
	if (s->held)
		expire_list(s->db, &s->queue, now, "timed out");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_db *db = arg;
	int64_t now = lc_clock_mono_ms();
	for (int i = 0; i < db->npool; i++)
		slot_tick(&db->slots[i], now);
	expire_list(db, &db->queue, now, "timed out waiting for a connection");
	db_pump(db);
}

/* ---- public ------------------------------------------------------------ */

/* Check the connection string without quoting it anywhere, and keep its
 * password out of every log line. */
static int check_conninfo(const char *conninfo, char *err, size_t errlen)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		PQfreemem(perr);
		snprintf(err, errlen, "invalid PostgreSQL connection string");
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val)
			lc_log_redact(o->val);
	PQconninfoFree(opts);
	return 0;
}

/* The settings, defaults filled in. */
static void take_config(struct lc_db *db, const struct lc_db_config *cfg)
{
	int64_t stmt = cfg->statement_timeout_ms;
	db->queue_max = cfg->queue_max ? cfg->queue_max : LC_DB_QUEUE_MAX;
	db->stmt_timeout_ms = stmt > 0 ? stmt
			      : stmt < 0 ? 0
					 : LC_DB_STATEMENT_TIMEOUT_MS;
	db->query_timeout_ms = cfg->query_timeout_ms;
	if (db->query_timeout_ms <= 0)
		db->query_timeout_ms = (db->stmt_timeout_ms
						? db->stmt_timeout_ms
						: LC_DB_STATEMENT_TIMEOUT_MS) +
				       LC_DB_DEADLINE_GRACE_MS;
	db->connect_timeout_ms = cfg->connect_timeout_ms > 0
					 ? cfg->connect_timeout_ms
					 : LC_DB_CONNECT_TIMEOUT_MS;
	db->on_state = cfg->on_state;
	db->state_arg = cfg->state_arg;
	int64_t bbase = cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms
						 : BACKOFF_BASE_MS;
	int64_t bmax = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms
					       : BACKOFF_MAX_MS;
	for (int i = 0; i < db->npool; i++) {
		struct lc_db_conn *s = &db->slots[i];
		s->db = db;
		s->id = i;
		lc_backoff_init(&s->backoff, bbase, bmax, 0);
	}
}

struct lc_db *lc_db_new(struct event_base *base,
			const struct lc_db_config *cfg, char *err,
			size_t errlen)
{
	if (!base || !cfg || !cfg->conninfo) {
		snprintf(err, errlen, "db: event base and conninfo required");
		return NULL;
	}
	int npool = cfg->pool_size ? cfg->pool_size : LC_DB_POOL_SIZE;
	if (npool < 1 || npool > LC_DB_POOL_MAX || cfg->queue_max < 0) {
		snprintf(err, errlen,
			 "db: pool_size must be 1..%d and queue_max >= 0",
			 LC_DB_POOL_MAX);
		return NULL;
	}
	if (check_conninfo(cfg->conninfo, err, errlen) != 0)
		return NULL;
	struct lc_db *db = calloc(1, sizeof(*db));
	if (!db)
		goto nomem;
	db->base = base;
	db->npool = npool;
	db->conninfo = strdup(cfg->conninfo);
	db->name = strdup(cfg->name ? cfg->name : "db");
	db->slots = calloc((size_t)npool, sizeof(*db->slots));
	db->kick = event_new(base, -1, 0, on_kick, db);
	db->tick = event_new(base, -1, EV_PERSIST, on_tick, db);
	if (!db->conninfo || !db->name || !db->slots || !db->kick ||
	    !db->tick)
		goto nomem;
	take_config(db, cfg);
	struct timeval tv;
	lc_clock_tv(&tv, TICK_MS);
	if (event_add(db->tick, &tv) != 0)
		goto nomem;
	for (int i = 0; i < npool; i++)
		db_slot_connect(&db->slots[i]);
	return db;
nomem:
	snprintf(err, errlen, "db: out of memory");
	db_destroy(db);
	return NULL;
}

/* Answer everything with "cancelled", run those callbacks, close and
 * free. Called with no callback of ours on the stack. */
static void db_destroy(struct lc_db *db)
{
	if (!db)
		return;
	db->closing = true;
	db->depth++;
	if (db->kick) {
		db_fail_list(db, &db->queue, "cancelled",
			     "database client freed");
		for (int i = 0; db->slots && i < db->npool; i++) {
			struct lc_db_conn *s = &db->slots[i];
			if (s->cur) {
				db_req_fail(db, s->cur, "cancelled",
					    "database client freed");
				s->cur = NULL;
			}
			db_fail_list(db, &s->queue, "cancelled",
				     "database client freed");
		}
		/* a handle not yet delivered will never be usable */
		for (struct db_req *r = db->done.head; r; r = r->next) {
			if (r->kind == REQ_ACQUIRE && !r->failed) {
				r->failed = true;
				r->err = db_one_line_dup(
					"cancelled", "database client freed");
			}
		}
		struct db_req *r;
		while ((r = db_list_pop(&db->done)) != NULL)
			deliver(db, r);
	}
	for (int i = 0; db->slots && i < db->npool; i++)
		db_slot_close(&db->slots[i]);
	if (db->kick)
		event_free(db->kick);
	if (db->tick)
		event_free(db->tick);
	free(db->slots);
	free(db->conninfo);
	free(db->name);
	free(db);
}

void lc_db_free(struct lc_db *db)
{
	if (!db)
		return;
	if (db->depth > 0) {
		db->free_pending = true; /* on_kick finishes it */
		return;
	}
	db_destroy(db);
}

bool lc_db_ready(const struct lc_db *db)
{
	return db && !db->closing && db_any_up(db);
}

void lc_db_get_stats(const struct lc_db *db, struct lc_db_stats *out)
{
	*out = db->st;
	out->conns_up = out->conns_busy = 0;
	for (int i = 0; i < db->npool; i++) {
		out->conns_up += db_slot_up(&db->slots[i]);
		out->conns_busy += db->slots[i].state == SLOT_BUSY;
	}
	out->queued = db->nwaiting;
}

/* Take a request: queue it, or answer it at once (through the loop) when
 * it cannot wait. c is the held connection, or NULL for any. */
static int submit(struct lc_db *db, struct lc_db_conn *c, struct db_req *r,
		  int64_t timeout_ms)
{
	r->deadline = lc_clock_mono_ms() +
		      (timeout_ms > 0 ? timeout_ms : db->query_timeout_ms);
	db->st.queries++;
	if (c && c->broken) {
		db_req_fail(db, r, "connection lost", db->last_err);
		return 0;
	}
	if (!c && !db_any_up(db)) {
		r->rejected = true;
		db_req_fail(db, r, "database unavailable", db->last_err);
		return 0;
	}
	if (db->nwaiting >= db->queue_max) {
		r->rejected = true;
		db_req_fail(db, r, "queue full", NULL);
		return 0;
	}
	db_list_push(c ? &c->queue : &db->queue, r);
	db->nwaiting++;
	db_pump(db);
	return 0;
}

static struct db_req *query_new(const char *sql, int nparams,
				const char *const *params,
				lc_db_result_cb cb, void *arg)
{
	if (!sql || nparams < 0 || nparams > LC_DB_MAX_PARAMS ||
	    (nparams > 0 && !params))
		return NULL;
	struct db_req *r = db_req_new(REQ_QUERY, sql, nparams, params);
	if (r) {
		r->qcb = cb;
		r->arg = arg;
	}
	return r;
}

int lc_db_query_timeout(struct lc_db *db, int64_t timeout_ms,
			const char *sql, int nparams,
			const char *const *params, lc_db_result_cb cb,
			void *arg)
{
	if (!db || db->closing)
		return -1;
	struct db_req *r = query_new(sql, nparams, params, cb, arg);
	if (!r)
		return -1;
	return submit(db, NULL, r, timeout_ms);
}

int lc_db_query(struct lc_db *db, const char *sql, int nparams,
		const char *const *params, lc_db_result_cb cb, void *arg)
{
	return lc_db_query_timeout(db, 0, sql, nparams, params, cb, arg);
}

int lc_db_acquire(struct lc_db *db, lc_db_conn_cb cb, void *arg)
{
	if (!db || db->closing || !cb)
		return -1;
	struct db_req *r = db_req_new(REQ_ACQUIRE, NULL, 0, NULL);
	if (!r)
		return -1;
	r->acb = cb;
	r->arg = arg;
	return submit(db, NULL, r, 0);
}

int lc_db_conn_query_timeout(struct lc_db_conn *c, int64_t timeout_ms,
			     const char *sql, int nparams,
			     const char *const *params, lc_db_result_cb cb,
			     void *arg)
{
	if (!c || !c->held || c->release_pending || c->db->closing)
		return -1;
	struct db_req *r = query_new(sql, nparams, params, cb, arg);
	if (!r)
		return -1;
	return submit(c->db, c, r, timeout_ms);
}

int lc_db_conn_query(struct lc_db_conn *c, const char *sql, int nparams,
		     const char *const *params, lc_db_result_cb cb,
		     void *arg)
{
	return lc_db_conn_query_timeout(c, 0, sql, nparams, params, cb, arg);
}

void lc_db_release(struct lc_db_conn *c)
{
	if (!c || !c->held || c->release_pending)
		return;
	c->release_pending = true;
	if (c->db->closing)
		return;
	if (c->broken)
		db_slot_unhold(c);
	else
		db_pump(c->db);
}
