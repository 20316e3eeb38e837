/*
 * auth: the API's credentials (rpc/api_server/api_auth.py): HTTP Basic
 * against api_server.username/password, and HS256 JWTs signed with
 * jwt_secret_key carrying {"identity": {"u": user}, "exp", "iat",
 * "type": "access"|"refresh"}; access tokens live 15 minutes, refresh
 * tokens 30 days.
 */
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/ftsim/ftsim.h"

/* HS256 with nettle rather than libjwt/OpenSSL: mapping libcrypto alone
 * costs every instance ~1.4 MB of RSS, and its first HMAC another ~2 MB
 * (provider set-up), while nettle costs ~0.3 MB (bench/ftsim). */

#define ACCESS_TTL (15 * 60)
#define REFRESH_TTL (30L * 24 * 3600)
#define TOKEN_MAX 4096 /* far above any token we issue */

/* base64url without padding, as JWS wants; out: BASE64_ENCODE_LENGTH(n)
 * + BASE64_ENCODE_FINAL_LENGTH + 1 bytes. */
static void b64url(char *out, const void *in, size_t n)
{
	struct base64_encode_ctx e;
	base64url_encode_init(&e);
	size_t k = base64_encode_update(&e, out, n, in);
	k += base64_encode_final(&e, out + k);
	while (k && out[k - 1] == '=')
		k--;
	out[k] = 0;
}

/* Decode n base64url characters (no padding) into out (n bytes at
 * least); the length, or -1 if they are not base64url. */
static long unb64url(uint8_t *out, const char *in, size_t n)
{
	char pad[TOKEN_MAX + 4];
	if (n > TOKEN_MAX || n % 4 == 1)
		return -1;
	memcpy(pad, in, n);
	while (n % 4) /* nettle checks the padding PyJWT adds */
		pad[n++] = '=';
	struct base64_decode_ctx d;
	size_t len = n;
	base64url_decode_init(&d);
	if (!base64_decode_update(&d, &len, out, n, pad) ||
	    !base64_decode_final(&d))
		return -1;
	return (long)len;
}

static void sign(const struct ft_cfg *c, const char *data, size_t n,
                 uint8_t mac[SHA256_DIGEST_SIZE])
{
	struct hmac_sha256_ctx h;
	hmac_sha256_set_key(&h, strlen(c->jwt_secret),
	                    (const uint8_t *)c->jwt_secret);
	hmac_sha256_update(&h, n, (const uint8_t *)data);
	hmac_sha256_digest(&h, SHA256_DIGEST_SIZE, mac);
}

/* create_token: PyJWT's header (sorted keys) and FreqTrade's claims in
 * its order: identity, exp, iat, type. */
