/* lc_db against the real PostgreSQL of the test run (BTCW_TEST_PG_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"

static const char *g_dsn;     /* BTCW_TEST_PG_DSN */
static char g_root[PATH_MAX]; /* the repository, for scripts/lib */
static int g_want_up;         /* open_db: connections to wait for */

/* ---- helpers ------------------------------------------------------------ */

struct res {
	int calls;          /* must end at exactly 1 */
	bool ok;
	char err[512];
	char val[256];      /* first cell, "(null)" for SQL NULL */
	char sqlstate[8];
	char cmd[32];       /* PQcmdStatus */
	int64_t at;         /* when the callback ran */
	int order;          /* global callback order */
};

static int g_seq;

static void on_res(const PGresult *res, const char *err, void *arg)
{
	struct res *r = arg;
	r->calls++;
	r->at = lc_clock_mono_ms();
	r->order = ++g_seq;
	r->ok = err == NULL;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	if (!res)
		return;
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", code ? code : "");
	snprintf(r->cmd, sizeof(r->cmd), "%s", PQcmdStatus((PGresult *)res));
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		snprintf(r->val, sizeof(r->val), "%s",
			 PQgetisnull(res, 0, 0) ? "(null)"
						: PQgetvalue(res, 0, 0));
}

struct acq {
	int calls;
	struct lc_db_conn *conn;
	char err[256];
};

static void on_acq(struct lc_db_conn *c, const char *err, void *arg)
{
	struct acq *a = arg;
	a->calls++;
	a->conn = c;
	snprintf(a->err, sizeof(a->err), "%s", err ? err : "");
}

/* Run the loop until cond(arg) or timeout_ms; the pool's janitor timer
 * wakes the loop at least every 50 ms. */
