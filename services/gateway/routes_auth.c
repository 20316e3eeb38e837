/* /api/v1/auth: login (login.c), refresh, logout, me, own password. */
#include "libcommon/cfg_schema.h"
#include "libcommon/log.h"
#include "services/gateway/auth.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/passwd.h"
#include "services/gateway/policy.h"
#include "services/gateway/routes.h"
#include "services/gateway/users.h"
#include "services/gateway/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_REVOKE                                                          \
	"INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES "     \
	"($1, $2::int, to_timestamp($3::bigint)) ON CONFLICT (jti) DO "     \
	"NOTHING"
#define SQL_REVOKE_ALL                                                      \
	"UPDATE users SET token_version = token_version + 1 "               \
	"WHERE id = $1::int"
#define SQL_ME "SELECT " GW_SQL_USER_JSON " FROM users u WHERE u.id = $1::int"
#define SQL_HASH "SELECT password_hash FROM users WHERE id = $1::int"
#define SQL_SET_PASSWORD                                                    \
	"UPDATE users SET password_hash = $2, password_changed_at = now(), " \
	"token_version = token_version + 1 WHERE id = $1::int RETURNING "   \
	"token_version, role, username"

static void route_refresh(struct gw_req *r);
static void route_logout(struct gw_req *r);
static void route_me(struct gw_req *r);
static void route_password(struct gw_req *r);

const struct gw_route gw_routes_auth[] = {
	{ "POST", "/api/v1/auth/login", 0, GW_R_PUBLIC | GW_R_BODY,
	  gw_route_login },
	{ "POST", "/api/v1/auth/refresh", GW_ROLES_ANY, 0, route_refresh },
	{ "POST", "/api/v1/auth/logout", GW_ROLES_ANY, 0, route_logout },
	{ "GET", "/api/v1/auth/me", GW_ROLES_ANY, 0, route_me },
	{ "PUT", "/api/v1/auth/password", GW_ROLES_ANY, GW_R_BODY,
	  route_password },
	{ 0 },
};

/* Revoke the caller's token (jti until its exp); cb gets the result. */
static void revoke(struct gw_req *r, lc_db_result_cb cb)
{
	char uid[24], exp[24];

	snprintf(uid, sizeof(uid), "%lld", (long long)r->user.id);
	snprintf(exp, sizeof(exp), "%lld", (long long)r->user.exp);
	const char *params[] = { r->user.jti, uid, exp };
	if (gw_db_query(r->g, SQL_REVOKE, 3, params, cb, r) != 0)
		gw_reply_unavailable(r, "database");
}

/* ---- refresh: a new token, the old one revoked ---- */

static void on_refresh_revoked(const PGresult *res, const char *err,
			       void *arg)
{
	struct gw_req *r = arg;

	(void)res;
	if (err) {
		gw_reply_unavailable(r, "database");
		return;
	}
	gw_auth_reply_token(r, 200, r->user.id, r->user.username,
			    gw_role_name(r->user.role), r->user.ver);
}

static void route_refresh(struct gw_req *r)
{
	revoke(r, on_refresh_revoked);
}

/* ---- logout: this token, or (?all=true) every token of the user ---- */

static const struct gw_field logout_query[] = {
	{ .name = "all", .type = GW_T_BOOL },
	{ 0 },
};

static void on_logged_out(const PGresult *res, const char *err, void *arg)
{
	struct gw_req *r = arg;

	(void)res;
	if (err) {
		gw_reply_unavailable(r, "database");
		return;
	}
	log_info("auth.logout", LF_S("user", r->user.username));
	gw_reply_json(r, 204, NULL);
}

static void route_logout(struct gw_req *r)
{
	char uid[24];
	cJSON *q = gw_query(r, logout_query);

	if (!q)
		return;
	bool all = cJSON_IsTrue(cJSON_GetObjectItem(q, "all"));
	cJSON_Delete(q);
	if (!all) {
		revoke(r, on_logged_out);
		return;
	}
	snprintf(uid, sizeof(uid), "%lld", (long long)r->user.id);
	const char *params[] = { uid };
	if (gw_db_query(r->g, SQL_REVOKE_ALL, 1, params, on_logged_out, r))
		gw_reply_unavailable(r, "database");
}

/* ---- me ---- */

