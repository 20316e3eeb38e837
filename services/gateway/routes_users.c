/* /api/v1/users: account management, admins only. */
#include "libcommon/cfg_schema.h"
#include "libcommon/log.h"
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

#define SQL_LIST                                                            \
	"SELECT " GW_SQL_USER_JSON " FROM users u WHERE u.id > $1::int "    \
	"ORDER BY u.id LIMIT $2::int"
#define SQL_GET "SELECT " GW_SQL_USER_JSON " FROM users u WHERE u.id = $1::int"
#define SQL_CREATE                                                          \
	"INSERT INTO users AS u (username, password_hash, role) VALUES "    \
	"($1, $2, $3) RETURNING " GW_SQL_USER_JSON
#define SQL_SET_PASSWORD                                                    \
	"UPDATE users u SET password_hash = $2, password_changed_at = "     \
	"now(), token_version = u.token_version + 1, failed_logins = 0, "   \
	"locked_until = NULL WHERE u.id = $1::int RETURNING "               \
	GW_SQL_USER_JSON
#define SQL_ENABLE                                                          \
	"UPDATE users u SET disabled = false, failed_logins = 0, "          \
	"locked_until = NULL WHERE u.id = $1::int RETURNING "               \
	GW_SQL_USER_JSON

/* Changes that must not leave the system without an enabled admin:
 * (found, the updated row or NULL when refused). */
#define LAST_ADMIN                                                          \
	"target.role = 'admin' AND NOT target.disabled AND (SELECT count(*) " \
	"FROM users WHERE role = 'admin' AND NOT disabled) <= 1"
#define GUARDED(set, keep)                                                  \
	"WITH target AS (SELECT id, role, disabled FROM users WHERE id = "  \
	"$1::int), upd AS (UPDATE users u SET " set " FROM target WHERE "   \
	"u.id = target.id AND NOT (" keep " AND " LAST_ADMIN ") RETURNING " \
	GW_SQL_USER_JSON " AS j) SELECT (SELECT count(*) FROM target), "    \
	"(SELECT j FROM upd)"
#define SQL_SET_ROLE                                                        \
	GUARDED("role = $2, token_version = u.token_version + CASE WHEN "   \
		"u.role = $2 THEN 0 ELSE 1 END", "$2 <> 'admin'")
#define SQL_DISABLE                                                         \
	GUARDED("disabled = true, token_version = u.token_version + CASE "  \
		"WHEN u.disabled THEN 0 ELSE 1 END", "true")

static const char *const role_names[] = { "admin", "trader", "viewer",
					  NULL };

static const struct gw_field list_query[] = {
	{ .name = "after_id", .type = GW_T_INT, .min = 1, .max = GW_ID_MAX },
	{ .name = "limit", .type = GW_T_INT, .min = 1, .max = 1000 },
	{ 0 },
};

static const struct gw_field create_spec[] = {
	{ .name = "username", .type = GW_T_STR, .flags = GW_F_REQ,
	  .check = gw_username_ok,
	  .format = "3-64 of A-Z a-z 0-9 _ . @ -, starting with a letter "
		    "or digit" },
	{ .name = "password", .type = GW_T_STR, .flags = GW_F_REQ },
	{ .name = "role", .type = GW_T_STR, .flags = GW_F_REQ,
	  .values = role_names },
	{ 0 },
};

static const struct gw_field role_spec[] = {
	{ .name = "role", .type = GW_T_STR, .flags = GW_F_REQ,
	  .values = role_names },
	{ 0 },
};

static const struct gw_field password_spec[] = {
	{ .name = "password", .type = GW_T_STR, .flags = GW_F_REQ },
	{ 0 },
};

/* ---- shared ---- */

static void wipe_passwords(void *p)
{
	cJSON *m = cJSON_GetObjectItem(p, "password");

	if (cJSON_IsString(m))
		explicit_bzero(m->valuestring, strlen(m->valuestring));
}

