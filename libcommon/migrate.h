#ifndef LC_MIGRATE_H
#define LC_MIGRATE_H
/*
 * Database migrations: versioned SQL files (libcommon/schema/NNNN_name.sql)
 * compiled into the library by scripts/embed-sql.sh, applied in order,
 * each once, each in its own transaction, and recorded in the table
 * schema_migrations(version, name, applied_at).
 */
struct lc_migration {
	int version;      /* NNNN of the file name */
	const char *name; /* file name without .sql */
	const char *sql;  /* the file's text */
};

/* The product schema (generated). */
extern const struct lc_migration lc_schema_migrations[];
extern const int lc_schema_migrations_count;

/*
 * The runner. It runs at daemon start-up, before the event loop, so it
 * uses a plain synchronous libpq connection of its own (PQexec): nothing
 * else is waiting on the thread yet.
 *
 * A run: connect; take the session advisory lock LC_MIGRATE_LOCK_KEY so
 * that daemons starting together run one after another (the later ones
 * then find nothing to do); create schema_migrations if missing; compare
 * what is recorded with the array; apply each migration not yet recorded,
 * in version order, each in its own transaction together with its row in
 * schema_migrations (so a migration is either wholly applied and recorded
 * or not at all); unlock; disconnect.
 *
 * Rules for migration files: no BEGIN/COMMIT/ROLLBACK of their own, and
 * nothing that cannot run in a transaction block (CREATE INDEX
 * CONCURRENTLY, VACUUM, CREATE DATABASE). Never rename or edit a file
 * once it has shipped: add a new one.
 *
 * A version recorded in the database but absent from the array (a newer
 * build migrated it) is logged as a warning and left alone, so an older
 * daemon can still start during a rolling upgrade.
 */
#include <stddef.h>
#include <stdint.h>

/* pg_advisory_lock key shared by every runner: "btcwmigr". */
#define LC_MIGRATE_LOCK_KEY 0x627463776d696772LL

/*
 * Check an array without touching any database: every version > 0 and
 * strictly greater than the one before (so no duplicates and no
 * disorder), every name and sql non-NULL and the name non-empty.
 * Returns 0, or -1 with the first problem described in err.
 */
int lc_migrate_validate(const struct lc_migration *m, int n, char *err,
			size_t errlen) __attribute__((warn_unused_result));

/*
 * Apply m[0..n) to the database named by conninfo (a libpq connection
 * string, borrowed; never written into err or the log). The array is
 * validated first and nothing is done if it is invalid.
 * *applied (may be NULL) gets the number of migrations applied by this
 * call, including on failure (those before the failing one stay applied).
 * Returns 0, or -1 with err saying why: the array is invalid, the
 * connection failed, a recorded version has another name than the array's
 * ("renamed?"), or a migration failed; then err names the file
 * ("0003_strategies.sql") and gives PostgreSQL's message, the failing
 * migration is rolled back entirely and the run stops there.
 */
int lc_migrate_apply(const char *conninfo, const struct lc_migration *m,
		     int n, int *applied, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * lc_migrate_apply() for a database that may still be starting: when the
 * connection fails, or is lost during the run, try again with backoff
 * (250 ms doubling to 5 s) until timeout_ms have passed since the call.
 * Errors that retrying cannot fix (an invalid array, a failing migration,
 * a renamed one) return at once. Blocks the calling thread while it
 * waits: for start-up only. Return value, *applied and err as
 * lc_migrate_apply(); *applied counts over all attempts.
 */
int lc_migrate_apply_wait(const char *conninfo,
			  const struct lc_migration *m, int n,
			  int64_t timeout_ms, int *applied, char *err,
			  size_t errlen) __attribute__((warn_unused_result));

#endif
