/*
 * FreqUI through one origin: every bot also answers at
 * /bots/{id}/api/v1/… as a FreqTrade bot would, so FreqUI, served from
 * the same origin, adds it by URL (http://host:port/bots/{id}) with no
 * CORS setting anywhere (FREQTRADE.md section 8).
 *
 *   POST token/login    HTTP Basic with the BTC Watcher account (body
 *                       {}), through the same login flow as
 *                       /api/v1/auth/login (lockouts included) ->
 *                       {access_token, refresh_token}: our own JWTs,
 *                       scoped to this bot ("bot", "typ"), access
 *                       GW_BOT_ACCESS_S, refresh jwt_expire_hours
 *   POST token/refresh  Bearer <refresh token> -> {access_token}
 *   GET  ping           public, the bot's own answer
 *   GET  message/ws     ?token=<access token>: the bot's message
 *                       websocket (msgws.c)
 *   any  {path*}        Bearer <access token>: forwarded to the bot with
 *                       its own credentials (proxy.c); viewers GET only
 *
 * A scoped token opens only its own bot's paths here and nothing of the
 * REST API; the account behind it is checked like an API token's
 * (enabled, token_version: logout-all, a role or password change end it).
 */
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "services/gateway/auth.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/msgws.h"
#include "services/gateway/policy.h"
#include "services/gateway/proxy.h"
#include "services/gateway/routes.h"
#include "services/gateway/routes_table.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GW_BOT_ACCESS_S (15 * 60) /* as FreqTrade's access tokens */

/* The routed bot of the path's {id}, or NULL after answering 404 (or 422
 * for a bad id). */
static struct gw_bot *path_bot(struct gw_req *r)
{
	int64_t id;

	if (!gw_param_id(r, "id", &id))
		return NULL;
	struct gw_bot *b = gw_routes_find(r->g->routes, id);
	if (!b)
		gw_reply_error(r, 404, "not_found",
			       "strategy %lld is not running (no route)",
			       (long long)id);
	return b;
}

/* "Authorization: Basic <b64>" split into user (copied) and password
 * (a new heap string); false if absent or malformed. */
static bool basic_credentials(const struct gw_req *r, char *user,
			      size_t ulen, char **password)
{
	const char *h = gw_header(r, "Authorization");
	unsigned char dec[3 * 1024 / 4 + 4];

	if (!h || strncasecmp(h, "Basic ", 6) != 0)
		return false;
	h += 6;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	if (n == 0 || n > 1024 || n % 4 != 0)
		return false;
	int m = EVP_DecodeBlock(dec, (const unsigned char *)h, (int)n);
	if (m < 0)
		return false;
	m -= (h[n - 1] == '=') + (h[n - 2] == '='); /* padding */
	dec[m] = '\0';
	char *colon = memchr(dec, ':', (size_t)m);
	bool ok = colon && (size_t)(colon - (char *)dec) < ulen &&
		  colon != (char *)dec && memchr(dec, '\0', (size_t)m) == NULL;
	if (ok) {
		memcpy(user, dec, (size_t)(colon - (char *)dec));
		user[colon - (char *)dec] = '\0';
		*password = strdup(colon + 1);
		ok = *password != NULL;
	}
	explicit_bzero(dec, sizeof(dec));
	return ok;
}

static char *sign(struct gw_req *r, enum gw_token_kind kind, int64_t bot,
		  int64_t uid, const char *username, const char *role,
		  int64_t ver, int64_t life)
{
	struct gw_claims c = { .uid = uid, .ver = ver, .kind = kind,
			       .bot = bot };
	char err[160];

	snprintf(c.username, sizeof(c.username), "%s", username);
	snprintf(c.role, sizeof(c.role), "%s", role);
	char *t = gw_auth_sign(r, &c, life, err, sizeof(err));
	if (!t)
		log_error("frequi.sign_failed", LF_S("error", err));
	return t;
}

