#ifndef LC_DB_H
#define LC_DB_H
/*
 * PostgreSQL on the daemon's event loop: a small pool of libpq connections
 * driven with libpq's asynchronous API, a bounded queue of requests, and
 * callbacks on the loop.
 *
 * Why asynchronous libpq on the loop and not a worker thread: every daemon
 * has exactly one event_base (STYLE habit 6) and every piece of its state
 * is touched from that one thread, so nothing needs a lock. A worker thread
 * would bring locks, a hand-off queue and callbacks on the wrong thread.
 * libpq can do all of it without blocking: PQconnectStart/PQconnectPoll to
 * connect, PQsendQueryParams + PQflush (non-blocking mode) to send,
 * PQconsumeInput/PQisBusy/PQgetResult when PQsocket() is readable, every
 * socket registered with libevent. libpq 15 also has pipeline mode
 * (PQenterPipelineMode), which the ingester's group commit can use later
 * on the same connections without changing this design.
 *
 * Model:
 *  - lc_db_new() opens `pool_size` connections and keeps them open,
 *    reconnecting each with exponential backoff (lc_backoff) when it fails
 *    or the server goes away.
 *  - lc_db_query() queues a parameterised statement ($1..$n, text
 *    parameters, NULL = SQL NULL); the first free connection runs it. There
 *    is deliberately no call that puts values into SQL text.
 *  - Every accepted request gets its callback exactly once, always from
 *    the event loop and never from inside the call that submitted it.
 *  - Fail fast: while no connection is up (lc_db_ready() is false), a new
 *    request fails at once with "database unavailable"; when the last
 *    connection goes down, everything waiting in the queue fails too. While
 *    some connection is up, requests wait in one FIFO queue bounded by
 *    `queue_max` (default LC_DB_QUEUE_MAX); past it they fail at once with
 *    "queue full". Nothing queues without bound.
 *  - Deadlines: each request has a deadline (`query_timeout_ms`, or the one
 *    given per request) counted from submission, queue wait included. A
 *    request still queued at its deadline fails with "timed out". A query
 *    still running at its deadline fails with "timed out" and its
 *    connection is closed and reopened: PQcancel() blocks (it opens a new
 *    connection synchronously), so closing is the only non-blocking way to
 *    abandon a query in libpq 15. The server stops the orphaned statement
 *    soon after: every connection sets client_connection_check_interval,
 *    and statement_timeout as a backstop.
 *  - Server-side statement_timeout: every connection runs
 *    `SET statement_timeout` (config `statement_timeout_ms`) right after
 *    connecting. A statement that runs longer is cancelled by the server
 *    itself; the callback gets PostgreSQL's error (SQLSTATE 57014) and the
 *    connection stays usable. The client deadline defaults to this plus
 *    LC_DB_DEADLINE_GRACE_MS, so normally the server's timeout fires first.
 *  - Transactions: lc_db_acquire() hands out one connection for a unit of
 *    work; lc_db_conn_query() runs statements on it strictly in order
 *    (BEGIN, ..., COMMIT/ROLLBACK are ordinary statements), and
 *    lc_db_release() gives it back. See lc_db_acquire().
 *  - Host names: libpq resolves a `host` name synchronously inside
 *    PQconnectStart. Daemons should use an address (`hostaddr=` or a
 *    numeric `host=`) or a Unix socket directory so connecting never
 *    blocks the loop.
 *
 * Not for COPY, LISTEN/NOTIFY or multi-statement strings: one statement per
 * request (PQsendQueryParams accepts only one).
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lc_db;
struct lc_db_conn;

#define LC_DB_POOL_SIZE 2               /* default connections */
#define LC_DB_POOL_MAX 64               /* most connections allowed */
#define LC_DB_QUEUE_MAX 1024            /* default waiting requests */
#define LC_DB_STATEMENT_TIMEOUT_MS 30000 /* default server-side timeout */
#define LC_DB_DEADLINE_GRACE_MS 1000    /* client deadline past it */
#define LC_DB_CONNECT_TIMEOUT_MS 10000  /* default connect + setup time */
#define LC_DB_MAX_PARAMS 65535          /* the protocol's limit */

