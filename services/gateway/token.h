#ifndef GW_TOKEN_H
#define GW_TOKEN_H
/*
 * Access tokens: JWT signed with HS256 (libjwt 1.10), pure functions with
 * no I/O, unit-tested (tests/unit/test_gateway_token.c).
 *
 * Claims we write and require: iss "btc-watcher", sub (the user id as a
 * decimal string), name (username), role, ver (users.token_version), jti
 * (32 hex characters, random), iat and exp (seconds since the epoch).
 *
 * Verification is strict, and does more than jwt_decode():
 *  - the text is three non-empty base64url parts, at most
 *    GW_TOKEN_MAX_LEN bytes;
 *  - the header is exactly {"alg":"HS256"} plus optionally "typ":"JWT":
 *    "none", any other algorithm and any other header member (kid, jku,
 *    crit, …) are refused before any key is used;
 *  - the signature is recomputed with OpenSSL's HMAC and compared in
 *    constant time (CRYPTO_memcmp), then libjwt decodes the token with the
 *    key (checking it again) and must report HS256;
 *  - every claim above is present with its type, exp is in the future and
 *    iat not more than GW_TOKEN_SKEW_S in the future.
 * The caller still checks the database: user enabled, ver current, jti not
 * revoked (auth.c).
 *
 * Bot-scoped tokens (FreqUI at /bots/{id}/, frequi.c) carry two claims
 * more: "bot" (the strategy id) and "typ" ("bot_access" or
 * "bot_refresh"). A token without "typ" is an API token; the caller says
 * which kind it accepts (auth.c), so a bot token never opens the API and
 * an API token never stands in for a bot's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_TOKEN_MAX_LEN 4096
#define GW_TOKEN_SKEW_S 60   /* iat may be this far in the future */
#define GW_TOKEN_ISSUER "btc-watcher"
#define GW_JTI_LEN 32        /* hex characters */
#define GW_USERNAME_MAX 64

enum gw_token_kind {
	GW_TOK_API,         /* the public API's token: no "typ" */
	GW_TOK_BOT_ACCESS,  /* "typ":"bot_access" + "bot" */
	GW_TOK_BOT_REFRESH, /* "typ":"bot_refresh" + "bot" */
};

struct gw_claims {
	int64_t uid;                        /* sub */
	char username[GW_USERNAME_MAX + 1]; /* name */
	char role[8];                       /* admin, trader, viewer */
	int64_t ver;                        /* token_version */
	char jti[GW_JTI_LEN + 1];           /* token id */
	int64_t iat;                        /* issued at, epoch s */
	int64_t exp;                        /* expires at, epoch s */
	enum gw_token_kind kind;            /* typ */
	int64_t bot;                        /* bot's strategy id, or 0 */
};

enum gw_token_status {
	GW_TOKEN_OK,
	GW_TOKEN_MALFORMED,     /* not three base64url parts of JSON */
	GW_TOKEN_BAD_ALG,       /* header other than HS256 */
	GW_TOKEN_BAD_SIGNATURE, /* signature does not match */
	GW_TOKEN_BAD_CLAIMS,    /* a claim missing or mistyped */
	GW_TOKEN_EXPIRED,       /* exp passed (or iat in the future) */
};

/*
 * Sign claims (borrowed; jti, iat and exp as given) with key (keylen
 * bytes). Returns the token (caller frees with free()) or NULL with the
 * reason in err.
 */
char *gw_token_issue(const unsigned char *key, size_t keylen,
		     const struct gw_claims *c, char *err, size_t errlen);

/*
 * Verify token (borrowed) as described above at time now (epoch s). On
 * GW_TOKEN_OK *out holds the claims; otherwise err says why (never
 * quoting the token).
 */
enum gw_token_status gw_token_verify(const unsigned char *key, size_t keylen,
				     const char *token, int64_t now,
				     struct gw_claims *out, char *err,
				     size_t errlen)
	__attribute__((warn_unused_result));

/* A fresh random token id (GW_JTI_LEN hex characters + NUL) into out.
 * Returns 0, or -1 if the system has no randomness to give. */
int gw_token_new_jti(char out[GW_JTI_LEN + 1])
	__attribute__((warn_unused_result));

/*
 * base64url without padding (RFC 7515 section 2): encode n bytes of in into
 * out (outlen >= 4 * ceil(n / 3) + 1); returns the length, or -1 if out is
 * too small. Decode: returns the number of bytes written, or -1 for a
 * character outside the alphabet, a bad length or a small out.
 */
long gw_b64url_encode(const unsigned char *in, size_t n, char *out,
		      size_t outlen);
long gw_b64url_decode(const char *in, size_t n, unsigned char *out,
		      size_t outlen);

#endif
