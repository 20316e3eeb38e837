/* Tokens recently checked against the database (direct-mapped). */
#include "services/gateway/authcache.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	char *token;              /* owned, NULL when empty */
	size_t len;
	int64_t put_ms;
	struct gw_auth_entry e;
};

struct gw_authcache {
	size_t n;
	struct slot slots[];
};

/* FNV-1a: tokens are random enough; this only spreads them. */
static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct gw_authcache *gw_authcache_new(size_t nslots)
{
	if (nslots == 0)
		nslots = GW_AUTHCACHE_SLOTS;
	struct gw_authcache *c =
		calloc(1, sizeof(*c) + nslots * sizeof(c->slots[0]));
	if (c)
		c->n = nslots;
	return c;
}

void gw_authcache_clear(struct gw_authcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->slots[i].token);
		c->slots[i].token = NULL;
	}
}

void gw_authcache_free(struct gw_authcache *c)
{
	gw_authcache_clear(c);
	free(c);
}

bool gw_authcache_get(const struct gw_authcache *c, const char *token,
		      int64_t now_ms, int64_t ttl_ms,
		      struct gw_auth_entry *out)
{
	size_t n = token ? strnlen(token, GW_TOKEN_MAX_LEN + 1) : 0;

	if (!c || n == 0 || n > GW_TOKEN_MAX_LEN)
		return false;
	const struct slot *s = &c->slots[hash(token, n) % c->n];
	if (!s->token || s->len != n || memcmp(s->token, token, n) != 0 ||
	    now_ms - s->put_ms >= ttl_ms || now_ms < s->put_ms ||
	    s->e.c.exp <= now_ms / 1000)
		return false;
	*out = s->e;
	return true;
}

void gw_authcache_put(struct gw_authcache *c, const char *token,
		      const struct gw_auth_entry *e, int64_t now_ms)
{
	size_t n = token ? strnlen(token, GW_TOKEN_MAX_LEN + 1) : 0;

	if (!c || n == 0 || n > GW_TOKEN_MAX_LEN)
		return;
	struct slot *s = &c->slots[hash(token, n) % c->n];
	if (!s->token || s->len != n || memcmp(s->token, token, n) != 0) {
		char *copy = malloc(n + 1);
		if (!copy)
			return;
		memcpy(copy, token, n + 1);
		free(s->token);
		s->token = copy;
		s->len = n;
	}
	s->put_ms = now_ms;
	s->e = *e;
}