/* Settings for lc_db_new(). Zero in a field means its default. */
struct lc_db_config {
	const char *conninfo;   /* libpq connection string; copied; required */
	const char *name;       /* label in log lines ("main"); copied */
	int pool_size;          /* connections, 1..LC_DB_POOL_MAX */
	int queue_max;          /* requests waiting for a connection */
	int64_t statement_timeout_ms; /* server side; < 0 turns it off */
	int64_t query_timeout_ms;     /* default request deadline */
	int64_t connect_timeout_ms;   /* connect + session setup */
	int64_t backoff_base_ms;      /* first reconnect delay (200) */
	int64_t backoff_max_ms;       /* longest reconnect delay (10000) */
	/* Called on the loop when lc_db_ready() changes (may be NULL), e.g.
	 * to replay a spool once the database is back. */
	void (*on_state)(bool ready, void *arg);
	void *state_arg;        /* passed to on_state */
};

/* Counters for /metrics. The first six only grow. */
struct lc_db_stats {
	uint64_t queries;     /* requests accepted (queries and acquires) */
	uint64_t errors;      /* callbacks that got an error */
	uint64_t timeouts;    /* ...of which deadlines that passed */
	uint64_t rejected;    /* ...of which refused at once (down, full) */
	uint64_t reconnects;  /* connections established after the first */
	uint64_t disconnects; /* established connections lost */
	int conns_up;         /* connections ready or busy now */
	int conns_busy;       /* connections running a statement now */
	int queued;           /* requests waiting now */
};

/*
 * Result of one statement, on the loop. Exactly one of:
 *  - success: err is NULL; res is the PGRES_COMMAND_OK / PGRES_TUPLES_OK
 *    result (PQntuples, PQgetvalue... work on it);
 *  - failure: err is a one-line message; res is PostgreSQL's error result
 *    when the server rejected the statement (so PQresultErrorField(res,
 *    PG_DIAG_SQLSTATE) tells e.g. a unique violation "23505"), or NULL
 *    when there was no result (unavailable, queue full, timed out,
 *    connection lost, cancelled by lc_db_free).
 * res and err are borrowed: both are freed when the callback returns, so
 * copy what must be kept. The callback may submit new requests, release
 * connections and call lc_db_free().
 */
typedef void (*lc_db_result_cb)(const PGresult *res, const char *err,
				void *arg);

/*
 * Result of lc_db_acquire(), on the loop: either conn is a connection
 * held for the caller (err is NULL) or conn is NULL and err (borrowed)
 * says why none was given (unavailable, queue full, timed out, cancelled).
 */
typedef void (*lc_db_conn_cb)(struct lc_db_conn *conn, const char *err,
			      void *arg);

/*
 * Create the pool on `base` (borrowed; must outlive the pool) and start
 * connecting every connection; nothing blocks. The conninfo is checked
 * with PQconninfoParse and its password, if any, is registered with
 * lc_log_redact(); the connection string itself is never logged.
 * Returns the pool (free with lc_db_free), or NULL with a message in err
 * (which never quotes the connection string) on bad settings or ENOMEM.
 * The pool is not ready yet when this returns: wait for on_state(true)
 * or lc_db_ready() before submitting work.
 */
struct lc_db *lc_db_new(struct event_base *base,
			const struct lc_db_config *cfg, char *err,
			size_t errlen);

/*
 * Close every connection and free the pool. Every request not yet
 * answered gets its callback now, with err "cancelled" (a query that was
 * running may still complete on the server). Connections held through
 * lc_db_acquire() become invalid: do not use or release them afterwards.
 * Callbacks run from here may not submit new work (it is refused).
 * May be called from inside one of the pool's callbacks: the pool is then
 * freed as soon as that callback returns. lc_db_free(NULL) does nothing.
 */
