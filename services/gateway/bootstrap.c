/* The first admin: from the environment, or `--create-admin USER`. */
#include "services/gateway/bootstrap.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/daemon.h"
#include "libcommon/log.h"
#include "libcommon/migrate.h"
#include "libcommon/svc.h"
#include "services/gateway/passwd.h"
#include "services/gateway/policy.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_ADMIN_EXISTS                                                    \
	"SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')"
#define SQL_LOCK                                                            \
	"SELECT pg_advisory_xact_lock(hashtext('btcw.gateway.first_admin'))"
#define SQL_INSERT                                                          \
	"INSERT INTO users (username, password_hash, role) VALUES "         \
	"($1, $2, 'admin') RETURNING id"
#define MIGRATE_WAIT_MS 30000

enum { ADMIN_CREATED, ADMIN_EXISTED };

/* Run one statement; the result (caller clears) or NULL with err. */
static PGresult *run(PGconn *c, const char *sql, int n,
		     const char *const *params, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "23505") == 0)
		snprintf(err, errlen, "an account named '%s' exists already",
			 params ? params[0] : "?");
	else
		snprintf(err, errlen, "database: %s", PQerrorMessage(c));
	PQclear(res);
	return NULL;
}

static bool admin_exists(PGconn *c, bool *out, char *err, size_t errlen)
{
	PGresult *res = run(c, SQL_ADMIN_EXISTS, 0, NULL, err, errlen);

	if (!res)
		return false;
	*out = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return true;
}

/* In one locked transaction: unless (only_if_none and an admin exists),
 * insert the admin. ADMIN_CREATED, ADMIN_EXISTED or an exit code. */
static int insert_admin(PGconn *c, const char *user, const char *hash,
			bool only_if_none, char *err, size_t errlen)
{
	const char *params[] = { user, hash };
	PGresult *res = run(c, "BEGIN", 0, NULL, err, errlen);
	bool exists = false;
	int rc = LC_EXIT_SYSTEM;

	if (!res)
		return rc;
	PQclear(res);
	res = run(c, SQL_LOCK, 0, NULL, err, errlen);
	if (!res)
		goto end;
	PQclear(res);
	if (only_if_none && !admin_exists(c, &exists, err, errlen))
		goto end;
	if (exists) {
		rc = ADMIN_EXISTED;
		goto end;
	}
	res = run(c, SQL_INSERT, 2, params, err, errlen);
	if (res)
		rc = ADMIN_CREATED;
	else if (strstr(err, "exists already"))
		rc = LC_EXIT_USAGE;
	PQclear(res);
end:
	PQclear(run(c, rc == ADMIN_CREATED ? "COMMIT" : "ROLLBACK", 0, NULL,
		    err, errlen));
	return rc;
}

static bool connect_db(const struct lc_config *cfg, PGconn **out,
		       char *err, size_t errlen)
{
	char conninfo[2048];

	if (lc_svc_conninfo(&cfg->system.database, conninfo,
			    sizeof(conninfo)) != 0) {
		snprintf(err, errlen, "database settings are too long");
		return false;
	}
	*out = PQconnectdb(conninfo);
	explicit_bzero(conninfo, sizeof(conninfo));
	if (PQstatus(*out) == CONNECTION_OK)
		return true;
	snprintf(err, errlen, "cannot connect to the database: %s",
		 PQerrorMessage(*out));
	PQfinish(*out);
	*out = NULL;
	return false;
}

/* Username format and password policy; false with the reason. */
static bool acceptable(const struct lc_config *cfg, const char *user,
		       const char *pw, char *err, size_t errlen)
{
	const struct lc_cfg_sys_security *sec = &cfg->system.security;
	char why[200];

	if (!gw_username_ok(user)) {
		snprintf(err, errlen,
			 "username '%.64s' is not valid: use 3-64 of A-Z a-z "
			 "0-9 _ . @ -, starting with a letter or digit", user);
		return false;
	}
	if (!gw_password_ok(pw, user, (size_t)sec->min_password_length,
			    sec->require_special_chars, why, sizeof(why))) {
		snprintf(err, errlen, "admin password refused: %s", why);
		return false;
	}
	return true;
}

/* Check, hash and insert; ADMIN_CREATED, ADMIN_EXISTED or exit code. */
static int create(const struct lc_config *cfg, PGconn *c, const char *user,
		  const char *pw, bool only_if_none, char *err,
		  size_t errlen)
{
	char *hash;
	int rc;

	if (!acceptable(cfg, user, pw, err, errlen))
		return LC_EXIT_USAGE;
	hash = gw_passwd_hash_now(pw, err, errlen);
	if (!hash)
		return LC_EXIT_SYSTEM;
	rc = insert_admin(c, user, hash, only_if_none, err, errlen);
	free(hash);
	return rc;
}

int gw_bootstrap_env(const struct lc_config *cfg, char *err, size_t errlen)
{
	const char *user = getenv("BTCW_ADMIN_USER");
	const char *pw = getenv("BTCW_ADMIN_PASSWORD");
	PGconn *c = NULL;
	bool exists = false;
	int rc = ADMIN_EXISTED;

	if (!user || !*user)
		return 0;
	if (!pw || !*pw) {
		snprintf(err, errlen, "BTCW_ADMIN_USER is set but "
			 "BTCW_ADMIN_PASSWORD is empty");
		return LC_EXIT_USAGE;
	}
	lc_log_redact(pw);
	if (!connect_db(cfg, &c, err, errlen))
		return LC_EXIT_SYSTEM;
	if (!admin_exists(c, &exists, err, errlen))
		rc = LC_EXIT_SYSTEM;
	else if (!exists)
		rc = create(cfg, c, user, pw, true, err, errlen);
	PQfinish(c);
	if (rc == ADMIN_CREATED)
		log_info("users.first_admin", LF_S("user", user),
			 LF_S("from", "BTCW_ADMIN_USER"));
	else if (rc == ADMIN_EXISTED)
		log_info("users.first_admin_skipped",
			 LF_S("reason", "an admin account exists"));
	return rc == ADMIN_CREATED || rc == ADMIN_EXISTED ? 0 : rc;
}

/* ---- the command ---- */

int gw_create_admin_command(const char *dir, const char *user,
			    const char *pw)
{
	struct lc_config *cfg = NULL;
	PGconn *c = NULL;
	char err[1024], conninfo[2048];
	int rc, applied = 0;

	if (lc_cfg_load_dir(dir, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "gateway: %s\n", err);
		return LC_EXIT_USAGE;
	}
	if (!acceptable(cfg, user, pw, err, sizeof(err))) {
		rc = LC_EXIT_USAGE;
	} else if (lc_svc_conninfo(&cfg->system.database, conninfo,
				   sizeof(conninfo)) != 0 ||
		   lc_migrate_apply_wait(conninfo, lc_schema_migrations,
					 lc_schema_migrations_count,
					 MIGRATE_WAIT_MS, &applied, err,
					 sizeof(err)) != 0 ||
		   !connect_db(cfg, &c, err, sizeof(err))) {
		rc = LC_EXIT_SYSTEM;
	} else {
		rc = create(cfg, c, user, pw, false, err, sizeof(err));
	}
	explicit_bzero(conninfo, sizeof(conninfo));
	PQfinish(c);
	lc_cfg_free(cfg);
	if (rc == ADMIN_CREATED) {
		fprintf(stderr, "gateway: created admin account '%s'\n", user);
		return LC_EXIT_OK;
	}
	fprintf(stderr, "gateway: %s\n", err);
	return rc;
}
