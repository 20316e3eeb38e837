/* JWT HS256 access tokens: issue and strict verification. */
#include "services/gateway/token.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <jwt.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HS256_LEN 32
#define HS256_B64_LEN 43 /* base64url of 32 bytes, no padding */
#define HEADER_MAX 256   /* a longer header is not one we wrote */

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long gw_b64url_encode(const unsigned char *in, size_t n, char *out,
		      size_t outlen)
{
	size_t o = 0;

	if (outlen < (n + 2) / 3 * 4 + 1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return (long)o;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;
	return p ? (int)(p - b64url) : -1;
}

long gw_b64url_decode(const char *in, size_t n, unsigned char *out,
		      size_t outlen)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	if (n % 4 == 1 || outlen < n / 4 * 3 + 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long)o;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int gw_token_new_jti(char out[GW_JTI_LEN + 1])
{
	unsigned char raw[GW_JTI_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[GW_JTI_LEN] = '\0';
	return 0;
}

char *gw_token_issue(const unsigned char *key, size_t keylen,
		     const struct gw_claims *c, char *err, size_t errlen)
{
	jwt_t *jwt = NULL;
	char sub[24];
	char *out = NULL;
	int rv;

	snprintf(sub, sizeof(sub), "%lld", (long long)c->uid);
	rv = jwt_new(&jwt);
	if (rv == 0)
		rv = jwt_add_grant(jwt, "iss", GW_TOKEN_ISSUER);
	if (rv == 0)
		rv = jwt_add_grant(jwt, "sub", sub);
	if (rv == 0)
		rv = jwt_add_grant(jwt, "name", c->username);
	if (rv == 0)
		rv = jwt_add_grant(jwt, "role", c->role);
	if (rv == 0)
		rv = jwt_add_grant(jwt, "jti", c->jti);
	if (rv == 0)
		rv = jwt_add_grant_int(jwt, "ver", (long)c->ver);
	if (rv == 0)
		rv = jwt_add_grant_int(jwt, "iat", (long)c->iat);
	if (rv == 0)
		rv = jwt_add_grant_int(jwt, "exp", (long)c->exp);
	if (rv == 0 && c->kind != GW_TOK_API)
		rv = jwt_add_grant(jwt, "typ", c->kind == GW_TOK_BOT_ACCESS
						 ? "bot_access"
						 : "bot_refresh");
	if (rv == 0 && c->kind != GW_TOK_API)
		rv = jwt_add_grant_int(jwt, "bot", (long)c->bot);
	if (rv == 0)
		rv = jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen);
	if (rv == 0)
		out = jwt_encode_str(jwt);
	if (!out)
		set_err(err, errlen, "cannot sign the token: %s",
			strerror(rv ? rv : ENOMEM));
	jwt_free(jwt);
	return out;
}

/* ---- verification ---- */

static bool token_chars_ok(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] != '.' && b64url_value(t[i]) < 0)
			return false;
	return true;
}