void lc_db_free(struct lc_db *db);

/* True while at least one connection is up (connected and set up). */
bool lc_db_ready(const struct lc_db *db)
	__attribute__((warn_unused_result));

/* Copy the counters into *out. */
void lc_db_get_stats(const struct lc_db *db, struct lc_db_stats *out);

/*
 * Run one statement on any free connection.
 * sql: one statement with placeholders $1..$nparams; params: nparams text
 * values, an entry NULL meaning SQL NULL (params may be NULL when nparams
 * is 0). sql and params are borrowed for the call only (copied).
 * cb may be NULL (the result is then discarded); arg is passed to it.
 * Returns 0 when the request was taken: cb will run exactly once, later,
 * on the loop (failing fast with an error callback when the database is
 * down or the queue is full). Returns -1 when it was not taken (bad
 * arguments, out of memory, or the pool is being freed): cb will not run.
 */
int lc_db_query(struct lc_db *db, const char *sql, int nparams,
		const char *const *params, lc_db_result_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* lc_db_query() with its own deadline: timeout_ms from now (queue wait
 * included) instead of the pool's query_timeout_ms; 0 = the default. */
int lc_db_query_timeout(struct lc_db *db, int64_t timeout_ms,
			const char *sql, int nparams,
			const char *const *params, lc_db_result_cb cb,
			void *arg) __attribute__((warn_unused_result));

/*
 * Ask for a connection of one's own, for a transaction or any statements
 * that must run in order on one session. cb gets the handle when a
 * connection is free (it waits in the same queue as queries, with the
 * pool's query_timeout_ms as deadline) or an error. Then:
 *
 *     lc_db_conn_query(c, "BEGIN", 0, NULL, NULL, NULL);
 *     lc_db_conn_query(c, "INSERT ...", n, params, on_insert, x);
 *     lc_db_conn_query(c, "COMMIT", 0, NULL, on_commit, x);
 *     lc_db_release(c);
 *
 * Statements on a handle run one after another in submission order and
 * their callbacks come in that order; they may all be submitted at once.
 * If a statement fails inside a transaction, the later ones fail too
 * (PostgreSQL's "current transaction is aborted"); COMMIT then reports
 * ROLLBACK as its command tag, so check each callback.
 * If the connection is lost while held, pending statements fail with
 * "connection lost", later ones too, and the handle stays valid until
 * released: it is never silently swapped for a new session, because a
 * transaction cannot survive a reconnect.
 * Returns 0 (cb will run exactly once, later, on the loop) or -1 (not
 * taken: bad arguments, ENOMEM, pool being freed; cb will not run).
 */
int lc_db_acquire(struct lc_db *db, lc_db_conn_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* lc_db_query() on a held connection (see lc_db_acquire). Returns -1,
 * and cb will not run, after lc_db_release(c) or while the pool is being
 * freed; otherwise as lc_db_query(). */
int lc_db_conn_query(struct lc_db_conn *c, const char *sql, int nparams,
		     const char *const *params, lc_db_result_cb cb,
		     void *arg) __attribute__((warn_unused_result));

/* lc_db_conn_query() with its own deadline (0 = the pool's default). */
int lc_db_conn_query_timeout(struct lc_db_conn *c, int64_t timeout_ms,
			     const char *sql, int nparams,
			     const char *const *params, lc_db_result_cb cb,
			     void *arg) __attribute__((warn_unused_result));

/*
 * Give a held connection back; call exactly once per handle acquired.
 * Statements already submitted on it still run (and get their callbacks)
 * first. If the session is then still inside a transaction (the caller
 * forgot COMMIT/ROLLBACK, or an error left it aborted), it is rolled back
 * before the connection serves anyone else, and a warning is logged.
 * A lost connection is reconnected only once released. c is invalid
 * after this call.
 */
void lc_db_release(struct lc_db_conn *c);

#endif
