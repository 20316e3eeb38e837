/* PostgreSQL connection pool: one connection, and giving idle ones work.
 * The design is explained in db.h. */
#include "libcommon/db_internal.h"

#include "libcommon/backoff.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_INTERVAL_MS "1000" /* client_connection_check_interval */

/* Session settings run on every new connection before it serves anyone. */
static const char setup_sql[] =
	"SELECT set_config('statement_timeout', $1, false),"
	" set_config('client_connection_check_interval', $2, false)";

static void slot_run(struct lc_db_conn *s, struct db_req *r);

static void on_notice(void *arg, const char *message)
{
	struct lc_db_conn *s = arg;
	char line[512];
	db_one_line(line, sizeof(line), NULL, message);
	log_debug("db.notice", LF_S("db", s->db->name), LF_I("conn", s->id),
		  LF_S("message", line));
}

void db_slot_close(struct lc_db_conn *s)
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
void db_slot_unhold(struct lc_db_conn *s)
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
void db_slot_down(struct lc_db_conn *s, const char *why)
{
	struct lc_db *db = s->db;
	char reason[LAST_ERR_MAX];
	db_one_line(reason, sizeof(reason), NULL, why);
	if (db_slot_up(s)) {
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
		db_req_fail(db, r, "connection lost", reason);
	}
	db_slot_close(s);
	s->state = SLOT_DOWN;
	s->retry_at = 0;
	if (s->held) {
		s->broken = true;
		db_fail_list(db, &s->queue, "connection lost", reason);
		if (s->release_pending)
			db_slot_unhold(s);
	} else {
		schedule_retry(s);
	}
	if (!db_any_up(db))
		db_fail_list(db, &db->queue, "database unavailable", reason);
	db_note_state(db);
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
		db_slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	event_free(s->ev_rd);
	s->ev_rd = event_new(db->base, fd, EV_READ | EV_PERSIST, on_read, s);
	s->ev_wr = event_new(db->base, fd, EV_WRITE | EV_PERSIST, on_write, s);
	if (!s->ev_rd || !s->ev_wr || event_add(s->ev_rd, NULL) != 0) {
		db_slot_down(s, "cannot watch the connection's socket");
		return;
	}
	char tmo[32];
	snprintf(tmo, sizeof(tmo), "%lld", (long long)db->stmt_timeout_ms);
	const char *params[] = { tmo, CHECK_INTERVAL_MS };
	struct db_req *r = db_req_new(REQ_SETUP, setup_sql, 2, params);
	if (!r) {
		db_slot_down(s, "out of memory");
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
		db_slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	if (rv != 0)
		db_slot_down(s, "cannot watch the connection's socket");
}

void db_slot_connect(struct lc_db_conn *s)
{
	struct lc_db *db = s->db;
	s->retry_at = 0;
	s->connect_deadline = lc_clock_mono_ms() + db->connect_timeout_ms;
	s->state = SLOT_CONNECTING;
	s->pg = PQconnectStart(db->conninfo);
	if (!s->pg) {
		db_slot_down(s, "out of memory");
		return;
	}
	if (PQstatus(s->pg) == CONNECTION_BAD) {
		db_slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	PQsetNoticeProcessor(s->pg, on_notice, s);
	/* libpq: start as if PQconnectPoll had asked to write */
	if (slot_wait(s, EV_WRITE, on_connect_io) != 0)
		db_slot_down(s, "cannot watch the connection's socket");
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
	db_note_state(db);
}

/* Send what libpq has buffered; wait for writability if it could not. */
static void slot_flush(struct lc_db_conn *s)
{
	int rv = PQflush(s->pg);
	if (rv < 0)
		db_slot_down(s, PQerrorMessage(s->pg));
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
		db_slot_down(s, PQerrorMessage(s->pg));
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
		return db_one_line_dup("no result from the server", NULL);
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!msg)
		return db_one_line_dup(PQresultErrorMessage(res), NULL);
	size_t len = strlen(msg) + 64;
	char *tmp = malloc(len);
	if (!tmp)
		return NULL;
	snprintf(tmp, len, "%s: %s (SQLSTATE %s)", sev ? sev : "ERROR", msg,
		 code ? code : "?");
	char *out = db_one_line_dup(tmp, NULL);
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
		db_req_free(r);
		if (!ok) {
			db_slot_down(s, why ? why : "session setup failed");
			free(why);
			return;
		}
		slot_ready(s);
		break;
	}
	case REQ_ROLLBACK:
		db_req_free(r);
		if (!ok) {
			db_slot_down(s, "rollback at release failed");
			return;
		}
		db_slot_unhold(s);
		break;
	default:
		if (!ok) {
			r->failed = true;
			r->err = result_error(r->res);
		}
		db_req_done(db, r);
		break;
	}
	if (PQstatus(s->pg) == CONNECTION_BAD) {
		db_slot_down(s, PQerrorMessage(s->pg));
		return;
	}
	db_pump(db);
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
			db_slot_down(s, "COPY is not supported");
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
		db_slot_down(s, PQerrorMessage(s->pg));
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
		db_slot_down(s, PQerrorMessage(s->pg));
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
		db_slot_unhold(s);
		return;
	}
	if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR) {
		db_slot_down(s, "connection in an unknown state at release");
		return;
	}
	log_warn("db.release_in_transaction", LF_S("db", db->name),
		 LF_I("conn", s->id), LF_B("aborted", ts == PQTRANS_INERROR));
	struct db_req *r = db_req_new(REQ_ROLLBACK, "ROLLBACK", 0, NULL);
	if (!r) {
		db_slot_down(s, "out of memory");
		return;
	}
	r->deadline = lc_clock_mono_ms() + db->query_timeout_ms;
	slot_run(s, r);
}

/* Give idle connections work: a holder's next statement, a release to
 * finish, or the head of the shared queue. */
void db_pump(struct lc_db *db)
{
	if (db->closing)
		return;
	for (int i = 0; i < db->npool; i++) {
		struct lc_db_conn *s = &db->slots[i];
		while (s->state == SLOT_IDLE) {
			struct db_req *r;
			if (s->held) {
				r = db_list_pop(&s->queue);
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
			r = db_list_pop(&db->queue);
			if (!r)
				break;
			db->nwaiting--;
			if (r->kind == REQ_ACQUIRE) {
				s->held = true;
				r->handle = s;
				db_req_done(db, r);
				break;
			}
			slot_run(s, r);
		}
	}
}
