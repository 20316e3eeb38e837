/* Versioned schema migrations, each applied once (see migrate.h). */
#include "libcommon/migrate.h"

#include "libcommon/backoff.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONNECT_TIMEOUT_S "10"
#define WAIT_BASE_MS 250
#define WAIT_MAX_MS 5000

static const char create_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())";

/* One run's state. */
struct run {
	PGconn *pg;        /* owned */
	char *err;         /* caller's buffer */
	size_t errlen;
	int applied;       /* migrations committed by this run */
	bool retryable;    /* failed for want of a (working) connection */
};

static void on_notice(void *arg, const char *message)
{
	(void)arg;
	char line[512];
	snprintf(line, sizeof(line), "%s", message);
	line[strcspn(line, "\n")] = '\0';
	log_debug("db.migrate_notice", LF_S("message", line));
}

/* PostgreSQL's message on one line: "ERROR: ... (SQLSTATE 42601)". */
static void pg_message(char *out, size_t outlen, PGconn *pg,
		       const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (msg)
		snprintf(out, outlen, "%s: %s (SQLSTATE %s)",
			 sev ? sev : "ERROR", msg, code ? code : "?");
	else
		snprintf(out, outlen, "%s", PQerrorMessage(pg));
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	size_t len = strlen(out);
	while (len > 0 && out[len - 1] == ' ')
		out[--len] = '\0';
}

/* Run one statement; on failure write "<what>: <message>" to err. The
 * result is returned through out (caller PQclears) or cleared. */
static int exec(struct run *r, const char *what, const char *sql,
		int nparams, const char *const *params, PGresult **out)
{
	PGresult *res = nparams ? PQexecParams(r->pg, sql, nparams, NULL,
					       params, NULL, NULL, 0)
				: PQexec(r->pg, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
	    st == PGRES_EMPTY_QUERY) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return 0;
	}
	char msg[512];
	pg_message(msg, sizeof(msg), r->pg, res);
	snprintf(r->err, r->errlen, "%s: %s", what, msg);
	if (PQstatus(r->pg) != CONNECTION_OK)
		r->retryable = true;
	PQclear(res);
	return -1;
}

/* One migration in its own transaction, recorded in the same one. */
static int apply_one(struct run *r, const struct lc_migration *m)
{
	char what[256], ver[16];
	snprintf(what, sizeof(what), "migration '%s.sql' failed", m->name);
	snprintf(ver, sizeof(ver), "%d", m->version);
	const char *params[] = { ver, m->name };
	int64_t t0 = lc_clock_mono_ms();
	if (exec(r, what, "BEGIN", 0, NULL, NULL) != 0)
		return -1;
	/* the file may hold several statements: the simple query protocol */
	if (exec(r, what, m->sql, 0, NULL, NULL) != 0 ||
	    exec(r, what,
		 "INSERT INTO schema_migrations (version, name, applied_at)"
		 " VALUES ($1, $2, now())",
		 2, params, NULL) != 0 ||
	    exec(r, what, "COMMIT", 0, NULL, NULL) != 0) {
		PQclear(PQexec(r->pg, "ROLLBACK"));
		return -1;
	}
	r->applied++;
	log_info("db.migration_applied", LF_I("version", m->version),
		 LF_S("name", m->name),
		 LF_I("ms", lc_clock_mono_ms() - t0));
	return 0;
}