static bool run_until(struct event_base *base, bool (*cond)(void *),
		      void *arg, int64_t timeout_ms)
{
	int64_t end = lc_clock_mono_ms() + timeout_ms;
	while (!cond(arg)) {
		if (lc_clock_mono_ms() >= end)
			return false;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return true;
}

static bool called(void *arg)
{
	return ((struct res *)arg)->calls > 0;
}

static bool db_is_ready(void *arg)
{
	return lc_db_ready(arg);
}

/* Spin the loop for ms (to see that nothing more happens). */
static void spin(struct event_base *base, int64_t ms)
{
	int64_t end = lc_clock_mono_ms() + ms;
	while (lc_clock_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

static bool all_up(void *arg)
{
	struct lc_db_stats st;
	lc_db_get_stats(arg, &st);
	return st.conns_up == g_want_up;
}

/* A pool with every connection up. */
static struct lc_db *open_db(struct event_base *base,
			     struct lc_db_config *cfg)
{
	char err[256] = "";
	cfg->conninfo = cfg->conninfo ? cfg->conninfo : g_dsn;
	cfg->name = "test";
	struct lc_db *db = lc_db_new(base, cfg, err, sizeof(err));
	if (!db)
		fail_msg("lc_db_new: %s", err);
	assert_true(run_until(base, db_is_ready, db, 10000));
	g_want_up = cfg->pool_size ? cfg->pool_size : LC_DB_POOL_SIZE;
	assert_true(run_until(base, all_up, db, 10000));
	return db;
}

/* Run one statement and wait for it. */
static void query_wait(struct event_base *base, struct lc_db *db,
		       const char *sql, int n, const char *const *params,
		       struct res *out)
{
	memset(out, 0, sizeof(*out));
	assert_int_equal(lc_db_query(db, sql, n, params, on_res, out), 0);
	assert_int_equal(out->calls, 0); /* never from inside the call */
	assert_true(run_until(base, called, out, 15000));
	assert_int_equal(out->calls, 1);
}

/* A blocking side connection, for what the test does behind the pool's
 * back (terminating backends, checking data). */
static void side_exec(const char *sql, char *out, size_t outlen)
{
	PGconn *pg = PQconnectdb(g_dsn);
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("side connection: %s", PQerrorMessage(pg));
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("side query '%s': %s", sql, PQerrorMessage(pg));
	if (out)
		snprintf(out, outlen, "%s",
			 PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	PQfinish(pg);
}

static int shell(const char *fn, const char *args)
{
	char cmd[PATH_MAX + 512];
	snprintf(cmd, sizeof(cmd),
		 "bash -c '. \"%s/scripts/lib/servers.sh\" && "
		 "%s \"$BTCW_TEST_DIR\" %s' >&2",
		 g_root, fn, args);
	return system(cmd);
}

static void pg_stop(void)
{
	assert_int_equal(shell("srv_pg_stop", "fast"), 0);
}

/* Same port and options as tests/harness/servers.sh. */
static int pg_start(void)
{
	return shell("srv_pg_start", "\"$BTCW_TEST_PG_PORT\" fsync=off "
				     "full_page_writes=off "
				     "max_connections=200");
}

static int ensure_pg_running(void **state)
{
	(void)state;
	if (shell("srv_pg_running", "") != 0)
		return pg_start() == 0 ? 0 : -1;
	return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void params_are_values_never_sql(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { 0 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r;

	const char *p1[] = { "2", "3" };
	query_wait(base, db, "SELECT $1::int + $2::int", 2, p1, &r);
	assert_true(r.ok);
	assert_string_equal(r.val, "5");

	const char *p2[] = { NULL };
	query_wait(base, db, "SELECT $1::text IS NULL", 1, p2, &r);
	assert_string_equal(r.val, "t");

	const char *evil = "x'); DROP TABLE pg_class; --";
	const char *p3[] = { evil };
	query_wait(base, db, "SELECT $1::text", 1, p3, &r);
	assert_true(r.ok);
	assert_string_equal(r.val, evil);

	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.queries, 3);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.conns_up, 2);
	lc_db_free(db);
	event_base_free(base);
}

static void server_error_comes_with_result(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r;
	query_wait(base, db, "SELECT * FROM no_such_table_xyz", 0, NULL, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "no_such_table_xyz"));
	assert_string_equal(r.sqlstate, "42P01");
	/* the connection is still good */
	query_wait(base, db, "SELECT 1", 0, NULL, &r);
	assert_true(r.ok);
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.disconnects, 0);
	lc_db_free(db);
	event_base_free(base);
}

static void tick_count(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(*(int *)arg)++;
}

static bool all4(void *arg)
{
	struct res *r = arg;
	return r[0].calls && r[1].calls && r[2].calls && r[3].calls;
}

static void pool_runs_in_parallel_without_blocking(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 2 };
	struct lc_db *db = open_db(base, &cfg);
	int ticks = 0;
	struct event *t = event_new(base, -1, EV_PERSIST, tick_count, &ticks);
	struct timeval tv = { 0, 20000 };
	event_add(t, &tv);
	struct res r[4];
	memset(r, 0, sizeof(r));
	int64_t t0 = lc_clock_mono_ms();
	for (int i = 0; i < 4; i++)
		assert_int_equal(lc_db_query(db, "SELECT pg_sleep(0.4)", 0,
					     NULL, on_res, &r[i]),
				 0);
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.conns_busy, 2);
	assert_int_equal(st.queued, 2);
	assert_true(run_until(base, all4, r, 10000));
	int64_t took = lc_clock_mono_ms() - t0;
	for (int i = 0; i < 4; i++)
		assert_true(r[i].ok);
	/* two at a time: two rounds of 0.4 s, not one and not four */
	assert_in_range(took, 750, 1500);
	/* the loop kept running while PostgreSQL slept */
	assert_true(ticks >= 20);
	event_free(t);
	lc_db_free(db);
	event_base_free(base);
}