static void on_me(const PGresult *res, const char *err, void *arg)
{
	struct gw_req *r = arg;
	cJSON *u = err ? NULL : gw_row_json(res, 0, 0);

	if (err)
		gw_reply_unavailable(r, "database");
	else if (!u)
		gw_reply_error(r, 404, "not_found", "no such account");
	else
		gw_reply_json(r, 200, u);
}

static void route_me(struct gw_req *r)
{
	char uid[24];

	snprintf(uid, sizeof(uid), "%lld", (long long)r->user.id);
	const char *params[] = { uid };
	if (gw_db_query(r->g, SQL_ME, 1, params, on_me, r) != 0)
		gw_reply_unavailable(r, "database");
}

/* ---- own password: verify the current one, hash, store, new token --- */

static const struct gw_field password_spec[] = {
	{ .name = "current_password", .type = GW_T_STR, .flags = GW_F_REQ,
	  .min = 1, .max = GW_PASSWORD_MAX },
	{ .name = "new_password", .type = GW_T_STR, .flags = GW_F_REQ,
	  .min = 1, .max = GW_PASSWORD_MAX },
	{ 0 },
};

/* Wipe the passwords in the body when the request ends. */
static void wipe_passwords(void *p)
{
	cJSON *body = p, *m;

	cJSON_ArrayForEach(m, body)
		if (cJSON_IsString(m))
			explicit_bzero(m->valuestring, strlen(m->valuestring));
}

static const char *body_str(const struct gw_req *r, const char *name)
{
	return cJSON_GetObjectItem(r->body, name)->valuestring;
}

static void on_password_set(const PGresult *res, const char *err,
			    void *arg)
{
	struct gw_req *r = arg;

	if (err || PQntuples(res) != 1) {
		gw_reply_unavailable(r, "database");
		return;
	}
	log_info("auth.password_changed", LF_S("user", r->user.username));
	gw_auth_reply_token(r, 200, r->user.id, PQgetvalue(res, 0, 2),
			    PQgetvalue(res, 0, 1),
			    strtoll(PQgetvalue(res, 0, 0), NULL, 10));
}

static void on_new_hash(enum gw_pw_result res, const char *encoded,
			void *arg)
{
	struct gw_req *r = arg;
	char uid[24];

	if (res != GW_PW_OK) {
		gw_reply_unavailable(r, "password hashing");
		return;
	}
	snprintf(uid, sizeof(uid), "%lld", (long long)r->user.id);
	const char *params[] = { uid, encoded };
	if (gw_db_query(r->g, SQL_SET_PASSWORD, 2, params, on_password_set,
			r) != 0)
		gw_reply_unavailable(r, "database");
}

static void on_current_checked(enum gw_pw_result res, const char *encoded,
			       void *arg)
{
	struct gw_req *r = arg;

	(void)encoded;
	if (res == GW_PW_MISMATCH) {
		gw_reply_error(r, 422, "invalid",
			       "current_password: is not correct");
		return;
	}
	if (res != GW_PW_OK ||
	    gw_passwd_hash(r->g->pw, body_str(r, "new_password"),
			   on_new_hash, r) != 0)
		gw_reply_unavailable(r, "password hashing");
}

static void on_current_hash(const PGresult *res, const char *err,
			    void *arg)
{
	struct gw_req *r = arg;

	if (err || PQntuples(res) != 1) {
		gw_reply_unavailable(r, "database");
		return;
	}
	if (gw_passwd_verify(r->g->pw, PQgetvalue(res, 0, 0),
			     body_str(r, "current_password"),
			     on_current_checked, r) != 0)
		gw_reply_unavailable(r, "password hashing is busy");
}

static void route_password(struct gw_req *r)
{
	const struct lc_cfg_sys_security *sec = gw_security(r->g);
	char err[200], uid[24];

	r->state = r->body;
	r->state_free = wipe_passwords;
	if (!gw_body_valid(r, password_spec))
		return;
	if (!gw_password_ok(body_str(r, "new_password"), r->user.username,
			    (size_t)sec->min_password_length,
			    sec->require_special_chars, err, sizeof(err))) {
		gw_reply_error(r, 422, "invalid", "new_password: %s", err);
		return;
	}
	snprintf(uid, sizeof(uid), "%lld", (long long)r->user.id);
	const char *params[] = { uid };
	if (gw_db_query(r->g, SQL_HASH, 1, params, on_current_hash, r) != 0)
		gw_reply_unavailable(r, "database");
}
