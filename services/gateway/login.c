/*
 * POST /api/v1/auth/login: {username, password} -> a token.
 *
 *   1. one query: is the client address locked (login_throttle), and the
 *      account (users, case-insensitive name), if there is one;
 *   2. argon2id verify on a worker (passwd.c) — against the account's
 *      hash, or against a dummy hash when there is no such account, so
 *      that both take the same time;
 *   3. success (right password, account enabled and not locked): reset
 *      the account's counter, issue the token; anything else: one
 *      statement counts the failure for the account (5 in a row lock it
 *      for 30 min) and for the address (5 in a window of 30 min lock it),
 *      then the same 401 whatever the reason, so a response never tells
 *      whether an account exists, is locked or is disabled.
 * A locked address (it is not an account, so nothing leaks) gets 429 with
 * Retry-After before any hashing.
 */
#include "libcommon/cfg_schema.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "services/gateway/auth.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/passwd.h"
#include "services/gateway/policy.h"
#include "services/gateway/routes.h"
#include "services/gateway/users.h"
#include "services/gateway/validate.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_LOOKUP                                                          \
	"SELECT (SELECT greatest(1, ceil(extract(epoch FROM "               \
	"t.locked_until - now())))::bigint FROM login_throttle t "          \
	"WHERE t.client_addr = $2::inet AND t.locked_until > now()), "      \
	"u.id, u.username, u.password_hash, u.role, u.disabled, "           \
	"coalesce(u.locked_until > now(), false), u.token_version "         \
	"FROM (SELECT 1) AS one LEFT JOIN users u "                         \
	"ON lower(u.username) = lower($1)"

/* $1 user id or NULL, $2 address, $3 attempts, $4 minutes. The account
 * counts consecutive failures (restarting after an expired lock); the
 * address counts failures in a window as long as the lockout. */
#define WINDOW_OVER                                                         \
	"t.window_started_at <= now() - make_interval(mins => $4::int)"
#define SQL_FAILED                                                          \
	"WITH acct AS (UPDATE users u SET failed_logins = n.cnt, "          \
	"last_failed_login_at = now(), locked_until = CASE WHEN n.cnt >= "  \
	"$3::int THEN now() + make_interval(mins => $4::int) END "          \
	"FROM (SELECT id, CASE WHEN locked_until <= now() THEN 1 "          \
	"ELSE failed_logins + 1 END AS cnt FROM users WHERE id = $1::int) n " \
	"WHERE u.id = n.id AND (u.locked_until IS NULL OR "                 \
	"u.locked_until <= now()) RETURNING u.locked_until IS NOT NULL "    \
	"AS locked), "                                                      \
	"addr AS (INSERT INTO login_throttle AS t (client_addr, "           \
	"failed_count, window_started_at, locked_until) VALUES ($2::inet, " \
	"1, now(), CASE WHEN 1 >= $3::int THEN now() + make_interval(mins " \
	"=> $4::int) END) ON CONFLICT (client_addr) DO UPDATE SET "         \
	"failed_count = CASE WHEN " WINDOW_OVER " THEN 1 ELSE "             \
	"t.failed_count + 1 END, window_started_at = CASE WHEN "            \
	WINDOW_OVER " THEN now() ELSE t.window_started_at END, "            \
	"locked_until = CASE WHEN (CASE WHEN " WINDOW_OVER " THEN 1 ELSE "  \
	"t.failed_count + 1 END) >= $3::int THEN now() + "                  \
	"make_interval(mins => $4::int) END RETURNING t.failed_count) "     \
	"SELECT coalesce((SELECT locked FROM acct), false), "               \
	"(SELECT failed_count FROM addr)"

#define SQL_SUCCEEDED                                                       \
	"UPDATE users SET failed_logins = 0, locked_until = NULL, "         \
	"last_login_at = now(), last_login_addr = $2::inet "                \
	"WHERE id = $1::int"

static const struct gw_field login_spec[] = {
	{ .name = "username", .type = GW_T_STR, .flags = GW_F_REQ,
	  .min = 1, .max = 128 },
	{ .name = "password", .type = GW_T_STR, .flags = GW_F_REQ,
	  .min = 1, .max = GW_PASSWORD_MAX },
	{ 0 },
};

struct login {
	char *password;           /* owned copy; wiped */
	gw_login_ok ok;           /* what success does */
	bool found;               /* the account exists */
	bool usable;              /* ... and is enabled and not locked */
	char uid[24];             /* users.id as text */
	char username[GW_USERNAME_MAX + 1]; /* as stored */
	char role[8];
	int64_t ver;
};

static void login_free(void *p)
{
	struct login *l = p;

	if (l->password) {
		explicit_bzero(l->password, strlen(l->password));
		free(l->password);
	}
	free(l);
}

static void count_login(struct gw_req *r, const char *result)
{
	lc_series_inc(lc_metric_series(r->g->m.logins, result));
}

static void reply_denied(struct gw_req *r)
{
	count_login(r, "failure");
	gw_reply_error(r, 401, "invalid_credentials",
		       "invalid username or password, or the account is "
		       "locked or disabled");
}