/* ---- token/login ---- */

static void on_login(struct gw_req *r, int64_t uid, const char *username,
		     const char *role, int64_t ver)
{
	int64_t bot = 0, life = gw_security(r->g)->jwt_expire_hours * 3600;

	if (!gw_param_id(r, "id", &bot))
		return;
	char *access = sign(r, GW_TOK_BOT_ACCESS, bot, uid, username, role,
			    ver, GW_BOT_ACCESS_S);
	char *refresh = sign(r, GW_TOK_BOT_REFRESH, bot, uid, username, role,
			     ver, life);
	if (!access || !refresh) {
		free(access);
		free(refresh);
		gw_reply_internal(r, "cannot sign a bot token");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "access_token", access);
	cJSON_AddStringToObject(o, "refresh_token", refresh);
	free(access);
	free(refresh);
	log_info("frequi.login", LF_S("user", username),
		 LF_I("strategy_id", bot));
	gw_reply_json(r, 200, o);
}

static void route_login(struct gw_req *r)
{
	char user[GW_USERNAME_MAX * 2 + 1];
	char *password = NULL;

	if (!path_bot(r))
		return;
	if (!basic_credentials(r, user, sizeof(user), &password)) {
		gw_reply_error(r, 401, "invalid_credentials",
			       "log in with HTTP Basic: your BTC Watcher "
			       "username and password");
		return;
	}
	gw_login(r, user, password, on_login);
}

/* ---- token/refresh ---- */

static void on_refresh(struct gw_req *r)
{
	char *access = sign(r, GW_TOK_BOT_ACCESS, r->user.bot, r->user.id,
			    r->user.username, gw_role_name(r->user.role),
			    r->user.ver, GW_BOT_ACCESS_S);

	if (!access) {
		gw_reply_internal(r, "cannot sign a bot token");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "access_token", access);
	free(access);
	gw_reply_json(r, 200, o);
}

static void route_refresh(struct gw_req *r)
{
	int64_t id;

	if (!gw_param_id(r, "id", &id))
		return;
	gw_auth_token(r, gw_auth_bearer(r), GW_TOK_BOT_REFRESH, id,
		      on_refresh);
}

/* ---- the bot's own paths ---- */

static void route_ping(struct gw_req *r)
{
	struct gw_bot *b = path_bot(r);

	if (b)
		gw_proxy_forward(r, b, "ping", 4);
}

static void route_ws(struct gw_req *r)
{
	struct gw_bot *b = path_bot(r);

	if (b)
		gw_msgws_start(r, b);
}

static void route_api(struct gw_req *r)
{
	size_t len = 0;
	const char *rest = gw_proxy_rest(r, &len);
	struct gw_bot *b = path_bot(r);

	if (b)
		gw_proxy_forward(r, b, rest, len);
}

#define BOTS "/bots/{id}/api/v1/"
#define BOT_AUTH GW_R_BOT_TOKEN

const struct gw_route gw_routes_frequi[] = {
	{ "POST", BOTS "token/login", 0, GW_R_PUBLIC, route_login },
	{ "POST", BOTS "token/refresh", 0, GW_R_PUBLIC, route_refresh },
	{ "GET", BOTS "ping", 0, GW_R_PUBLIC, route_ping },
	{ "GET", BOTS "message/ws", GW_ROLES_ANY,
	  BOT_AUTH | GW_R_QUERY_TOKEN, route_ws },
	{ "GET", BOTS "{path*}", GW_ROLES_ANY, BOT_AUTH, route_api },
	{ "POST", BOTS "{path*}", GW_ROLES_WRITE, BOT_AUTH, route_api },
	{ "PUT", BOTS "{path*}", GW_ROLES_WRITE, BOT_AUTH, route_api },
	{ "DELETE", BOTS "{path*}", GW_ROLES_WRITE, BOT_AUTH, route_api },
	{ 0 },
};