/* The new password must pass the policy; false after replying 422. */
static bool password_ok(struct gw_req *r, const char *username)
{
	const struct lc_cfg_sys_security *sec = gw_security(r->g);
	char err[200];
	const char *pw = cJSON_GetObjectItem(r->body, "password")->valuestring;

	r->state = r->body;
	r->state_free = wipe_passwords;
	if (gw_password_ok(pw, username, (size_t)sec->min_password_length,
			   sec->require_special_chars, err, sizeof(err)))
		return true;
	gw_reply_error(r, 422, "invalid", "password: %s", err);
	return false;
}

/* Answer with the one user row res returned (404 if none). */
static void on_user_row(const PGresult *res, const char *err, void *arg)
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

/* Answer a GUARDED statement: 404, 409 (last admin) or the row. */
static void on_guarded(const PGresult *res, const char *err, void *arg)
{
	struct gw_req *r = arg;

	if (err || PQntuples(res) != 1) {
		gw_reply_unavailable(r, "database");
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		gw_reply_error(r, 404, "not_found", "no such account");
		return;
	}
	cJSON *u = gw_row_json(res, 0, 1);
	if (!u) {
		gw_reply_error(r, 409, "conflict",
			       "this is the last enabled admin account");
		return;
	}
	log_info("users.changed", LF_S("by", r->user.username),
		 LF_S("route", r->match.route->pattern));
	gw_reply_json(r, 200, u);
}

/* Run sql with the path id as $1 (and extra as $2, may be NULL). */
static void by_id(struct gw_req *r, const char *sql, const char *extra,
		  lc_db_result_cb cb)
{
	int64_t id;
	char sid[24];

	if (!gw_param_id(r, "id", &id))
		return;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	const char *params[] = { sid, extra };
	if (gw_db_query(r->g, sql, extra ? 2 : 1, params, cb, r) != 0)
		gw_reply_unavailable(r, "database");
}

/* ---- list ---- */

static void on_list(const PGresult *res, const char *err, void *arg)
{
	struct gw_req *r = arg;
	int n = err ? 0 : PQntuples(res), limit = *(int *)r->state;
	cJSON *o, *users;

	if (err) {
		gw_reply_unavailable(r, "database");
		return;
	}
	o = cJSON_CreateObject();
	users = cJSON_AddArrayToObject(o, "users");
	for (int i = 0; i < n && i < limit; i++) {
		cJSON *u = gw_row_json(res, i, 0);
		if (u)
			cJSON_AddItemToArray(users, u);
	}
	cJSON_AddBoolToObject(o, "has_more", n > limit);
	gw_reply_json(r, 200, o);
}

static void route_list(struct gw_req *r)
{
	cJSON *q = gw_query(r, list_query);
	char after[24], lim[24];
	int *limit = malloc(sizeof(*limit));

	if (!q || !limit) {
		free(limit);
		if (q) {
			cJSON_Delete(q);
			gw_reply_internal(r, "out of memory");
		}
		return;
	}
	cJSON *a = cJSON_GetObjectItem(q, "after_id");
	cJSON *l = cJSON_GetObjectItem(q, "limit");
	*limit = l ? l->valueint : 100;
	snprintf(after, sizeof(after), "%d", a ? a->valueint : 0);
	snprintf(lim, sizeof(lim), "%d", *limit + 1);
	cJSON_Delete(q);
	r->state = limit;
	r->state_free = free;
	const char *params[] = { after, lim };
	if (gw_db_query(r->g, SQL_LIST, 2, params, on_list, r) != 0)
		gw_reply_unavailable(r, "database");
}

/* ---- get ---- */

static void route_get(struct gw_req *r)
{
	by_id(r, SQL_GET, NULL, on_user_row);
}

/* ---- create ---- */