static void queue_is_bounded(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1, .queue_max = 2 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r[4];
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 4; i++)
		assert_int_equal(lc_db_query(db, "SELECT pg_sleep(0.3)", 0,
					     NULL, on_res, &r[i]),
				 0);
	assert_true(run_until(base, all4, r, 10000));
	assert_true(r[0].ok && r[1].ok && r[2].ok);
	assert_false(r[3].ok);
	assert_non_null(strstr(r[3].err, "queue full"));
	/* refused at once, not after waiting for the others */
	assert_true(r[3].order < r[0].order);
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.queued, 0);
	lc_db_free(db);
	event_base_free(base);
}

static bool acq_called(void *arg)
{
	return ((struct acq *)arg)->calls > 0;
}

static struct lc_db_conn *acquire_wait(struct event_base *base,
				       struct lc_db *db)
{
	struct acq a = { 0 };
	assert_int_equal(lc_db_acquire(db, on_acq, &a), 0);
	assert_int_equal(a.calls, 0);
	assert_true(run_until(base, acq_called, &a, 10000));
	assert_int_equal(a.calls, 1);
	assert_non_null(a.conn);
	return a.conn;
}

static void conn_q(struct lc_db_conn *c, const char *sql, int n,
		   const char *const *p, struct res *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(lc_db_conn_query(c, sql, n, p, on_res, r), 0);
}

static void transactions_commit_and_roll_back(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 2 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r, b, i1, cm, seen;
	query_wait(base, db, "DROP TABLE IF EXISTS t_db_tx", 0, NULL, &r);
	query_wait(base, db, "CREATE TABLE t_db_tx (v int)", 0, NULL, &r);
	assert_true(r.ok);

	/* rolled back: nothing stays */
	struct lc_db_conn *c = acquire_wait(base, db);
	const char *one[] = { "1" };
	conn_q(c, "BEGIN", 0, NULL, &b);
	conn_q(c, "INSERT INTO t_db_tx VALUES ($1)", 1, one, &i1);
	conn_q(c, "ROLLBACK", 0, NULL, &cm);
	lc_db_release(c);
	assert_int_equal(lc_db_conn_query(c, "SELECT 1", 0, NULL, on_res, &r),
			 -1);
	assert_true(run_until(base, called, &cm, 10000));
	assert_true(b.ok && i1.ok && cm.ok);
	assert_true(b.order < i1.order && i1.order < cm.order);
	query_wait(base, db, "SELECT count(*) FROM t_db_tx", 0, NULL, &r);
	assert_string_equal(r.val, "0");

	/* committed: invisible to others until COMMIT, then there */
	c = acquire_wait(base, db);
	const char *two[] = { "2" };
	conn_q(c, "BEGIN", 0, NULL, &b);
	conn_q(c, "INSERT INTO t_db_tx VALUES ($1)", 1, two, &i1);
	assert_true(run_until(base, called, &i1, 10000));
	query_wait(base, db, "SELECT count(*) FROM t_db_tx", 0, NULL, &seen);
	assert_string_equal(seen.val, "0");
	conn_q(c, "COMMIT", 0, NULL, &cm);
	lc_db_release(c);
	assert_true(run_until(base, called, &cm, 10000));
	assert_string_equal(cm.cmd, "COMMIT");
	query_wait(base, db, "SELECT string_agg(v::text, ',') FROM t_db_tx", 0,
		   NULL, &r);
	assert_string_equal(r.val, "2");
	query_wait(base, db, "DROP TABLE t_db_tx", 0, NULL, &r);
	lc_db_free(db);
	event_base_free(base);
}

static void failed_statement_aborts_transaction(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r, b, bad, after, cm;
	query_wait(base, db, "CREATE TABLE IF NOT EXISTS t_db_abort (v int)",
		   0, NULL, &r);
	struct lc_db_conn *c = acquire_wait(base, db);
	conn_q(c, "BEGIN", 0, NULL, &b);
	conn_q(c, "INSERT INTO t_db_abort VALUES (1/0)", 0, NULL, &bad);
	conn_q(c, "INSERT INTO t_db_abort VALUES (2)", 0, NULL, &after);
	conn_q(c, "COMMIT", 0, NULL, &cm);
	lc_db_release(c);
	assert_true(run_until(base, called, &cm, 10000));
	assert_true(b.ok);
	assert_string_equal(bad.sqlstate, "22012");
	assert_string_equal(after.sqlstate, "25P02"); /* in failed tx */
	assert_true(cm.ok);
	assert_string_equal(cm.cmd, "ROLLBACK");
	query_wait(base, db, "SELECT count(*) FROM t_db_abort", 0, NULL, &r);
	assert_string_equal(r.val, "0");
	query_wait(base, db, "DROP TABLE t_db_abort", 0, NULL, &r);
	lc_db_free(db);
	event_base_free(base);
}

