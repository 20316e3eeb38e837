/* Tokens on requests: offline check, database check (cached), roles. */
#include "services/gateway/auth.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "services/gateway/authcache.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One round trip: the user's state and whether this token was revoked. */
#define SQL_TOKEN_CHECK                                                    \
	"SELECT u.username, u.role, u.disabled, u.token_version, "         \
	"EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2) "        \
	"FROM users u WHERE u.id = $1::int"

/* A database check in flight (a request's, or a live session's). */
struct gw_auth_check {
	struct gw *g;
	gw_auth_cb cb;                /* NULL once cancelled */
	void *arg;
	char *token;                  /* owned copy, for the cache */
	struct gw_auth_entry e;
};

static void deny(struct gw_req *r, const char *why)
{
	gw_reply_error(r, 401, "unauthorized", "%s", why);
}

static bool col_true(const PGresult *res, int col)
{
	return strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

static void set_user(struct gw_req *r, const struct gw_auth_entry *e)
{
	r->user.id = e->c.uid;
	r->user.ver = e->c.ver;
	r->user.exp = e->c.exp;
	r->user.bot = e->c.bot;
	r->user.kind = e->c.kind;
	r->user.role = e->role;
	memcpy(r->user.jti, e->c.jti, sizeof(r->user.jti));
	memcpy(r->user.username, e->username, sizeof(r->user.username));
}

static void check_role(struct gw_req *r)
{
	const struct gw_route *route = r->match.route;

	if (route->roles & r->user.role) {
		gw_http_continue(r);
		return;
	}
	gw_reply_error(r, 403, "forbidden",
		       "role %s may not call %s %s",
		       gw_role_name(r->user.role), route->method,
		       route->pattern);
}

/* Why SQL_TOKEN_CHECK's answer refuses the token with claims c, or
 * NULL when it stands. */
static const char *row_refusal(const PGresult *res,
			       const struct gw_claims *c)
{
	if (PQntuples(res) != 1)
		return "the token's account no longer exists";
	if (col_true(res, 2))
		return "the account is disabled";
	if (strtoll(PQgetvalue(res, 0, 3), NULL, 10) != c->ver ||
	    col_true(res, 4))
		return "the token has been revoked; log in again";
	return NULL;
}

static void on_token_row(const PGresult *res, const char *err, void *arg)
{
	struct gw_auth_check *k = arg;
	const char *why = err ? "database unavailable"
			      : row_refusal(res, &k->e.c);
	enum gw_auth_verdict v = err ? GW_AUTH_UNAVAILABLE
			       : why ? GW_AUTH_DENIED : GW_AUTH_OK;

	if (v == GW_AUTH_OK) {
		snprintf(k->e.username, sizeof(k->e.username), "%s",
			 PQgetvalue(res, 0, 0));
		k->e.role = gw_role_parse(PQgetvalue(res, 0, 1));
		gw_authcache_put(k->g->auth, k->token, &k->e,
				 lc_clock_mono_ms());
	}
	if (k->cb)
		k->cb(v, &k->e, why, k->arg);
	free(k->token);
	free(k);
}

/*
 * The database half of every check: e's account and jti (SQL_TOKEN_CHECK),
 * the answer cached when the token stands. cb runs exactly once: later
 * (the handle is returned), or now when the query cannot be queued (NULL
 * is returned).
 */
static struct gw_auth_check *db_check(struct gw *g, const char *token,
				      const struct gw_auth_entry *e,
				      gw_auth_cb cb, void *arg)
{
	struct gw_auth_check *k = calloc(1, sizeof(*k));
	char uid[24];

	if (!k || !(k->token = strdup(token))) {
		free(k);
		cb(GW_AUTH_INTERNAL, e, "out of memory", arg);
		return NULL;
	}
	k->g = g;
	k->cb = cb;
	k->arg = arg;
	k->e = *e;
	snprintf(uid, sizeof(uid), "%lld", (long long)e->c.uid);
	const char *params[] = { uid, e->c.jti };
	if (gw_db_query(g, SQL_TOKEN_CHECK, 2, params, on_token_row, k) !=
	    0) {
		free(k->token);
		free(k);
		cb(GW_AUTH_UNAVAILABLE, e, "database unavailable", arg);
		return NULL;
	}
	return k;
}

/* A request's check is over. */
static void on_request_checked(enum gw_auth_verdict v,
			       const struct gw_auth_entry *e,
			       const char *why, void *arg)
{
	struct gw_req *r = arg;

	switch (v) {
	case GW_AUTH_OK:
		set_user(r, e);
		r->auth_done(r);
		break;
	case GW_AUTH_DENIED:
		deny(r, why);
		break;
	case GW_AUTH_UNAVAILABLE:
		gw_reply_unavailable(r, "database");
		break;
	case GW_AUTH_INTERNAL:
		gw_reply_internal(r, why);
		break;
	}
}

static const char *kind_name(enum gw_token_kind kind)
{
	return kind == GW_TOK_API ? "an API token"
	       : kind == GW_TOK_BOT_ACCESS ? "a bot access token"
					   : "a bot refresh token";
}

void gw_auth_token(struct gw_req *r, const char *token,
		   enum gw_token_kind kind, int64_t bot, gw_auth_done done)
{
	struct gw *g = r->g;
	struct gw_auth_entry e;
	char err[160];

	if (!token || !*token) {
		deny(r, "a bearer token is required (Authorization: Bearer "
			"<token>)");
		return;
	}
	if (gw_authcache_get(g->auth, token, lc_clock_mono_ms(),
			     GW_AUTHCACHE_TTL_MS, &e) &&
	    e.c.kind == kind && e.c.bot == bot) {
		set_user(r, &e);
		done(r);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (gw_token_verify(g->jwt_key, g->jwt_key_len, token,
			    lc_clock_wall_ms() / 1000, &e.c, err,
			    sizeof(err)) != GW_TOKEN_OK) {
		deny(r, err);
		return;
	}
	if (e.c.kind != kind || e.c.bot != bot) {
		deny(r, kind == GW_TOK_API || e.c.kind != kind
				? "this is not the kind of token this path "
				  "takes"
				: "the token is for another bot");
		log_debug("auth.wrong_kind", LF_S("want", kind_name(kind)));
		return;
	}
	r->auth_done = done;
	(void)db_check(g, token, &e, on_request_checked, r);
}

struct gw_auth_check *gw_auth_recheck(struct gw *g, const char *token,
				      const struct gw_auth_entry *was,
				      gw_auth_cb cb, void *arg)
{
	struct gw_auth_entry e;

	if (gw_authcache_get(g->auth, token, lc_clock_mono_ms(),
			     GW_AUTHCACHE_TTL_MS, &e) &&
	    e.c.kind == was->c.kind && e.c.bot == was->c.bot) {
		cb(GW_AUTH_OK, &e, NULL, arg);
		return NULL;
	}
	return db_check(g, token, was, cb, arg);
}

void gw_auth_cancel(struct gw_auth_check *k)
{
	if (k)
		k->cb = NULL;
}

const char *gw_auth_bearer(const struct gw_req *r)
{
	const char *h = gw_header(r, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* ?token=… of the request, decoded into out; NULL if absent. */
static const char *query_token(const struct gw_req *r, char *out,
			       size_t outlen)
{
	struct evkeyvalq q;
	const char *v;
	const char *res = NULL;

	TAILQ_INIT(&q);
	if (!r->query || evhttp_parse_query_str(r->query, &q) != 0) {
		evhttp_clear_headers(&q);
		return NULL;
	}
	v = evhttp_find_header(&q, "token");
	if (v && strlen(v) < outlen) {
		memcpy(out, v, strlen(v) + 1);
		res = out;
	}
	evhttp_clear_headers(&q);
	return res;
}

const char *gw_auth_request_token(const struct gw_req *r, char *buf,
				  size_t buflen)
{
	const char *token = gw_auth_bearer(r);

	if (!token && (r->match.route->flags & GW_R_QUERY_TOKEN))
		token = query_token(r, buf, buflen);
	return token;
}

void gw_auth_request(struct gw_req *r)
{
	unsigned flags = r->match.route->flags;
	char qtok[GW_TOKEN_MAX_LEN + 1];
	const char *token = gw_auth_request_token(r, qtok, sizeof(qtok));
	int64_t bot = 0;

	if ((flags & GW_R_BOT_TOKEN) && !gw_param_id(r, "id", &bot))
		return;
	gw_auth_token(r, token,
		      flags & GW_R_BOT_TOKEN ? GW_TOK_BOT_ACCESS : GW_TOK_API,
		      bot, check_role);
}

char *gw_auth_sign(struct gw_req *r, struct gw_claims *c, int64_t life_s,
		   char *err, size_t errlen)
{
	struct gw *g = r->g;
	int64_t now = lc_clock_wall_ms() / 1000;

	c->iat = now;
	c->exp = now + life_s;
	if (gw_token_new_jti(c->jti) != 0) {
		snprintf(err, errlen, "no randomness for a token id");
		return NULL;
	}
	return gw_token_issue(g->jwt_key, g->jwt_key_len, c, err, errlen);
}

void gw_auth_reply_token(struct gw_req *r, int status, int64_t uid,
			 const char *username, const char *role,
			 int64_t ver)
{
	int64_t life = gw_security(r->g)->jwt_expire_hours * 3600;
	struct gw_claims c = { .uid = uid, .ver = ver };
	char err[160];

	snprintf(c.username, sizeof(c.username), "%s", username);
	snprintf(c.role, sizeof(c.role), "%s", role);
	char *tok = gw_auth_sign(r, &c, life, err, sizeof(err));
	if (!tok) {
		gw_reply_internal(r, err);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "access_token", tok);
	cJSON_AddStringToObject(o, "token_type", "bearer");
	cJSON_AddNumberToObject(o, "expires_in", (double)life);
	free(tok);
	gw_reply_json(r, status, o);
}
