#ifndef GW_AUTH_H
#define GW_AUTH_H
/*
 * Who is calling: the token of every non-public request, checked offline
 * (token.c: HS256 only, signature, expiry, the token's kind) and then
 * against PostgreSQL in one query (the user exists and is enabled, the
 * token's ver equals users.token_version, its jti is not in
 * revoked_tokens); then the route's roles. The role used is the
 * database's, not the token's (a role change bumps token_version
 * anyway). A token that passed is remembered for GW_AUTHCACHE_TTL_MS
 * (authcache.h), so a client's burst costs one query.
 *
 * Where the token comes from, by the route's flags: "Authorization:
 * Bearer <token>" always; "?token=" too with GW_R_QUERY_TOKEN (a
 * WebSocket upgrade from a browser cannot set headers). Which kind: an
 * API token, or with GW_R_BOT_TOKEN a bot-scoped access token whose bot
 * is the path's {id} (FreqUI, frequi.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "services/gateway/authcache.h"
#include "services/gateway/token.h"

struct gw;
struct gw_req;

/*
 * Authenticate r and check its route's roles: on success r->user is set
 * and gw_http_continue(r) runs; otherwise r is answered 401 (no, bad,
 * expired or revoked token), 403 (role), 422 (a bad {id}) or 503
 * (database down).
 */
void gw_auth_request(struct gw_req *r);

/* Continues a request once its token passed (r->user set). */
typedef void (*gw_auth_done)(struct gw_req *r);

/*
 * Check token (borrowed; NULL or "" means none was given) as a token of
 * kind, scoped to bot for the bot kinds (0 for API tokens): offline, then
 * the cache or the database. On success r->user is set and done(r) runs
 * (now or later); otherwise r is answered 401 or 503. No role check.
 */
void gw_auth_token(struct gw_req *r, const char *token,
		   enum gw_token_kind kind, int64_t bot, gw_auth_done done);

/* What a check against the database found. */
enum gw_auth_verdict {
	GW_AUTH_OK,          /* the token stands */
	GW_AUTH_DENIED,      /* it no longer does: why says so */
	GW_AUTH_UNAVAILABLE, /* no answer from the database */
	GW_AUTH_INTERNAL,    /* out of memory */
};

/* The end of a check. e: with GW_AUTH_OK, the token's claims with the
 * database's username and role; else the claims checked. why: NULL with
 * GW_AUTH_OK, else a sentence. Both borrowed for the call. */
typedef void (*gw_auth_cb)(enum gw_auth_verdict v,
			   const struct gw_auth_entry *e, const char *why,
			   void *arg);

struct gw_auth_check;

/*
 * A live session (a WebSocket) asks whether the login it was opened with
 * still stands: token (borrowed) whose claims and role were once
 * accepted (was). Through the same cache and the same query as every
 * request (account there and enabled, ver equal to token_version, jti
 * not revoked); the signature is not checked again, nor the expiry (the
 * session decides what expiry means to it). cb runs exactly once: now,
 * and NULL is returned; or later, and the returned handle can cancel it.
 */
struct gw_auth_check *gw_auth_recheck(struct gw *g, const char *token,
				      const struct gw_auth_entry *was,
				      gw_auth_cb cb, void *arg);

/* cb of a check still pending will not run (the session is gone). NULL
 * does nothing. */
void gw_auth_cancel(struct gw_auth_check *k);

/* The token r carries as its route takes it (the bearer header, or
 * ?token= decoded into buf), or NULL. */
const char *gw_auth_request_token(const struct gw_req *r, char *buf,
				  size_t buflen);

/*
 * Issue a token for the user (role by name) and answer r with status and
 * {"access_token", "token_type": "bearer", "expires_in": seconds}.
 */
void gw_auth_reply_token(struct gw_req *r, int status, int64_t uid,
			 const char *username, const char *role,
			 int64_t ver);

/*
 * Sign a token for claims c (kind, bot, uid, username, role, ver set by
 * the caller) with a fresh jti, iat now and exp now + life_s. Returns it
 * (caller frees) or NULL with the reason in err.
 */
char *gw_auth_sign(struct gw_req *r, struct gw_claims *c, int64_t life_s,
		   char *err, size_t errlen);

/* The "Authorization: Bearer" token of r (borrowed), or NULL. */
const char *gw_auth_bearer(const struct gw_req *r);

#endif
