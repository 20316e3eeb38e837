/* PostgreSQL connection pool on the event loop (see db.h). */
#include "libcommon/db.h"

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
#define CHECK_INTERVAL_MS "1000" /* client_connection_check_interval */
#define LAST_ERR_MAX 300        /* kept reason of the last failure */

/* Session settings run on every new connection before it serves anyone. */
static const char setup_sql[] =
	"SELECT set_config('statement_timeout', $1, false),"
	" set_config('client_connection_check_interval', $2, false)";

enum req_kind {
	REQ_QUERY,    /* a caller's statement */
	REQ_ACQUIRE,  /* a caller waiting for a connection of its own */
	REQ_SETUP,    /* internal: session settings after connecting */
	REQ_ROLLBACK, /* internal: clean a released connection */
};

/* One request. It is always in exactly one place: db->queue, a held
 * connection's queue, a connection's `cur`, or db->done. */
struct db_req {
	struct db_req *prev, *next;
	enum req_kind kind;
	lc_db_result_cb qcb;       /* REQ_QUERY callback, may be NULL */
	lc_db_conn_cb acb;         /* REQ_ACQUIRE callback */
	void *arg;                 /* for the callback */
	int64_t deadline;          /* monotonic ms */
	const char *sql;           /* copy, in the same allocation */
	int nparams;
	const char **params;       /* copies, in the same allocation */
	PGresult *res;             /* owned; result to hand to qcb */
	char *err;                 /* owned; set with failed */
	bool failed;               /* the callback gets an error */
	bool timed_out;            /* ...because its deadline passed */
	bool rejected;             /* ...because it was refused at once */
	struct lc_db_conn *handle; /* REQ_ACQUIRE: the connection given */
};

struct req_list {
	struct db_req *head, *tail;
};

enum slot_state {
	SLOT_DOWN,       /* no connection; maybe a reconnect scheduled */
	SLOT_CONNECTING, /* PQconnectPoll in progress */
	SLOT_SETUP,      /* connected, running setup_sql */
	SLOT_IDLE,       /* up, nothing running */
	SLOT_BUSY,       /* up, cur running */
};

/* A pool slot. The same object is the handle lc_db_acquire gives out. */
struct lc_db_conn {
	struct lc_db *db;
	int id;                  /* index in the pool, for logs */
	enum slot_state state;
	PGconn *pg;              /* owned; NULL when DOWN */
	struct event *ev_rd;     /* connecting: one-shot; up: persistent */
	struct event *ev_wr;     /* up: persistent write while output waits */
	struct db_req *cur;      /* the request running on the server */
	struct req_list queue;   /* held: the holder's statements, in order */
	bool held;               /* given out by lc_db_acquire */
	bool release_pending;    /* lc_db_release called, not yet done */
	bool broken;             /* held and its connection was lost */
	bool ever_up;            /* has been up once (reconnect counting) */
	int64_t retry_at;        /* DOWN: when to reconnect; 0 = not yet */
	int64_t connect_deadline; /* CONNECTING/SETUP: give up at */
	struct lc_backoff backoff;
};

struct lc_db {
	struct event_base *base;    /* borrowed */
	char *conninfo;             /* owned; never logged */
	char *name;                 /* owned; for logs */
	int npool;
	int queue_max;
	int64_t stmt_timeout_ms;    /* 0 = off */
	int64_t query_timeout_ms;
	int64_t connect_timeout_ms;
	void (*on_state)(bool ready, void *arg);
	void *state_arg;
	struct lc_db_conn *slots;   /* owned, npool of them */
	struct req_list queue;      /* waiting for any connection */
	struct req_list done;       /* answered, callbacks not yet run */
	int nwaiting;               /* in queue and in every held queue */
	struct event *kick;         /* runs the callbacks in done */
	struct event *tick;         /* the janitor */
	char last_err[LAST_ERR_MAX]; /* why the last connection failed */
	bool reported_ready;        /* what on_state was last told */
	bool closing;               /* being freed: refuse new work */
	bool free_pending;          /* lc_db_free called from a callback */
	int depth;                  /* our callback-running frames */
	struct lc_db_stats st;
};

