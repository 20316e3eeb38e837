#ifndef LC_DB_INTERNAL_H
#define LC_DB_INTERNAL_H
/*
 * Private to the database pool, not part of the public API (that is
 * libcommon/db.h, which also explains the design): the pool's structures
 * and what more than one of libcommon/db_*.c needs. Only those files
 * include this header.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "libcommon/backoff.h"
#include "libcommon/db.h"

#define LAST_ERR_MAX 300        /* kept reason of the last failure */

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

/* Functions more than one file calls; each is explained where it is
 * defined. */

/* ---- db_req.c: requests, their lists, error text, readiness ---- */

void db_list_push(struct req_list *l, struct db_req *r);
void db_list_remove(struct req_list *l, struct db_req *r);
struct db_req *db_list_pop(struct req_list *l);
void db_one_line(char *out, size_t outlen, const char *prefix,
		 const char *msg);
char *db_one_line_dup(const char *prefix, const char *msg);
struct db_req *db_req_new(enum req_kind kind, const char *sql, int nparams,
			  const char *const *params);
void db_req_free(struct db_req *r);
bool db_slot_up(const struct lc_db_conn *s);
bool db_any_up(const struct lc_db *db);
void db_req_done(struct lc_db *db, struct db_req *r);
void db_req_fail(struct lc_db *db, struct db_req *r, const char *prefix,
		 const char *msg);
void db_fail_list(struct lc_db *db, struct req_list *l, const char *prefix,
		  const char *msg);
void db_note_state(struct lc_db *db);

/* ---- db_conn.c: one connection, and giving connections work ---- */

void db_slot_close(struct lc_db_conn *s);
void db_slot_unhold(struct lc_db_conn *s);
void db_slot_down(struct lc_db_conn *s, const char *why);
void db_slot_connect(struct lc_db_conn *s);
void db_pump(struct lc_db *db);

#endif