/* Is version v in m (sorted)? Its index, or -1. */
static int find_version(const struct lc_migration *m, int n, int v)
{
	int lo = 0, hi = n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (m[mid].version == v)
			return mid;
		if (m[mid].version < v)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Compare schema_migrations (res: version, name) with the array: fail on
 * a renamed migration, warn about versions this build does not know, and
 * mark in done[] what is already applied.
 */
static int check_recorded(struct run *r, const PGresult *res,
			  const struct lc_migration *m, int n, bool *done)
{
	for (int row = 0; row < PQntuples(res); row++) {
		const char *vs = PQgetvalue(res, row, 0);
		const char *name = PQgetvalue(res, row, 1);
		int v = (int)strtol(vs, NULL, 10);
		int i = find_version(m, n, v);
		if (i < 0) {
			log_warn("db.migration_unknown", LF_I("version", v),
				 LF_S("name", name));
			continue;
		}
		if (strcmp(m[i].name, name) != 0) {
			snprintf(r->err, r->errlen,
				 "migration %d is recorded as '%s' but this "
				 "build has '%s.sql' (renamed migration?)",
				 v, name, m[i].name);
			return -1;
		}
		done[i] = true;
	}
	return 0;
}

/* Everything after connecting, under the advisory lock. */
static int run_locked(struct run *r, const struct lc_migration *m, int n,
		      bool *done)
{
	PGresult *res = NULL;
	if (exec(r, "cannot create schema_migrations", create_sql, 0, NULL,
		 NULL) != 0 ||
	    exec(r, "cannot read schema_migrations",
		 "SELECT version, name FROM schema_migrations ORDER BY 1", 0,
		 NULL, &res) != 0)
		return -1;
	int rv = check_recorded(r, res, m, n, done);
	PQclear(res);
	for (int i = 0; rv == 0 && i < n; i++)
		if (!done[i])
			rv = apply_one(r, &m[i]);
	return rv;
}

static int run_once(struct run *r, const char *conninfo,
		    const struct lc_migration *m, int n)
{
	/* our connect_timeout first, so the caller's string overrides it */
	const char *kw[] = { "connect_timeout", "dbname", NULL };
	const char *val[] = { CONNECT_TIMEOUT_S, conninfo, NULL };
	char key[32];
	snprintf(key, sizeof(key), "%lld", (long long)LC_MIGRATE_LOCK_KEY);
	const char *kp[] = { key };
	bool *done = calloc((size_t)n + 1, sizeof(*done));
	int rv = -1;
	r->pg = PQconnectdbParams(kw, val, 1);
	if (!done || !r->pg) {
		snprintf(r->err, r->errlen, "migrate: out of memory");
		goto out;
	}
	if (PQstatus(r->pg) != CONNECTION_OK) {
		char msg[512];
		pg_message(msg, sizeof(msg), r->pg, NULL);
		snprintf(r->err, r->errlen,
			 "cannot connect to the database: %s", msg);
		r->retryable = true;
		goto out;
	}
	PQsetNoticeProcessor(r->pg, on_notice, NULL);
	/* a long migration must not hit a role's statement_timeout; the
	 * lock wait is not bounded: the holder is another runner, which
	 * finishes or dies (and its session lock with it) */
	if (exec(r, "cannot set up the session", "SET statement_timeout = 0",
		 0, NULL, NULL) != 0 ||
	    exec(r, "cannot take the migration lock",
		 "SELECT pg_advisory_lock($1::bigint)", 1, kp, NULL) != 0)
		goto out;
	rv = run_locked(r, m, n, done);
	/* also released by disconnecting; unlock to say so explicitly */
	PQclear(PQexecParams(r->pg, "SELECT pg_advisory_unlock($1::bigint)",
			     1, NULL, kp, NULL, NULL, 0));
out:
	PQfinish(r->pg);
	r->pg = NULL;
	free(done);
	return rv;
}

int lc_migrate_validate(const struct lc_migration *m, int n, char *err,
			size_t errlen)
{
	if (n < 0 || (n > 0 && !m)) {
		snprintf(err, errlen, "migrate: no migrations array");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (!m[i].name || !m[i].name[0] || !m[i].sql) {
			snprintf(err, errlen,
				 "migration #%d (version %d) has no name or "
				 "no SQL", i, m[i].version);
			return -1;
		}
		if (m[i].version <= 0) {
			snprintf(err, errlen,
				 "migration '%s.sql': version %d must be > 0",
				 m[i].name, m[i].version);
			return -1;
		}
		if (i > 0 && m[i].version <= m[i - 1].version) {
			snprintf(err, errlen,
				 "migration '%s.sql' (version %d) follows "
				 "'%s.sql' (version %d): versions must be "
				 "unique and in increasing order",
				 m[i].name, m[i].version, m[i - 1].name,
				 m[i - 1].version);
			return -1;
		}
	}
	return 0;
}

static int apply(const char *conninfo, const struct lc_migration *m, int n,
		 int *applied, char *err, size_t errlen, bool *retryable)
{
	struct run r = { .err = err, .errlen = errlen };
	*retryable = false;
	if (applied)
		*applied = 0;
	if (lc_migrate_validate(m, n, err, errlen) != 0)
		return -1;
	char *perr = NULL;
	PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, &perr)
					  : NULL;
	PQfreemem(perr);
	if (!opts) {
		/* libpq's message may quote the string, password and all */
		snprintf(err, errlen, "invalid PostgreSQL connection string");
		return -1;
	}
	PQconninfoFree(opts);
	int rv = run_once(&r, conninfo, m, n);
	if (applied)
		*applied = r.applied;
	*retryable = rv != 0 && r.retryable;
	return rv;
}

int lc_migrate_apply(const char *conninfo, const struct lc_migration *m,
		     int n, int *applied, char *err, size_t errlen)
{
	bool retryable;
	return apply(conninfo, m, n, applied, err, errlen, &retryable);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int lc_migrate_apply_wait(const char *conninfo,
			  const struct lc_migration *m, int n,
			  int64_t timeout_ms, int *applied, char *err,
			  size_t errlen)
{
	int64_t start = lc_clock_mono_ms();
	struct lc_backoff b;
	lc_backoff_init(&b, WAIT_BASE_MS, WAIT_MAX_MS, 0);
	int total = 0;
	int rv;
	for (;;) {
		bool retryable;
		int got = 0;
		rv = apply(conninfo, m, n, &got, err, errlen, &retryable);
		total += got;
		if (rv == 0 || !retryable)
			break;
		int64_t left = start + timeout_ms - lc_clock_mono_ms();
		if (left <= 0) {
			size_t len = strlen(err);
			char tail[64];
			snprintf(tail, sizeof(tail),
				 " (gave up after %lld ms)",
				 (long long)(lc_clock_mono_ms() - start));
			if (len + strlen(tail) < errlen)
				memcpy(err + len, tail, strlen(tail) + 1);
			break;
		}
		int64_t d = lc_backoff_next(&b);
		if (d > left)
			d = left;
		log_warn("db.migrate_retry", LF_S("reason", err),
			 LF_I("retry_in_ms", d));
		sleep_ms(d);
	}
	if (applied)
		*applied = total;
	return rv;
}