/* The decoded JSON object of one base64url part, or NULL. */
static cJSON *decode_json_part(const char *p, size_t n)
{
	unsigned char buf[GW_TOKEN_MAX_LEN];
	long len = gw_b64url_decode(p, n, buf, sizeof(buf));

	if (len <= 0)
		return NULL;
	cJSON *j = cJSON_ParseWithLength((const char *)buf, (size_t)len);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

/* Exactly {"alg":"HS256"} with optionally "typ":"JWT". */
static bool header_ok(const char *p, size_t n, char *err, size_t errlen)
{
	cJSON *h = n <= HEADER_MAX ? decode_json_part(p, n) : NULL;
	const cJSON *m;
	bool ok = h != NULL, alg = false;

	if (!h)
		set_err(err, errlen, "token header is not a JSON object");
	cJSON_ArrayForEach(m, h) {
		if (strcmp(m->string, "alg") == 0 && cJSON_IsString(m) &&
		    strcmp(m->valuestring, "HS256") == 0 && !alg) {
			alg = true;
		} else if (strcmp(m->string, "typ") == 0 &&
			   cJSON_IsString(m) &&
			   strcmp(m->valuestring, "JWT") == 0) {
			continue;
		} else {
			set_err(err, errlen, "token header member '%.16s' is "
				"not accepted (only alg HS256, typ JWT)",
				m->string);
			ok = false;
			break;
		}
	}
	if (ok && !alg) {
		set_err(err, errlen, "token algorithm must be HS256");
		ok = false;
	}
	cJSON_Delete(h);
	return ok;
}

/* HMAC-SHA256 of the signing input compared in constant time. */
static bool signature_ok(const unsigned char *key, size_t keylen,
			 const char *input, size_t inlen, const char *sig,
			 size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	char want[HS256_B64_LEN + 2];

	if (!HMAC(EVP_sha256(), key, (int)keylen,
		  (const unsigned char *)input, inlen, mac, &maclen) ||
	    maclen != HS256_LEN ||
	    gw_b64url_encode(mac, maclen, want, sizeof(want)) !=
		    HS256_B64_LEN)
		return false;
	return siglen == HS256_B64_LEN &&
	       CRYPTO_memcmp(want, sig, HS256_B64_LEN) == 0;
}

/* libjwt's own decode with the key must agree, and say HS256. */
static bool libjwt_ok(const unsigned char *key, size_t keylen,
		      const char *token)
{
	jwt_t *jwt = NULL;
	bool ok = jwt_decode(&jwt, token, key, (int)keylen) == 0 && jwt &&
		  jwt_get_alg(jwt) == JWT_ALG_HS256;
	jwt_free(jwt);
	return ok;
}

static bool get_int(const cJSON *o, const char *name, int64_t min,
		    int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < (double)min || v->valuedouble > 9.0e15)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

static bool get_str(const cJSON *o, const char *name, char *out,
		    size_t outlen, size_t minlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t n;
	if (!cJSON_IsString(v))
		return false;
	n = strlen(v->valuestring);
	if (n < minlen || n >= outlen)
		return false;
	memcpy(out, v->valuestring, n + 1);
	return true;
}

/* "typ" and "bot" both absent (an API token) or both valid. */
static bool kind_ok(const cJSON *p, struct gw_claims *c)
{
	const cJSON *typ = cJSON_GetObjectItemCaseSensitive(p, "typ");

	if (!typ)
		return !cJSON_GetObjectItemCaseSensitive(p, "bot");
	if (!cJSON_IsString(typ))
		return false;
	if (strcmp(typ->valuestring, "bot_access") == 0)
		c->kind = GW_TOK_BOT_ACCESS;
	else if (strcmp(typ->valuestring, "bot_refresh") == 0)
		c->kind = GW_TOK_BOT_REFRESH;
	else
		return false;
	return get_int(p, "bot", 1, &c->bot) && c->bot <= INT32_MAX;
}

static bool claims_ok(const cJSON *p, struct gw_claims *c)
{
	char iss[32], sub[24], *end = NULL;

	memset(c, 0, sizeof(*c));
	if (!get_str(p, "iss", iss, sizeof(iss), 1) ||
	    strcmp(iss, GW_TOKEN_ISSUER) != 0 ||
	    !get_str(p, "sub", sub, sizeof(sub), 1) ||
	    !get_str(p, "name", c->username, sizeof(c->username), 1) ||
	    !get_str(p, "role", c->role, sizeof(c->role), 1) ||
	    !get_str(p, "jti", c->jti, sizeof(c->jti), GW_JTI_LEN) ||
	    !get_int(p, "ver", 0, &c->ver) || !get_int(p, "iat", 0, &c->iat) ||
	    !get_int(p, "exp", 0, &c->exp))
		return false;
	if (sub[0] < '1' || sub[0] > '9' || !kind_ok(p, c))
		return false;
	c->uid = strtoll(sub, &end, 10);
	return *end == '\0' && c->uid >= 1 && c->uid <= INT32_MAX;
}

enum gw_token_status gw_token_verify(const unsigned char *key, size_t keylen,
				     const char *token, int64_t now,
				     struct gw_claims *out, char *err,
				     size_t errlen)
{
	size_t n = token ? strnlen(token, GW_TOKEN_MAX_LEN + 1) : 0;
	const char *d1 = n ? memchr(token, '.', n) : NULL;
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token))
			    : NULL;

	if (n == 0 || n > GW_TOKEN_MAX_LEN || !token_chars_ok(token, n) ||
	    !d2 || d1 == token || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 -
								    token))) {
		set_err(err, errlen, "token is not a JWT");
		return GW_TOKEN_MALFORMED;
	}
	if (!header_ok(token, (size_t)(d1 - token), err, errlen))
		return GW_TOKEN_BAD_ALG;
	size_t plen = (size_t)(d2 - d1 - 1);
	size_t slen = n - (size_t)(d2 + 1 - token);
	if (plen == 0 || slen == 0) {
		set_err(err, errlen, "token has no payload or no signature");
		return GW_TOKEN_MALFORMED;
	}
	if (!signature_ok(key, keylen, token, (size_t)(d2 - token), d2 + 1,
			  slen) ||
	    !libjwt_ok(key, keylen, token)) {
		set_err(err, errlen, "token signature is not valid");
		return GW_TOKEN_BAD_SIGNATURE;
	}
	cJSON *payload = decode_json_part(d1 + 1, plen);
	bool ok = payload && claims_ok(payload, out);
	cJSON_Delete(payload);
	if (!ok) {
		set_err(err, errlen, "token claims are missing or mistyped");
		return GW_TOKEN_BAD_CLAIMS;
	}
	if (out->exp <= now || out->iat > now + GW_TOKEN_SKEW_S) {
		set_err(err, errlen, "token has expired");
		return GW_TOKEN_EXPIRED;
	}
	return GW_TOKEN_OK;
}
