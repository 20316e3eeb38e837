#ifndef GW_USERS_H
#define GW_USERS_H
/*
 * Accounts in PostgreSQL (libcommon/schema/0002_users.sql): shared SQL
 * pieces and helpers for the auth and account routes, the upkeep purge
 * and the lockout alert.
 */
#include <libpq-fe.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

struct gw;

/* RFC 3339 UTC with milliseconds, or NULL, for a timestamptz column. */
#define GW_SQL_TS(col)                                                     \
	"to_char(" col " AT TIME ZONE 'UTC', "                             \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A users row "u" as one JSON text column (never the password hash). */
#define GW_SQL_USER_JSON                                                   \
	"json_build_object('id', u.id, 'username', u.username, "           \
	"'role', u.role, 'disabled', u.disabled, "                         \
	"'locked', coalesce(u.locked_until > now(), false), "              \
	"'locked_until', " GW_SQL_TS("u.locked_until") ", "                \
	"'failed_logins', u.failed_logins, "                               \
	"'last_login_at', " GW_SQL_TS("u.last_login_at") ", "              \
	"'last_login_addr', host(u.last_login_addr), "                     \
	"'password_changed_at', " GW_SQL_TS("u.password_changed_at") ", "  \
	"'created_at', " GW_SQL_TS("u.created_at") ", "                    \
	"'updated_at', " GW_SQL_TS("u.updated_at") ")::text"

/* The JSON text at (row, col) of res parsed (caller deletes), or NULL
 * when the value is SQL NULL or not JSON. */
cJSON *gw_row_json(const PGresult *res, int row, int col);

/* The SQLSTATE of a failed statement's result, or "" (never NULL). */
const char *gw_sqlstate(const PGresult *res);

/* Delete revoked tokens past their expiry and login_throttle rows
 * untouched for a day (fire and forget). */
void gw_users_purge(struct gw *g);

/*
 * A lockout happened: count it, log it and publish alert.raised
 * (kind login_lockout, P1). scope is "account" (who: the username) or
 * "address" (who: the client address); attempts and minutes as
 * configured.
 */
void gw_users_lockout(struct gw *g, const char *scope, const char *who,
		      const char *client_addr, long attempts, long minutes);

#endif