static void release_inside_transaction_rolls_back(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r, b, i1;
	query_wait(base, db, "DROP TABLE IF EXISTS t_db_rel", 0, NULL, &r);
	query_wait(base, db, "CREATE TABLE t_db_rel (v int)", 0, NULL, &r);
	struct lc_db_conn *c = acquire_wait(base, db);
	conn_q(c, "BEGIN", 0, NULL, &b);
	conn_q(c, "INSERT INTO t_db_rel VALUES (1)", 0, NULL, &i1);
	lc_db_release(c); /* no COMMIT: forgotten */
	assert_true(run_until(base, called, &i1, 10000));
	assert_true(i1.ok);
	/* the one connection serves the next caller outside any
	 * transaction: its autocommit INSERT is visible to others */
	query_wait(base, db, "INSERT INTO t_db_rel VALUES (2)", 0, NULL, &r);
	assert_true(r.ok);
	char out[64];
	side_exec("SELECT string_agg(v::text, ',') FROM t_db_rel", out,
		  sizeof(out));
	assert_string_equal(out, "2");
	query_wait(base, db, "DROP TABLE t_db_rel", 0, NULL, &r);
	lc_db_free(db);
	event_base_free(base);
}

static void server_statement_timeout_keeps_connection(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1,
				    .statement_timeout_ms = 200 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r;
	int64_t t0 = lc_clock_mono_ms();
	query_wait(base, db, "SELECT pg_sleep(3)", 0, NULL, &r);
	assert_false(r.ok);
	assert_string_equal(r.sqlstate, "57014");
	assert_true(r.at - t0 < 1500);
	query_wait(base, db, "SELECT 7", 0, NULL, &r);
	assert_string_equal(r.val, "7");
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.disconnects, 0);
	assert_int_equal(st.timeouts, 0);
	lc_db_free(db);
	event_base_free(base);
}

static void client_deadline_abandons_query(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r;
	memset(&r, 0, sizeof(r));
	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(lc_db_query_timeout(db, 300,
					     "SELECT 'deadline', pg_sleep(20)",
					     0, NULL, on_res, &r),
			 0);
	assert_true(run_until(base, called, &r, 5000));
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "timed out"));
	assert_in_range(r.at - t0, 280, 1000);
	/* reconnects, serves again */
	assert_true(run_until(base, db_is_ready, db, 5000));
	struct res ok;
	query_wait(base, db, "SELECT 8", 0, NULL, &ok);
	assert_string_equal(ok.val, "8");
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.disconnects, 1);
	assert_int_equal(st.reconnects, 1);
	assert_int_equal(r.calls, 1);
	/* the server gives up the orphaned statement soon after */
	char n[16] = "1";
	for (int i = 0; i < 40 && strcmp(n, "0") != 0; i++) {
		usleep(100000);
		side_exec("SELECT count(*) FROM pg_stat_activity WHERE query ="
			  " 'SELECT ''deadline'', pg_sleep(20)'",
			  n, sizeof(n));
	}
	assert_string_equal(n, "0");
	lc_db_free(db);
	event_base_free(base);
}

static void queued_request_times_out(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res busy, waiting;
	memset(&busy, 0, sizeof(busy));
	memset(&waiting, 0, sizeof(waiting));
	assert_int_equal(lc_db_query(db, "SELECT pg_sleep(1)", 0, NULL,
				     on_res, &busy),
			 0);
	assert_int_equal(lc_db_query_timeout(db, 200, "SELECT 1", 0, NULL,
					     on_res, &waiting),
			 0);
	assert_true(run_until(base, called, &busy, 5000));
	assert_false(waiting.ok);
	assert_non_null(strstr(waiting.err, "timed out waiting"));
	assert_true(waiting.order < busy.order);
	assert_true(busy.ok);
	lc_db_free(db);
	event_base_free(base);
}

