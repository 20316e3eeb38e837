/* lc_migrate against the real PostgreSQL of the test run; each test gets
 * a database of its own, dropped afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/migrate.h"

static const char *g_dsn; /* BTCW_TEST_PG_DSN: the server's own database */

struct tdb {
	char name[64];  /* a database of this test's own */
	char dsn[512];  /* g_dsn pointed at it */
};

static void admin_exec(const char *sql)
{
	PGconn *pg = PQconnectdb(g_dsn);
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("admin connection: %s", PQerrorMessage(pg));
	PGresult *res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("'%s': %s", sql, PQerrorMessage(pg));
	PQclear(res);
	PQfinish(pg);
}

static int setup_db(void **state)
{
	static int n;
	struct tdb *t = calloc(1, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "btcw_mig_%d_%d", (int)getpid(),
		 ++n);
	snprintf(t->dsn, sizeof(t->dsn), "%s dbname=%s", g_dsn, t->name);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->name);
	admin_exec(sql);
	*state = t;
	return 0;
}

static int teardown_db(void **state)
{
	struct tdb *t = *state;
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 t->name);
	admin_exec(sql);
	free(t);
	return 0;
}

/* First cell of a query on the test's database ("" for no row). */
static void q(const struct tdb *t, const char *sql, char *out, size_t len)
{
	PGconn *pg = PQconnectdb(t->dsn);
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("connection: %s", PQerrorMessage(pg));
	PGresult *res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("'%s': %s", sql, PQerrorMessage(pg));
	bool has = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
	snprintf(out, len, "%s", has ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	PQfinish(pg);
}

static void assert_query(const struct tdb *t, const char *sql,
			 const char *want)
{
	char got[1024];
	q(t, sql, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("'%s' gave '%s', want '%s'", sql, got, want);
}

#define RECORDED                                                          \
	"SELECT string_agg(version || ':' || name, ',' ORDER BY version)" \
	" FROM schema_migrations"

static const struct lc_migration three[] = {
	{ 1, "0001_accounts", "CREATE TABLE accounts (id int PRIMARY KEY);" },
	{ 2, "0002_seed",
	  "CREATE TABLE notes (id int);\n"
	  "INSERT INTO accounts VALUES (1), (2);\n" },
	{ 5, "0005_more", "ALTER TABLE accounts ADD COLUMN name text;" },
};

/* ---- tests -------------------------------------------------------------- */

static void applies_all_to_empty_database(void **state)
{
	struct tdb *t = *state;
	char err[512] = "";
	int applied = -1;
	int rv = lc_migrate_apply(t->dsn, three, 3, &applied, err,
				  sizeof(err));
	if (rv != 0)
		fail_msg("apply: %s", err);
	assert_int_equal(applied, 3);
	assert_query(t, RECORDED, "1:0001_accounts,2:0002_seed,5:0005_more");
	assert_query(t,
		     "SELECT count(*) FROM schema_migrations"
		     " WHERE applied_at > now() - interval '1 minute'",
		     "3");
	assert_query(t, "SELECT count(name) + count(*) FROM accounts", "2");
	assert_query(t, "SELECT to_regclass('notes') IS NOT NULL", "t");
}

static void reapplying_applies_nothing(void **state)
{
	struct tdb *t = *state;
	char err[512];
	int applied = -1;
	assert_int_equal(lc_migrate_apply(t->dsn, three, 3, &applied, err,
					  sizeof(err)),
			 0);
	assert_int_equal(applied, 3);
	assert_int_equal(lc_migrate_apply(t->dsn, three, 3, &applied, err,
					  sizeof(err)),
			 0);
	assert_int_equal(applied, 0);
	assert_query(t, "SELECT count(*) FROM accounts", "2");
	assert_query(t, "SELECT count(*) FROM schema_migrations", "3");
}

static void appended_migration_applies_alone(void **state)
{
	struct tdb *t = *state;
	char err[512];
	int applied = -1;
	assert_int_equal(lc_migrate_apply(t->dsn, three, 2, &applied, err,
					  sizeof(err)),
			 0);
	assert_int_equal(applied, 2);
	assert_query(t, "SELECT count(*) FROM information_schema.columns"
			" WHERE table_name = 'accounts'",
		     "1");
	assert_int_equal(lc_migrate_apply(t->dsn, three, 3, &applied, err,
					  sizeof(err)),
			 0);
	assert_int_equal(applied, 1);
	assert_query(t, "SELECT count(*) FROM information_schema.columns"
			" WHERE table_name = 'accounts'",
		     "2");
	assert_query(t, RECORDED, "1:0001_accounts,2:0002_seed,5:0005_more");
}

static void failing_migration_leaves_nothing_and_is_named(void **state)
{
	struct tdb *t = *state;
	const struct lc_migration bad[] = {
		three[0],
		{ 2, "0002_broken",
		  "CREATE TABLE half (x int);\n"
		  "INSERT INTO accounts VALUES (7);\n"
		  "SELECT 1 / 0;\n" },
		{ 3, "0003_after", "CREATE TABLE after_bad (x int);" },
	};
	char err[512] = "";
	int applied = -1;
	assert_int_equal(lc_migrate_apply(t->dsn, bad, 3, &applied, err,
					  sizeof(err)),
			 -1);
	assert_int_equal(applied, 1);
	assert_non_null(strstr(err, "0002_broken.sql"));
	assert_non_null(strstr(err, "division by zero"));
	/* nothing of 0002, and the run stopped before 0003 */
	assert_query(t, "SELECT to_regclass('half') IS NULL", "t");
	assert_query(t, "SELECT count(*) FROM accounts", "0");
	assert_query(t, "SELECT to_regclass('after_bad') IS NULL", "t");
	assert_query(t, RECORDED, "1:0001_accounts");

	/* a syntax error is reported with PostgreSQL's words */
	const struct lc_migration typo[] = {
		three[0],
		{ 2, "0002_typo", "CREAT TABLE oops (x int);" },
	};
	assert_int_equal(lc_migrate_apply(t->dsn, typo, 2, &applied, err,
					  sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "0002_typo.sql"));
	assert_non_null(strstr(err, "syntax error"));
	assert_non_null(strstr(err, "42601"));

	/* once fixed, the rest goes in */
	const struct lc_migration fixed[] = {
		three[0],
		{ 2, "0002_broken", "CREATE TABLE half (x int);" },
		bad[2],
	};
	assert_int_equal(lc_migrate_apply(t->dsn, fixed, 3, &applied, err,
					  sizeof(err)),
			 0);
	assert_int_equal(applied, 2);
}

static void bad_arrays_are_rejected_before_connecting(void **state)
{
	struct tdb *t = *state;
	char err[512] = "";
	int applied = -1;
	const struct lc_migration disorder[] = { three[1], three[0] };
	assert_int_equal(lc_migrate_apply(t->dsn, disorder, 2, &applied, err,
					  sizeof(err)),
			 -1);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(err, "0001_accounts.sql"));
	assert_non_null(strstr(err, "increasing"));
	const struct lc_migration dup[] = {
		three[0], { 1, "0001_again", "SELECT 1;" } };
	assert_int_equal(lc_migrate_validate(dup, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0001_again.sql"));
	const struct lc_migration zero[] = { { 0, "0000_zero", "SELECT 1" } };
	assert_int_equal(lc_migrate_validate(zero, 1, err, sizeof(err)), -1);
	const struct lc_migration noname[] = { { 1, NULL, "SELECT 1" } };
	assert_int_equal(lc_migrate_validate(noname, 1, err, sizeof(err)),
			 -1);
	const struct lc_migration nosql[] = { { 1, "0001_x", NULL } };
	assert_int_equal(lc_migrate_validate(nosql, 1, err, sizeof(err)), -1);
	assert_int_equal(lc_migrate_validate(three, 3, err, sizeof(err)), 0);
	assert_int_equal(lc_migrate_validate(NULL, 0, err, sizeof(err)), 0);
	/* nothing was done to the database */
	assert_query(t, "SELECT to_regclass('schema_migrations') IS NULL",
		     "t");
}

static void renamed_migration_is_an_error(void **state)
{
	struct tdb *t = *state;
	char err[512] = "";
	int applied = -1;
	assert_int_equal(lc_migrate_apply(t->dsn, three, 1, &applied, err,
					  sizeof(err)),
			 0);
	const struct lc_migration renamed[] = {
		{ 1, "0001_users", three[0].sql }, three[1] };
	assert_int_equal(lc_migrate_apply(t->dsn, renamed, 2, &applied, err,
					  sizeof(err)),
			 -1);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(err, "0001_accounts"));
	assert_non_null(strstr(err, "0001_users"));
	assert_non_null(strstr(err, "renamed"));
	assert_query(t, "SELECT count(*) FROM schema_migrations", "1");
}

static void unknown_recorded_version_is_tolerated(void **state)
{
	struct tdb *t = *state;
	char err[512] = "";
	int applied = -1;
	assert_int_equal(lc_migrate_apply(t->dsn, three, 3, &applied, err,
					  sizeof(err)),
			 0);
	/* an older build, which knows only the first two */
	assert_int_equal(lc_migrate_apply(t->dsn, three, 2, &applied, err,
					  sizeof(err)),
			 0);
	assert_int_equal(applied, 0);
}

#define NRUNNERS 4

struct runner {
	const char *dsn;
	const struct lc_migration *m;
	int n;
	int rv;
	int applied;
	char err[512];
};

static void *run_migrations(void *arg)
{
	struct runner *r = arg;
	r->rv = lc_migrate_apply(r->dsn, r->m, r->n, &r->applied, r->err,
				 sizeof(r->err));
	return NULL;
}

static void concurrent_runners_apply_each_once(void **state)
{
	struct tdb *t = *state;
	/* each migration logs itself; a second run of any would fail
	 * (CREATE TABLE) or log twice */
	const struct lc_migration m[] = {
		{ 1, "0001_log",
		  "CREATE TABLE run_log (v int);\n"
		  "SELECT pg_sleep(0.3);\n"
		  "INSERT INTO run_log VALUES (1);" },
		{ 2, "0002_b", "INSERT INTO run_log VALUES (2);" },
		{ 3, "0003_c",
		  "CREATE TABLE c (x int); INSERT INTO run_log VALUES (3);" },
		{ 4, "0004_d", "INSERT INTO run_log VALUES (4);" },
	};
	struct runner r[NRUNNERS];
	pthread_t th[NRUNNERS];
	for (int i = 0; i < NRUNNERS; i++) {
		r[i] = (struct runner){ .dsn = t->dsn, .m = m, .n = 4 };
		int rv = pthread_create(&th[i], NULL, run_migrations, &r[i]);
		assert_int_equal(rv, 0);
	}
	int total = 0;
	for (int i = 0; i < NRUNNERS; i++) {
		pthread_join(th[i], NULL);
		if (r[i].rv != 0)
			fail_msg("runner %d: %s", i, r[i].err);
		total += r[i].applied;
	}
	assert_int_equal(total, 4);
	assert_query(t, "SELECT string_agg(v::text, ',' ORDER BY v)"
			" FROM run_log",
		     "1,2,3,4");
	assert_query(t, RECORDED, "1:0001_log,2:0002_b,3:0003_c,4:0004_d");
}

static void product_schema_applies(void **state)
{
	struct tdb *t = *state;
	char err[1024] = "";
	int applied = -1;
	int n = lc_schema_migrations_count;
	if (lc_migrate_apply(t->dsn, lc_schema_migrations, n, &applied, err,
			     sizeof(err)) != 0)
		fail_msg("product schema: %s", err);
	assert_int_equal(applied, n);
	/* what is recorded is exactly the array, in order */
	char want[4096] = "";
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(want + len, sizeof(want) - len,
					"%s%d:%s", i ? "," : "",
					lc_schema_migrations[i].version,
					lc_schema_migrations[i].name);
	assert_query(t, RECORDED, want);
	assert_int_equal(lc_migrate_apply(t->dsn, lc_schema_migrations, n,
					  &applied, err, sizeof(err)),
			 0);
	assert_int_equal(applied, 0);
}

struct late {
	const char *name;
};

static void *create_later(void *arg)
{
	struct late *l = arg;
	usleep(600000);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", l->name);
	admin_exec(sql);
	return NULL;
}

static void wait_variant_retries_until_the_database_exists(void **state)
{
	struct tdb *t = *state;
	/* not there yet: comes 0.6 s later */
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE %s", t->name);
	admin_exec(sql);
	struct late l = { t->name };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, create_later, &l), 0);
	char err[512] = "";
	int applied = -1;
	int64_t t0 = lc_clock_mono_ms();
	int rv = lc_migrate_apply_wait(t->dsn, three, 3, 10000, &applied, err,
				       sizeof(err));
	int64_t took = lc_clock_mono_ms() - t0;
	pthread_join(th, NULL);
	if (rv != 0)
		fail_msg("apply_wait: %s", err);
	assert_int_equal(applied, 3);
	assert_true(took >= 500);
	assert_true(took < 8000);
}