char *auth_token(const struct ft_cfg *c, const char *user, const char *type)
{
	static const char head[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
	long now = (long)time(NULL);
	bool refresh = strcmp(type, "refresh") == 0;
	cJSON *g = cJSON_CreateObject();
	cJSON *id = cJSON_AddObjectToObject(g, "identity");
	cJSON_AddStringToObject(id, "u", user);
	json_add_int(g, "exp", now + (refresh ? REFRESH_TTL : ACCESS_TTL));
	json_add_int(g, "iat", now);
	cJSON_AddStringToObject(g, "type", type);
	char *claims = cJSON_PrintUnformatted(g);
	cJSON_Delete(g);
	size_t cl = claims ? strlen(claims) : 0;
	size_t cap = sizeof(head) + BASE64_ENCODE_LENGTH(cl) + 64;
	char *tok = claims ? malloc(cap) : NULL;
	if (tok) {
		uint8_t mac[SHA256_DIGEST_SIZE];
		size_t k = (size_t)snprintf(tok, cap, "%s.", head);
		b64url(tok + k, claims, cl);
		k += strlen(tok + k);
		sign(c, tok, k, mac);
		tok[k++] = '.';
		b64url(tok + k, mac, sizeof(mac));
	}
	free(claims);
	return tok;
}

/* A part of the token as JSON (NULL if not base64url JSON). */
static cJSON *part_json(const char *s, size_t n)
{
	uint8_t raw[TOKEN_MAX];
	long len = unb64url(raw, s, n);
	return len < 0 ? NULL
	               : cJSON_ParseWithLength((char *)raw, (size_t)len);
}

/* decode_token as FreqTrade calls PyJWT: signature, alg HS256, exp (and
 * iat not in the future), then FreqTrade's own type and identity. */
bool auth_check_token(const struct ft_cfg *c, const char *token,
                      const char *type, char *user)
{
	if (!token || !*c->jwt_secret)
		return false;
	size_t n = strlen(token);
	const char *d1 = memchr(token, '.', n);
	const char *d2 =
	        d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;
	if (!d2 || n > TOKEN_MAX || strchr(d2 + 1, '.'))
		return false;
	uint8_t mac[SHA256_DIGEST_SIZE], got[TOKEN_MAX];
	sign(c, token, (size_t)(d2 - token), mac);
	long gl = unb64url(got, d2 + 1, strlen(d2 + 1));
	if (gl != SHA256_DIGEST_SIZE || !memeql_sec(mac, got, sizeof(mac)))
		return false;
	cJSON *h = part_json(token, (size_t)(d1 - token));
	cJSON *p = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	const cJSON *alg = jget(h, "alg"), *exp = jget(p, "exp"),
	            *iat = jget(p, "iat"), *t = jget(p, "type"),
	            *u = jget(jget(p, "identity"), "u");
	double now = (double)time(NULL);
	bool ok = cJSON_IsString(alg) &&
	          strcmp(alg->valuestring, "HS256") == 0;
	ok = ok && cJSON_IsNumber(exp) && exp->valuedouble > now;
	ok = ok && (!iat || cJSON_IsNumber(iat));
	ok = ok && (!iat || iat->valuedouble <= now + 1);
	ok = ok && cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
	ok = ok && cJSON_IsString(u) && strlen(u->valuestring) < 64;
	if (ok)
		snprintf(user, 64, "%s", u->valuestring);
	cJSON_Delete(h);
	cJSON_Delete(p);
	return ok;
}

static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	return la == lb && memeql_sec(a, b, la);
}

bool auth_check_password(const struct ft_cfg *c, const char *user,
                         const char *password)
{
	/* both compared, whatever the first gives */
	bool u = same(user, c->username);
	bool p = same(password, c->password);
	return u && p;
}

/* Python's b64decode (non-strict): characters outside the alphabet are
 * dropped, then the padding must be right; the result must be ASCII. */
int auth_parse_basic(const char *b64, char *user, size_t ul, char *pass,
                     size_t pl)
{
	size_t n = strlen(b64);
	char *clean = malloc(n + 1);
	unsigned char *raw = malloc(n + 4);
	int rc = -1;
	if (!clean || !raw)
		goto done;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = b64[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
		    ch == '=')
			clean[k++] = ch;
	}
	clean[k] = 0;
	if (k % 4 != 0)
		goto done;
	struct base64_decode_ctx d;
	size_t dl = n + 4;
	base64_decode_init(&d);
	if (!base64_decode_update(&d, &dl, raw, k, clean) ||
	    !base64_decode_final(&d))
		goto done;
	int len = (int)dl;
	raw[len] = 0;
	for (int i = 0; i < len; i++)
		if (raw[i] >= 0x80 || raw[i] == 0)
			goto done;
	char *colon = strchr((char *)raw, ':');
	if (!colon)
		goto done;
	*colon = 0;
	if (strlen((char *)raw) >= ul || strlen(colon + 1) >= pl)
		goto done;
	snprintf(user, ul, "%s", (char *)raw);
	snprintf(pass, pl, "%s", colon + 1);
	rc = 0;
done:
	free(clean);
	free(raw);
	return rc;
}