static void on_created(const PGresult *res, const char *err, void *arg)
{
	struct gw_req *r = arg;
	const char *username =
		cJSON_GetObjectItem(r->body, "username")->valuestring;
	cJSON *u = err ? NULL : gw_row_json(res, 0, 0);

	if (err && strcmp(gw_sqlstate(res), "23505") == 0) {
		gw_reply_error(r, 409, "conflict",
			       "username '%s' is taken", username);
		return;
	}
	if (!u) {
		gw_reply_unavailable(r, "database");
		return;
	}
	log_info("users.created", LF_S("user", username),
		 LF_S("by", r->user.username));
	gw_reply_json(r, 201, u);
}

static void on_create_hash(enum gw_pw_result res, const char *encoded,
			   void *arg)
{
	struct gw_req *r = arg;

	if (res != GW_PW_OK) {
		gw_reply_unavailable(r, "password hashing");
		return;
	}
	const char *params[] = {
		cJSON_GetObjectItem(r->body, "username")->valuestring,
		encoded,
		cJSON_GetObjectItem(r->body, "role")->valuestring,
	};
	if (gw_db_query(r->g, SQL_CREATE, 3, params, on_created, r) != 0)
		gw_reply_unavailable(r, "database");
}

static void route_create(struct gw_req *r)
{
	if (!gw_body_valid(r, create_spec) ||
	    !password_ok(r, cJSON_GetObjectItem(r->body, "username")
				    ->valuestring))
		return;
	if (gw_passwd_hash(r->g->pw,
			   cJSON_GetObjectItem(r->body, "password")
				   ->valuestring,
			   on_create_hash, r) != 0)
		gw_reply_unavailable(r, "password hashing is busy");
}

/* ---- role, password, disable, enable ---- */

static void route_role(struct gw_req *r)
{
	if (gw_body_valid(r, role_spec))
		by_id(r, SQL_SET_ROLE,
		      cJSON_GetObjectItem(r->body, "role")->valuestring,
		      on_guarded);
}

static void on_reset_hash(enum gw_pw_result res, const char *encoded,
			  void *arg)
{
	struct gw_req *r = arg;

	if (res != GW_PW_OK)
		gw_reply_unavailable(r, "password hashing");
	else
		by_id(r, SQL_SET_PASSWORD, encoded, on_user_row);
}

static void route_password(struct gw_req *r)
{
	int64_t id;

	if (!gw_body_valid(r, password_spec) || !password_ok(r, NULL) ||
	    !gw_param_id(r, "id", &id))
		return;
	if (gw_passwd_hash(r->g->pw,
			   cJSON_GetObjectItem(r->body, "password")
				   ->valuestring,
			   on_reset_hash, r) != 0)
		gw_reply_unavailable(r, "password hashing is busy");
}

static void route_disable(struct gw_req *r)
{
	int64_t id;

	if (!gw_param_id(r, "id", &id))
		return;
	if (id == r->user.id) {
		gw_reply_error(r, 409, "conflict",
			       "you cannot disable your own account");
		return;
	}
	by_id(r, SQL_DISABLE, NULL, on_guarded);
}

static void route_enable(struct gw_req *r)
{
	by_id(r, SQL_ENABLE, NULL, on_user_row);
}

const struct gw_route gw_routes_users[] = {
	{ "GET", "/api/v1/users", GW_ROLE_ADMIN, 0, route_list },
	{ "POST", "/api/v1/users", GW_ROLE_ADMIN, GW_R_BODY, route_create },
	{ "GET", "/api/v1/users/{id}", GW_ROLE_ADMIN, 0, route_get },
	{ "PUT", "/api/v1/users/{id}/role", GW_ROLE_ADMIN, GW_R_BODY,
	  route_role },
	{ "PUT", "/api/v1/users/{id}/password", GW_ROLE_ADMIN, GW_R_BODY,
	  route_password },
	{ "POST", "/api/v1/users/{id}/disable", GW_ROLE_ADMIN, 0,
	  route_disable },
	{ "POST", "/api/v1/users/{id}/enable", GW_ROLE_ADMIN, 0,
	  route_enable },
	{ 0 },
};