struct kill_ctx {
	char pid[16];
	int fired;
};

static void kill_backend(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct kill_ctx *k = arg;
	char sql[128], out[16];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", k->pid);
	side_exec(sql, out, sizeof(out));
	k->fired = strcmp(out, "t") == 0;
}

static void terminated_backend_fails_once_and_reconnects(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1, .backoff_base_ms = 50 };
	struct lc_db *db = open_db(base, &cfg);
	struct kill_ctx k = { .fired = 0 };
	struct res r;
	query_wait(base, db, "SELECT pg_backend_pid()", 0, NULL, &r);
	snprintf(k.pid, sizeof(k.pid), "%.15s", r.val);

	struct res inflight, queued;
	memset(&inflight, 0, sizeof(inflight));
	memset(&queued, 0, sizeof(queued));
	assert_int_equal(lc_db_query(db, "SELECT pg_sleep(10)", 0, NULL,
				     on_res, &inflight),
			 0);
	assert_int_equal(lc_db_query(db, "SELECT 2", 0, NULL, on_res,
				     &queued),
			 0);
	struct timeval tv = { 0, 200000 };
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, kill_backend,
					 &k, &tv),
			 0);
	assert_true(run_until(base, called, &inflight, 5000));
	assert_true(k.fired);
	assert_false(inflight.ok);
	assert_non_null(strstr(inflight.err, "connection lost"));
	/* the only connection died: the queued one fails fast too */
	assert_true(run_until(base, called, &queued, 1000));
	assert_non_null(strstr(queued.err, "unavailable"));
	assert_true(run_until(base, db_is_ready, db, 5000));
	query_wait(base, db, "SELECT pg_backend_pid()", 0, NULL, &r);
	assert_string_not_equal(r.val, k.pid);
	spin(base, 200);
	assert_int_equal(inflight.calls, 1);
	assert_int_equal(queued.calls, 1);
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.disconnects, 1);
	assert_int_equal(st.reconnects, 1);
	lc_db_free(db);
	event_base_free(base);
}

static bool disconnected_once(void *arg)
{
	struct lc_db_stats st;
	lc_db_get_stats(arg, &st);
	return st.disconnects > 0 && st.reconnects > 0 && lc_db_ready(arg);
}

static void idle_connection_loss_is_noticed(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1, .backoff_base_ms = 50 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r;
	query_wait(base, db, "SELECT pg_backend_pid()", 0, NULL, &r);
	char sql[300], out[16];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%.20s)",
		 r.val);
	side_exec(sql, out, sizeof(out));
	assert_string_equal(out, "t");
	/* noticed while idle, without a query to trip over it */
	assert_true(run_until(base, disconnected_once, db, 5000));
	query_wait(base, db, "SELECT 3", 0, NULL, &r);
	assert_string_equal(r.val, "3");
	lc_db_free(db);
	event_base_free(base);
}

struct states {
	int ups, downs;
	bool last;
};

static void on_state(bool ready, void *arg)
{
	struct states *s = arg;
	s->last = ready;
	if (ready)
		s->ups++;
	else
		s->downs++;
}

static bool state_down(void *arg)
{
	return ((struct states *)arg)->downs > 0;
}

static bool state_up_again(void *arg)
{
	return ((struct states *)arg)->ups > 1;
}

/* The one test that really stops the shared server (teardown restarts
 * it even when an assertion fails). */
