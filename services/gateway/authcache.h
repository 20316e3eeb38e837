#ifndef GW_AUTHCACHE_H
#define GW_AUTHCACHE_H
/*
 * A small cache of tokens already checked against PostgreSQL, so that a
 * busy client (FreqUI polling every bot, a proxied burst) costs one
 * query per token per GW_AUTHCACHE_TTL_MS instead of one per request,
 * and the signature is not recomputed each time. Pure (no I/O, time
 * passed in), unit-tested (tests/unit/test_gateway_authcache.c).
 *
 * Direct-mapped: the token's hash picks one slot, a newer token takes
 * the slot over. The whole token text is compared, never its hash alone.
 * A hit is only as fresh as the TTL: a token revoked by SQL or by another
 * gateway works for at most that long here; changes made through this
 * gateway (logout, password, role, disable) clear the cache at once
 * (http.c). The expiry of the token itself is checked on every hit.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/gateway/token.h"

#define GW_AUTHCACHE_SLOTS 1024
#define GW_AUTHCACHE_TTL_MS 2000

/* What a checked token stands for. */
struct gw_auth_entry {
	struct gw_claims c;               /* verified claims */
	char username[GW_USERNAME_MAX + 1]; /* as in the database */
	unsigned role;                    /* the database's, enum gw_role */
};

struct gw_authcache;

/* An empty cache of nslots slots (0: GW_AUTHCACHE_SLOTS); NULL on
 * ENOMEM. */
struct gw_authcache *gw_authcache_new(size_t nslots);

/* Free it; NULL does nothing. */
void gw_authcache_free(struct gw_authcache *c);

/*
 * The entry for token (borrowed) if it was put less than ttl_ms before
 * now_ms and the token has not expired at now_ms / 1000: copied to *out,
 * true. NULL c: false.
 */
bool gw_authcache_get(const struct gw_authcache *c, const char *token,
		      int64_t now_ms, int64_t ttl_ms,
		      struct gw_auth_entry *out)
	__attribute__((warn_unused_result));

/* Remember token (copied) as *e (copied) at now_ms. Fails silently on
 * ENOMEM or a token over GW_TOKEN_MAX_LEN. */
void gw_authcache_put(struct gw_authcache *c, const char *token,
		      const struct gw_auth_entry *e, int64_t now_ms);

/* Forget everything (an account changed). */
void gw_authcache_clear(struct gw_authcache *c);

#endif