static void on_failure_counted(const PGresult *res, const char *err,
			       void *arg)
{
	struct gw_req *r = arg;
	struct login *l = r->state;
	const struct lc_cfg_sys_security *sec = gw_security(r->g);

	if (err) {
		gw_reply_unavailable(r, "database");
		return;
	}
	log_info("auth.login_failed", LF_B("known", l->found),
		 LF_S("user", l->found ? l->username : NULL),
		 LF_S("client", r->client_addr));
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		gw_users_lockout(r->g, "account", l->username, r->client_addr,
				 (long)sec->max_login_attempts,
				 (long)sec->lockout_duration_minutes);
	if (!PQgetisnull(res, 0, 1) &&
	    strtoll(PQgetvalue(res, 0, 1), NULL, 10) ==
		    sec->max_login_attempts)
		gw_users_lockout(r->g, "address", r->client_addr,
				 r->client_addr,
				 (long)sec->max_login_attempts,
				 (long)sec->lockout_duration_minutes);
	reply_denied(r);
}

static void count_failure(struct gw_req *r)
{
	struct login *l = r->state;
	const struct lc_cfg_sys_security *sec = gw_security(r->g);
	char max[24], mins[24];

	snprintf(max, sizeof(max), "%lld", (long long)sec->max_login_attempts);
	snprintf(mins, sizeof(mins), "%lld",
		 (long long)sec->lockout_duration_minutes);
	const char *params[] = { l->found ? l->uid : NULL, r->client_addr,
				 max, mins };
	if (gw_db_query(r->g, SQL_FAILED, 4, params, on_failure_counted,
			r) != 0)
		gw_reply_unavailable(r, "database");
}

static void on_success_recorded(const PGresult *res, const char *err,
				void *arg)
{
	struct gw_req *r = arg;
	struct login *l = r->state;

	(void)res;
	if (err) {
		gw_reply_unavailable(r, "database");
		return;
	}
	count_login(r, "success");
	log_info("auth.login", LF_S("user", l->username),
		 LF_S("client", r->client_addr));
	l->ok(r, strtoll(l->uid, NULL, 10), l->username, l->role, l->ver);
}

static void on_verified(enum gw_pw_result res, const char *encoded,
			void *arg)
{
	struct gw_req *r = arg;
	struct login *l = r->state;

	(void)encoded;
	if (res == GW_PW_CANCELLED) {
		gw_reply_unavailable(r, "password hashing");
		return;
	}
	if (res == GW_PW_ERROR)
		log_error("auth.verify_failed", LF_B("known", l->found));
	if (res != GW_PW_OK || !l->usable) {
		count_failure(r);
		return;
	}
	const char *params[] = { l->uid, r->client_addr };
	if (gw_db_query(r->g, SQL_SUCCEEDED, 2, params, on_success_recorded,
			r) != 0)
		gw_reply_unavailable(r, "database");
}

/* Read the lookup row into l; returns the hash to verify against. */
static const char *read_account(const PGresult *res, struct login *l,
				const char *dummy)
{
	if (PQgetisnull(res, 0, 1))
		return dummy;
	l->found = true;
	snprintf(l->uid, sizeof(l->uid), "%s", PQgetvalue(res, 0, 1));
	snprintf(l->username, sizeof(l->username), "%s",
		 PQgetvalue(res, 0, 2));
	snprintf(l->role, sizeof(l->role), "%s", PQgetvalue(res, 0, 4));
	l->usable = strcmp(PQgetvalue(res, 0, 5), "f") == 0 &&
		    strcmp(PQgetvalue(res, 0, 6), "f") == 0;
	l->ver = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	return PQgetvalue(res, 0, 3);
}

static void on_lookup(const PGresult *res, const char *err, void *arg)
{
	struct gw_req *r = arg;
	struct login *l = r->state;

	if (err || PQntuples(res) != 1) {
		gw_reply_unavailable(r, "database");
		return;
	}
	if (!PQgetisnull(res, 0, 0)) {
		const char *retry = PQgetvalue(res, 0, 0);
		count_login(r, "throttled");
		evhttp_add_header(evhttp_request_get_output_headers(r->ev),
				  "Retry-After", retry);
		gw_reply_error(r, 429, "too_many_attempts",
			       "too many failed logins from this address; "
			       "try again in %s seconds", retry);
		return;
	}
	const char *hash = read_account(res, l, r->g->dummy_hash);
	if (gw_passwd_verify(r->g->pw, hash, l->password, on_verified, r) !=
	    0)
		gw_reply_unavailable(r, "password hashing is busy");
}

static void reply_api_token(struct gw_req *r, int64_t uid,
			    const char *username, const char *role,
			    int64_t ver)
{
	gw_auth_reply_token(r, 200, uid, username, role, ver);
}

void gw_login(struct gw_req *r, const char *username, char *password,
	      gw_login_ok ok)
{
	struct login *l = calloc(1, sizeof(*l));

	if (!l) {
		explicit_bzero(password, strlen(password));
		free(password);
		gw_reply_internal(r, "out of memory");
		return;
	}
	l->password = password;
	l->ok = ok ? ok : reply_api_token;
	r->state = l;
	r->state_free = login_free;
	const char *params[] = { username, r->client_addr };
	if (gw_db_query(r->g, SQL_LOOKUP, 2, params, on_lookup, r) != 0)
		gw_reply_unavailable(r, "database");
}

void gw_route_login(struct gw_req *r)
{
	char *body_pw, *pw;

	if (!gw_body_valid(r, login_spec))
		return;
	body_pw = cJSON_GetObjectItem(r->body, "password")->valuestring;
	pw = strdup(body_pw);
	explicit_bzero(body_pw, strlen(body_pw));
	if (!pw) {
		gw_reply_internal(r, "out of memory");
		return;
	}
	gw_login(r, cJSON_GetObjectItem(r->body, "username")->valuestring, pw,
		 NULL);
}