static void server_restart_fail_fast_then_recover(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct states s = { 0 };
	struct lc_db_config cfg = { .pool_size = 2,
				    .backoff_base_ms = 50,
				    .backoff_max_ms = 300,
				    .on_state = on_state,
				    .state_arg = &s };
	struct lc_db *db = open_db(base, &cfg);
	spin(base, 50);
	assert_int_equal(s.ups, 1);
	struct res r;
	query_wait(base, db, "SELECT 1", 0, NULL, &r);

	pg_stop();
	assert_true(run_until(base, state_down, &s, 5000));
	assert_false(lc_db_ready(db));
	int64_t t0 = lc_clock_mono_ms();
	query_wait(base, db, "SELECT 1", 0, NULL, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.err, "database unavailable"));
	assert_true(r.at - t0 < 200); /* fail fast: no waiting */
	struct acq a = { 0 };
	assert_int_equal(lc_db_acquire(db, on_acq, &a), 0);
	assert_true(run_until(base, acq_called, &a, 1000));
	assert_null(a.conn);
	assert_non_null(strstr(a.err, "unavailable"));
	spin(base, 500); /* a few failed reconnects */

	assert_int_equal(pg_start(), 0);
	assert_true(run_until(base, state_up_again, &s, 10000));
	assert_true(s.last);
	query_wait(base, db, "SELECT 42", 0, NULL, &r);
	assert_string_equal(r.val, "42");
	struct lc_db_stats st;
	lc_db_get_stats(db, &st);
	assert_int_equal(st.disconnects, 2);
	assert_true(st.reconnects >= 1);
	assert_int_equal(st.rejected, 2);
	lc_db_free(db);
	event_base_free(base);
}

static void unreachable_database_fails_fast(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	/* nothing listens on port 1 */
	struct lc_db_config cfg = {
		.conninfo = "host=127.0.0.1 port=1 user=x dbname=x",
		.name = "nowhere",
	};
	char err[256];
	struct lc_db *db = lc_db_new(base, &cfg, err, sizeof(err));
	assert_non_null(db);
	spin(base, 100);
	assert_false(lc_db_ready(db));
	struct res r;
	query_wait(base, db, "SELECT 1", 0, NULL, &r);
	assert_non_null(strstr(r.err, "database unavailable"));
	assert_non_null(strstr(r.err, "refused"));
	lc_db_free(db);

	/* a bad connection string is refused without being quoted */
	cfg.conninfo = "password=hunter2secret port";
	assert_null(lc_db_new(base, &cfg, err, sizeof(err)));
	assert_null(strstr(err, "hunter2secret"));
	event_base_free(base);
}

static void bad_arguments_are_not_taken(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res r = { 0 };
	assert_int_equal(lc_db_query(db, NULL, 0, NULL, on_res, &r), -1);
	assert_int_equal(lc_db_query(db, "SELECT $1", 1, NULL, on_res, &r),
			 -1);
	assert_int_equal(lc_db_query(db, "SELECT 1", -1, NULL, on_res, &r),
			 -1);
	assert_int_equal(lc_db_acquire(db, NULL, NULL), -1);
	spin(base, 100);
	assert_int_equal(r.calls, 0);
	lc_db_free(db);
	event_base_free(base);
}

static void free_cancels_everything_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct lc_db *db = open_db(base, &cfg);
	struct res running, waiting, on_conn;
	struct acq a = { 0 };
	memset(&running, 0, sizeof(running));
	memset(&waiting, 0, sizeof(waiting));
	memset(&on_conn, 0, sizeof(on_conn));
	assert_int_equal(lc_db_query(db, "SELECT pg_sleep(5)", 0, NULL,
				     on_res, &running),
			 0);
	assert_int_equal(lc_db_query(db, "SELECT 1", 0, NULL, on_res,
				     &waiting),
			 0);
	assert_int_equal(lc_db_acquire(db, on_acq, &a), 0);
	lc_db_free(db);
	assert_int_equal(running.calls, 1);
	assert_int_equal(waiting.calls, 1);
	assert_int_equal(a.calls, 1);
	assert_non_null(strstr(running.err, "cancelled"));
	assert_non_null(strstr(waiting.err, "cancelled"));
	assert_null(a.conn);
	spin(base, 100);
	event_base_free(base);
	assert_int_equal(running.calls, 1);
}