static void wait_variant_gives_up_at_deadline(void **state)
{
	(void)state;
	char err[512] = "";
	int applied = -1;
	int64_t t0 = lc_clock_mono_ms();
	/* nothing listens on port 1 */
	int rv = lc_migrate_apply_wait("host=127.0.0.1 port=1 dbname=x user=x",
				       three, 3, 700, &applied, err,
				       sizeof(err));
	int64_t took = lc_clock_mono_ms() - t0;
	assert_int_equal(rv, -1);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(err, "cannot connect"));
	assert_non_null(strstr(err, "gave up"));
	assert_in_range(took, 650, 3000);

	/* a failing migration is not retried */
	const struct lc_migration bad[] = { { 1, "0001_bad", "SELEC 1;" } };
	struct tdb *t = *state;
	t0 = lc_clock_mono_ms();
	rv = lc_migrate_apply_wait(t->dsn, bad, 1, 5000, &applied, err,
				   sizeof(err));
	assert_int_equal(rv, -1);
	assert_non_null(strstr(err, "0001_bad.sql"));
	assert_true(lc_clock_mono_ms() - t0 < 2000);
}

static void bad_connection_string_is_not_quoted(void **state)
{
	(void)state;
	char err[512] = "";
	int applied = -1;
	assert_int_equal(lc_migrate_apply("password=hunter2secret port",
					  three, 3, &applied, err,
					  sizeof(err)),
			 -1);
	assert_null(strstr(err, "hunter2secret"));
	assert_non_null(strstr(err, "connection string"));
}

int main(void)
{
	g_dsn = getenv("BTCW_TEST_PG_DSN");
	if (!g_dsn) {
		fprintf(stderr, "test_migrate: BTCW_TEST_PG_DSN must be set "
				"(tests/harness/servers.sh start)\n");
		return 1;
	}
	lc_log_init("test_migrate", LC_LOG_ERROR);
#define T(f) cmocka_unit_test_setup_teardown(f, setup_db, teardown_db)
	const struct CMUnitTest tests[] = {
		T(applies_all_to_empty_database),
		T(reapplying_applies_nothing),
		T(appended_migration_applies_alone),
		T(failing_migration_leaves_nothing_and_is_named),
		T(bad_arrays_are_rejected_before_connecting),
		T(renamed_migration_is_an_error),
		T(unknown_recorded_version_is_tolerated),
		T(concurrent_runners_apply_each_once),
		T(product_schema_applies),
		T(wait_variant_retries_until_the_database_exists),
		T(wait_variant_gives_up_at_deadline),
		T(bad_connection_string_is_not_quoted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