static void slot_down(struct lc_db_conn *s, const char *why);
static void slot_run(struct lc_db_conn *s, struct db_req *r);
static void pump(struct lc_db *db);

/* ---- small helpers ---------------------------------------------------- */

static void list_push(struct req_list *l, struct db_req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_remove(struct req_list *l, struct db_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

static struct db_req *list_pop(struct req_list *l)
{
	struct db_req *r = l->head;
	if (r)
		list_remove(l, r);
	return r;
}

/* Copy "prefix: msg" into out on one line: control characters become
 * spaces, runs of spaces and trailing space are dropped. */
static void one_line(char *out, size_t outlen, const char *prefix,
		     const char *msg)
{
	int n = snprintf(out, outlen, "%s%s%s", prefix ? prefix : "",
			 prefix && msg && *msg ? ": " : "", msg ? msg : "");
	if (n < 0 || outlen == 0)
		return;
	size_t w = 0;
	for (size_t i = 0; out[i]; i++) {
		char ch = (unsigned char)out[i] < 0x20 ? ' ' : out[i];
		if (ch == ' ' && (w == 0 || out[w - 1] == ' '))
			continue;
		out[w++] = ch;
	}
	while (w > 0 && out[w - 1] == ' ')
		w--;
	out[w] = '\0';
}

static char *one_line_dup(const char *prefix, const char *msg)
{
	size_t len = (prefix ? strlen(prefix) : 0) + (msg ? strlen(msg) : 0)
		     + 3;
	char *out = malloc(len);
	if (out)
		one_line(out, len, prefix, msg);
	return out;
}

/* A request with copies of sql and params in one allocation. */
static struct db_req *req_new(enum req_kind kind, const char *sql,
			      int nparams, const char *const *params)
{
	size_t sl = sql ? strlen(sql) + 1 : 0;
	size_t size = sizeof(struct db_req) + (size_t)nparams * sizeof(char *)
		      + sl;
	for (int i = 0; i < nparams; i++)
		if (params[i])
			size += strlen(params[i]) + 1;
	struct db_req *r = calloc(1, size);
	if (!r)
		return NULL;
	r->kind = kind;
	/* sizeof(struct db_req) is a multiple of its pointer alignment */
	const char **pv = (const char **)(void *)(r + 1);
	char *p = (char *)(pv + nparams);
	if (sql) {
		memcpy(p, sql, sl);
		r->sql = p;
		p += sl;
	}
	for (int i = 0; i < nparams; i++) {
		if (!params[i]) {
			pv[i] = NULL;
			continue;
		}
		size_t n = strlen(params[i]) + 1;
		memcpy(p, params[i], n);
		pv[i] = p;
		p += n;
	}
	r->params = pv;
	r->nparams = nparams;
	return r;
}

static void req_free(struct db_req *r)
{
	PQclear(r->res);
	free(r->err);
	free(r);
}

static bool internal(const struct db_req *r)
{
	return r->kind == REQ_SETUP || r->kind == REQ_ROLLBACK;
}

static bool slot_up(const struct lc_db_conn *s)
{
	return s->state == SLOT_IDLE || s->state == SLOT_BUSY;
}

static bool any_up(const struct lc_db *db)
{
	for (int i = 0; i < db->npool; i++)
		if (slot_up(&db->slots[i]))
			return true;
	return false;
}

/* Hand r to the loop: its callback runs from on_kick, never from inside
 * the caller's own call into this module. */
static void req_done(struct lc_db *db, struct db_req *r)
{
	list_push(&db->done, r);
	event_active(db->kick, EV_TIMEOUT, 0);
}

static void req_fail(struct lc_db *db, struct db_req *r, const char *prefix,
		     const char *msg)
{
	if (internal(r)) {
		req_free(r);
		return;
	}
	r->failed = true;
	free(r->err);
	r->err = one_line_dup(prefix, msg);
	req_done(db, r);
}

static void fail_list(struct lc_db *db, struct req_list *l,
		      const char *prefix, const char *msg)
{
	struct db_req *r;
	while ((r = list_pop(l)) != NULL) {
		db->nwaiting--;
		req_fail(db, r, prefix, msg);
	}
}

/* Ask on_kick to tell on_state if readiness changed. */
static void note_state(struct lc_db *db)
{
	if (any_up(db) != db->reported_ready)
		event_active(db->kick, EV_TIMEOUT, 0);
}

/* ---- one connection ----------------------------------------------------- */

static void on_notice(void *arg, const char *message)
{
	struct lc_db_conn *s = arg;
	char line[512];
	one_line(line, sizeof(line), NULL, message);
	log_debug("db.notice", LF_S("db", s->db->name), LF_I("conn", s->id),
		  LF_S("message", line));
}

static void slot_close(struct lc_db_conn *s)
{
	if (s->ev_rd)
		event_free(s->ev_rd);
	if (s->ev_wr)
		event_free(s->ev_wr);
	s->ev_rd = s->ev_wr = NULL;
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
}

static void schedule_retry(struct lc_db_conn *s)
{
	s->retry_at = lc_clock_mono_ms() + lc_backoff_next(&s->backoff);
}

/* Give a held connection back to the pool once nothing of the holder's
 * is left on it. */
static void slot_unhold(struct lc_db_conn *s)
{
	s->held = false;
	s->release_pending = false;
	if (s->broken) {
		s->broken = false;
		schedule_retry(s);
	}
}

/*
 * The connection failed or was abandoned: the running request (if any)
 * and a holder's queued statements fail, the connection is closed, and a
 * reconnect is scheduled with backoff — unless the slot is held, in which
 * case it stays broken until released (a transaction cannot move to a
 * new session). When no connection is left up, everything waiting fails:
 * we fail fast rather than queue while the database is down.
 */
static void slot_down(struct lc_db_conn *s, const char *why)
{
	struct lc_db *db = s->db;
	char reason[LAST_ERR_MAX];
	one_line(reason, sizeof(reason), NULL, why);
	if (slot_up(s)) {
		db->st.disconnects++;
		log_warn("db.disconnected", LF_S("db", db->name),
			 LF_I("conn", s->id), LF_S("reason", reason));
	} else {
		log_warn("db.connect_failed", LF_S("db", db->name),
			 LF_I("conn", s->id),
			 LF_I("attempt", s->backoff.attempt),
			 LF_S("reason", reason));
	}
	snprintf(db->last_err, sizeof(db->last_err), "%s", reason);
	if (s->cur) {
		struct db_req *r = s->cur;
		s->cur = NULL;
		req_fail(db, r, "connection lost", reason);
	}
	slot_close(s);
	s->state = SLOT_DOWN;
	s->retry_at = 0;
	if (s->held) {
		s->broken = true;
		fail_list(db, &s->queue, "connection lost", reason);
		if (s->release_pending)
			slot_unhold(s);
	} else {
		schedule_retry(s);
	}
	if (!any_up(db))
		fail_list(db, &db->queue, "database unavailable", reason);
	note_state(db);
}

/* Watch the socket for the direction PQconnectPoll asked for. The socket
 * may change between polls, so the event is made anew each time. */
static int slot_wait(struct lc_db_conn *s, short what, event_callback_fn fn)
{
	if (s->ev_rd)
		event_free(s->ev_rd);
	s->ev_rd = event_new(s->db->base, PQsocket(s->pg), what, fn, s);
	if (!s->ev_rd || event_add(s->ev_rd, NULL) != 0)
		return -1;
	return 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

/* Connected: switch to non-blocking sends and run the session setup. */
static void slot_connected(struct lc_db_conn *s)
{
	struct lc_db *db = s->db;
	int fd = PQsocket(s->pg);
	if (PQsetnonblocking(s->pg, 1) != 0) {
		slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	event_free(s->ev_rd);
	s->ev_rd = event_new(db->base, fd, EV_READ | EV_PERSIST, on_read, s);
	s->ev_wr = event_new(db->base, fd, EV_WRITE | EV_PERSIST, on_write, s);
	if (!s->ev_rd || !s->ev_wr || event_add(s->ev_rd, NULL) != 0) {
		slot_down(s, "cannot watch the connection's socket");
		return;
	}
	char tmo[32];
	snprintf(tmo, sizeof(tmo), "%lld", (long long)db->stmt_timeout_ms);
	const char *params[] = { tmo, CHECK_INTERVAL_MS };
	struct db_req *r = req_new(REQ_SETUP, setup_sql, 2, params);
	if (!r) {
		slot_down(s, "out of memory");
		return;
	}
	r->deadline = s->connect_deadline;
	s->state = SLOT_SETUP;
	slot_run(s, r);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_db_conn *s = arg;
	int rv;
	switch (PQconnectPoll(s->pg)) {
	case PGRES_POLLING_READING:
		rv = slot_wait(s, EV_READ, on_connect_io);
		break;
	case PGRES_POLLING_WRITING:
		rv = slot_wait(s, EV_WRITE, on_connect_io);
		break;
	case PGRES_POLLING_OK:
		slot_connected(s);
		return;
	default:
		slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	if (rv != 0)
		slot_down(s, "cannot watch the connection's socket");
}

static void slot_connect(struct lc_db_conn *s)
{
	struct lc_db *db = s->db;
	s->retry_at = 0;
	s->connect_deadline = lc_clock_mono_ms() + db->connect_timeout_ms;
	s->state = SLOT_CONNECTING;
	s->pg = PQconnectStart(db->conninfo);
	if (!s->pg) {
		slot_down(s, "out of memory");
		return;
	}
	if (PQstatus(s->pg) == CONNECTION_BAD) {
		slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	PQsetNoticeProcessor(s->pg, on_notice, s);
	/* libpq: start as if PQconnectPoll had asked to write */
	if (slot_wait(s, EV_WRITE, on_connect_io) != 0)
		slot_down(s, "cannot watch the connection's socket");
}

/* Setup done: the connection may serve requests. */
static void slot_ready(struct lc_db_conn *s)
{
	struct lc_db *db = s->db;
	if (s->ever_up)
		db->st.reconnects++;
	s->ever_up = true;
	lc_backoff_reset(&s->backoff);
	s->state = SLOT_IDLE;
	log_info("db.connected", LF_S("db", db->name), LF_I("conn", s->id),
		 LF_S("host", PQhost(s->pg)), LF_S("port", PQport(s->pg)),
		 LF_S("dbname", PQdb(s->pg)),
		 LF_I("server_version", PQserverVersion(s->pg)));
	note_state(db);
}

/* Send what libpq has buffered; wait for writability if it could not. */
static void slot_flush(struct lc_db_conn *s)
{
	int rv = PQflush(s->pg);
	if (rv < 0)
		slot_down(s, PQerrorMessage(s->pg));
	else if (rv > 0)
		event_add(s->ev_wr, NULL);
	else
		event_del(s->ev_wr);
}

static void slot_run(struct lc_db_conn *s, struct db_req *r)
{
	s->cur = r;
	if (s->state == SLOT_IDLE)
		s->state = SLOT_BUSY;
	if (!PQsendQueryParams(s->pg, r->sql, r->nparams, NULL, r->params,
			       NULL, NULL, 0)) {
		slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	slot_flush(s);
}

static bool result_ok(const PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
	       st == PGRES_EMPTY_QUERY;
}

/* "ERROR: relation "x" does not exist (SQLSTATE 42P01)" */
static char *result_error(const PGresult *res)
{
	if (!res)
		return one_line_dup("no result from the server", NULL);
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!msg)
		return one_line_dup(PQresultErrorMessage(res), NULL);
	size_t len = strlen(msg) + 64;
	char *tmp = malloc(len);
	if (!tmp)
		return NULL;
	snprintf(tmp, len, "%s: %s (SQLSTATE %s)", sev ? sev : "ERROR", msg,
		 code ? code : "?");
	char *out = one_line_dup(tmp, NULL);
	free(tmp);
	return out;
}

/* Keep the first result, or the first error if a later one is. */
static void keep_result(struct db_req *r, PGresult *res)
{
	if (!r->res) {
		r->res = res;
	} else if (result_ok(r->res) && !result_ok(res)) {
		PQclear(r->res);
		r->res = res;
	} else {
		PQclear(res);
	}
}

/* The running request finished (PQgetResult gave NULL). */
static void slot_complete(struct lc_db_conn *s)
{
	struct lc_db *db = s->db;
	struct db_req *r = s->cur;
	bool ok = result_ok(r->res);
	s->cur = NULL;
	if (s->state == SLOT_BUSY)
		s->state = SLOT_IDLE;
	switch (r->kind) {
	case REQ_SETUP: {
		char *why = ok ? NULL : result_error(r->res);
		req_free(r);
		if (!ok) {
			slot_down(s, why ? why : "session setup failed");
			free(why);
			return;
		}
		slot_ready(s);
		break;
	}
	case REQ_ROLLBACK:
		req_free(r);
		if (!ok) {
			slot_down(s, "rollback at release failed");
			return;
		}
		slot_unhold(s);
		break;
	default:
		if (!ok) {
			r->failed = true;
			r->err = result_error(r->res);
		}
		req_done(db, r);
		break;
	}
	if (PQstatus(s->pg) == CONNECTION_BAD) {
		slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	pump(db);
}

/* Read every result libpq can give without blocking. */
static void slot_collect(struct lc_db_conn *s)
{
	while (s->cur && !PQisBusy(s->pg)) {
		PGresult *res = PQgetResult(s->pg);
		if (!res) {
			slot_complete(s);
			return;
		}
		ExecStatusType st = PQresultStatus(res);
		keep_result(s->cur, res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT ||
		    st == PGRES_COPY_BOTH) {
			slot_down(s, "COPY is not supported");
			return;
		}
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_db_conn *s = arg;
	if (!PQconsumeInput(s->pg)) {
		slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	PGnotify *n;
	while ((n = PQnotifies(s->pg)) != NULL)
		PQfreemem(n);
	/* libpq: a flush that waits may need input consumed first */
	if (event_pending(s->ev_wr, EV_WRITE, NULL)) {
		slot_flush(s);
		if (s->state == SLOT_DOWN)
			return;
	}
	if (s->cur)
		slot_collect(s);
	else if (PQstatus(s->pg) == CONNECTION_BAD)
		slot_down(s, PQerrorMessage(s->pg));
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	slot_flush(arg);
}

/* A held connection with nothing left to run goes back to the pool,
 * rolled back first if the holder left a transaction open. */
static void slot_finish_release(struct lc_db_conn *s)
{
	struct lc_db *db = s->db;
	PGTransactionStatusType ts = PQtransactionStatus(s->pg);
	if (ts == PQTRANS_IDLE) {
		slot_unhold(s);
		return;
	}
	if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR) {
		slot_down(s, "connection in an unknown state at release");
		return;
	}
	log_warn("db.release_in_transaction", LF_S("db", db->name),
		 LF_I("conn", s->id), LF_B("aborted", ts == PQTRANS_INERROR));
	struct db_req *r = req_new(REQ_ROLLBACK, "ROLLBACK", 0, NULL);
	if (!r) {
		slot_down(s, "out of memory");
		return;
	}
	r->deadline = lc_clock_mono_ms() + db->query_timeout_ms;
	slot_run(s, r);
}

/* Give idle connections work: a holder's next statement, a release to
 * finish, or the head of the shared queue. */
static void pump(struct lc_db *db)
{
	if (db->closing)
		return;
	for (int i = 0; i < db->npool; i++) {
		struct lc_db_conn *s = &db->slots[i];
		while (s->state == SLOT_IDLE) {
			struct db_req *r;
			if (s->held) {
				r = list_pop(&s->queue);
				if (r) {
					db->nwaiting--;
					slot_run(s, r);
				} else if (s->release_pending) {
					slot_finish_release(s);
				} else {
					break;
				}
				continue;
			}
			r = list_pop(&db->queue);
			if (!r)
				break;
			db->nwaiting--;
			if (r->kind == REQ_ACQUIRE) {
				s->held = true;
				r->handle = s;
				req_done(db, r);
				break;
			}
			slot_run(s, r);
		}
	}
}

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
	req_free(r);
}

static void db_destroy(struct lc_db *db);

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_db *db = arg;
	db->depth++;
	struct db_req *r;
	while (!db->free_pending && (r = list_pop(&db->done)) != NULL)
		deliver(db, r);
	bool ready = any_up(db);
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
			list_remove(l, r);
			db->nwaiting--;
			r->timed_out = true;
			req_fail(db, r, why, NULL);
		}
		r = next;
	}
}

static void slot_tick(struct lc_db_conn *s, int64_t now)
{
	switch (s->state) {
	case SLOT_DOWN:
		if (!s->held && s->retry_at && now >= s->retry_at)
			slot_connect(s);
		break;
	case SLOT_CONNECTING:
	case SLOT_SETUP:
		if (now >= s->connect_deadline)
			slot_down(s, "connect timed out");
		break;
	case SLOT_BUSY:
		if (s->cur && now >= s->cur->deadline) {
			struct db_req *r = s->cur;
			s->cur = NULL;
			r->timed_out = true;
			req_fail(s->db, r, "timed out", "query abandoned");
			/* PQcancel would block: drop the connection instead */
			slot_down(s, "query timed out, connection dropped");
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
	pump(db);
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
		slot_connect(&db->slots[i]);
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
		fail_list(db, &db->queue, "cancelled",
			  "database client freed");
		for (int i = 0; db->slots && i < db->npool; i++) {
			struct lc_db_conn *s = &db->slots[i];
			if (s->cur) {
				req_fail(db, s->cur, "cancelled",
					 "database client freed");
				s->cur = NULL;
			}
			fail_list(db, &s->queue, "cancelled",
				  "database client freed");
		}
		/* a handle not yet delivered will never be usable */
		for (struct db_req *r = db->done.head; r; r = r->next) {
			if (r->kind == REQ_ACQUIRE && !r->failed) {
				r->failed = true;
				r->err = one_line_dup("cancelled",
						      "database client freed");
			}
		}
		struct db_req *r;
		while ((r = list_pop(&db->done)) != NULL)
			deliver(db, r);
	}
	for (int i = 0; db->slots && i < db->npool; i++)
		slot_close(&db->slots[i]);
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
	return db && !db->closing && any_up(db);
}

void lc_db_get_stats(const struct lc_db *db, struct lc_db_stats *out)
{
	*out = db->st;
	out->conns_up = out->conns_busy = 0;
	for (int i = 0; i < db->npool; i++) {
		out->conns_up += slot_up(&db->slots[i]);
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
		req_fail(db, r, "connection lost", db->last_err);
		return 0;
	}
	if (!c && !any_up(db)) {
		r->rejected = true;
		req_fail(db, r, "database unavailable", db->last_err);
		return 0;
	}
	if (db->nwaiting >= db->queue_max) {
		r->rejected = true;
		req_fail(db, r, "queue full", NULL);
		return 0;
	}
	list_push(c ? &c->queue : &db->queue, r);
	db->nwaiting++;
	pump(db);
	return 0;
}

static struct db_req *query_new(const char *sql, int nparams,
				const char *const *params,
				lc_db_result_cb cb, void *arg)
{
	if (!sql || nparams < 0 || nparams > LC_DB_MAX_PARAMS ||
	    (nparams > 0 && !params))
		return NULL;
	struct db_req *r = req_new(REQ_QUERY, sql, nparams, params);
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
	struct db_req *r = req_new(REQ_ACQUIRE, NULL, 0, NULL);
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
		slot_unhold(c);
	else
		pump(c->db);
}