struct freer {
	struct lc_db *db;
	struct res r;
	int later_calls;
	char later_err[128];
};

static void free_in_callback(const PGresult *res, const char *err,
			     void *arg)
{
	struct freer *f = arg;
	on_res(res, err, &f->r);
	lc_db_free(f->db);
}

static void later_cb(const PGresult *res, const char *err, void *arg)
{
	(void)res;
	struct freer *f = arg;
	f->later_calls++;
	snprintf(f->later_err, sizeof(f->later_err), "%s", err ? err : "");
	/* refused while being freed */
	assert_int_equal(lc_db_query(f->db, "SELECT 1", 0, NULL, NULL, NULL),
			 -1);
}

static void free_from_inside_a_callback(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_db_config cfg = { .pool_size = 1 };
	struct freer f;
	memset(&f, 0, sizeof(f));
	f.db = open_db(base, &cfg);
	assert_int_equal(lc_db_query(f.db, "SELECT 5", 0, NULL,
				     free_in_callback, &f),
			 0);
	assert_int_equal(lc_db_query(f.db, "SELECT pg_sleep(3)", 0, NULL,
				     later_cb, &f),
			 0);
	assert_true(run_until(base, called, &f.r, 5000));
	assert_string_equal(f.r.val, "5");
	assert_int_equal(f.later_calls, 1);
	assert_non_null(strstr(f.later_err, "cancelled"));
	spin(base, 100);
	event_base_free(base);
}

/* ---- main --------------------------------------------------------------- */

static int find_root(void)
{
	char path[PATH_MAX + 32];
	if (getcwd(g_root, sizeof(g_root))) {
		snprintf(path, sizeof(path), "%s/scripts/lib/servers.sh",
			 g_root);
		if (access(path, R_OK) == 0)
			return 0;
	}
	ssize_t n = readlink("/proc/self/exe", g_root, sizeof(g_root) - 1);
	if (n <= 0)
		return -1;
	g_root[n] = '\0';
	char *slash;
	while ((slash = strrchr(g_root, '/')) != NULL) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/scripts/lib/servers.sh",
			 g_root);
		if (access(path, R_OK) == 0)
			return 0;
	}
	return -1;
}

int main(void)
{
	g_dsn = getenv("BTCW_TEST_PG_DSN");
	if (!g_dsn || !getenv("BTCW_TEST_PG_PORT") ||
	    !getenv("BTCW_TEST_DIR")) {
		fprintf(stderr, "test_db: BTCW_TEST_PG_DSN, BTCW_TEST_PG_PORT "
				"and BTCW_TEST_DIR must be set "
				"(tests/harness/servers.sh start)\n");
		return 1;
	}
	if (find_root() != 0) {
		fprintf(stderr, "test_db: cannot find scripts/lib\n");
		return 1;
	}
	lc_log_init("test_db", LC_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(params_are_values_never_sql),
		cmocka_unit_test(server_error_comes_with_result),
		cmocka_unit_test(pool_runs_in_parallel_without_blocking),
		cmocka_unit_test(queue_is_bounded),
		cmocka_unit_test(transactions_commit_and_roll_back),
		cmocka_unit_test(failed_statement_aborts_transaction),
		cmocka_unit_test(release_inside_transaction_rolls_back),
		cmocka_unit_test(server_statement_timeout_keeps_connection),
		cmocka_unit_test(client_deadline_abandons_query),
		cmocka_unit_test(queued_request_times_out),
		cmocka_unit_test(terminated_backend_fails_once_and_reconnects),
		cmocka_unit_test(idle_connection_loss_is_noticed),
		cmocka_unit_test_teardown(
			server_restart_fail_fast_then_recover,
			ensure_pg_running),
		cmocka_unit_test(unreachable_database_fails_fast),
		cmocka_unit_test(bad_arguments_are_not_taken),
		cmocka_unit_test(free_cancels_everything_once),
		cmocka_unit_test(free_from_inside_a_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
