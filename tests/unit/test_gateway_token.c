/* gateway: JWT HS256 issue and strict verification, base64url. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gateway/token.c"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef-k";
#define KEYLEN (sizeof(key) - 1)
#define NOW 1800000000

static struct gw_claims claims(void)
{
	struct gw_claims c = { .uid = 7, .ver = 3, .iat = NOW - 10,
			       .exp = NOW + 3600 };
	snprintf(c.username, sizeof(c.username), "alice");
	snprintf(c.role, sizeof(c.role), "trader");
	snprintf(c.jti, sizeof(c.jti), "0123456789abcdef0123456789abcdef");
	return c;
}

static char *issue(const struct gw_claims *c)
{
	char err[128];
	char *t = gw_token_issue(key, KEYLEN, c, err, sizeof(err));
	assert_non_null(t);
	return t;
}

static enum gw_token_status verify(const char *t, int64_t now)
{
	struct gw_claims out;
	char err[128];
	return gw_token_verify(key, KEYLEN, t, now, &out, err, sizeof(err));
}

/* header.payload.signature from JSON texts, signed with key by alg
 * (libjwt), or "" as signature when sign is false. */
static char *forge(const char *header, const char *payload, bool sign,
		   const unsigned char *k, size_t klen)
{
	char h[512], p[1024], *out = malloc(4096);
	unsigned char mac[64];
	unsigned maclen = 0;
	char sig[128] = "";

	gw_b64url_encode((const unsigned char *)header, strlen(header), h,
			 sizeof(h));
	gw_b64url_encode((const unsigned char *)payload, strlen(payload), p,
			 sizeof(p));
	snprintf(out, 4096, "%s.%s", h, p);
	if (sign) {
		HMAC(EVP_sha256(), k, (int)klen, (unsigned char *)out,
		     strlen(out), mac, &maclen);
		gw_b64url_encode(mac, maclen, sig, sizeof(sig));
	}
	size_t n = strlen(out);
	snprintf(out + n, 4096 - n, ".%s", sig);
	return out;
}

#define GOOD_PAYLOAD                                                        \
	"{\"iss\":\"btc-watcher\",\"sub\":\"7\",\"name\":\"alice\","        \
	"\"role\":\"trader\",\"jti\":\"0123456789abcdef0123456789abcdef\"," \
	"\"ver\":3,\"iat\":1799999990,\"exp\":1800003600}"

static void round_trip(void **state)
{
	struct gw_claims c = claims(), out;
	char err[128];
	(void)state;
	char *t = issue(&c);
	assert_int_equal(gw_token_verify(key, KEYLEN, t, NOW, &out, err,
					 sizeof(err)), GW_TOKEN_OK);
	assert_int_equal(out.uid, 7);
	assert_int_equal(out.ver, 3);
	assert_int_equal(out.exp, NOW + 3600);
	assert_string_equal(out.username, "alice");
	assert_string_equal(out.role, "trader");
	assert_string_equal(out.jti, c.jti);
	free(t);
	/* the hand-made token with the same claims passes too */
	t = forge("{\"alg\":\"HS256\"}", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_OK);
	free(t);
}

static void expiry(void **state)
{
	struct gw_claims c = claims();
	(void)state;
	char *t = issue(&c);
	assert_int_equal(verify(t, NOW + 3600), GW_TOKEN_EXPIRED);
	assert_int_equal(verify(t, NOW + 3599), GW_TOKEN_OK);
	/* issued in the future (beyond the skew) */
	assert_int_equal(verify(t, NOW - 10 - GW_TOKEN_SKEW_S - 1),
			 GW_TOKEN_EXPIRED);
	free(t);
}

static void algorithms_refused(void **state)
{
	(void)state;
	char *t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_PAYLOAD,
			false, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	/* alg none, yet signed: still refused */
	t = forge("{\"alg\":\"none\"}", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("{\"alg\":\"HS512\"}", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("{\"alg\":\"RS256\"}", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("{\"alg\":\"hs256\"}", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("{\"typ\":\"JWT\"}", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("{\"alg\":\"HS256\",\"kid\":\"x\"}", GOOD_PAYLOAD, true, key,
		  KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", GOOD_PAYLOAD, true,
		  key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
	t = forge("[\"HS256\"]", GOOD_PAYLOAD, true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_ALG);
	free(t);
}

static void signatures(void **state)
{
	static const unsigned char other[] =
		"another-key-of-32-bytes-or-more!!";
	struct gw_claims c = claims();
	(void)state;
	char *t = forge("{\"alg\":\"HS256\"}", GOOD_PAYLOAD, true, other,
			sizeof(other) - 1);
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_SIGNATURE);
	free(t);
	/* a changed payload under the original signature */
	t = issue(&c);
	char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
	char *p = forge("{\"alg\":\"HS256\"}",
			"{\"iss\":\"btc-watcher\",\"sub\":\"1\"}", false, key,
			KEYLEN);
	char forged[4096];
	char *pd1 = strchr(p, '.');
	snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(d1 - t + 1), t,
		 (int)(strrchr(p, '.') - pd1 - 1), pd1 + 1, d2);
	assert_int_equal(verify(forged, NOW), GW_TOKEN_BAD_SIGNATURE);
	/* the signature cut short, or one character changed */
	t[strlen(t) - 1] = '\0';
	assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_SIGNATURE);
	free(p);
	free(t);
}

static void malformed(void **state)
{
	char big[GW_TOKEN_MAX_LEN + 10];
	(void)state;
	assert_int_equal(verify("", NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify(NULL, NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify("abc", NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify("a.b", NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify("a.b.c.d", NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify(".b.c", NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify("a b.c.d", NOW), GW_TOKEN_MALFORMED);
	assert_int_equal(verify("a+b.c.d", NOW), GW_TOKEN_MALFORMED);
	memset(big, 'a', sizeof(big));
	big[10] = big[20] = '.';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(verify(big, NOW), GW_TOKEN_MALFORMED);
	char *t = forge("{\"alg\":\"HS256\"}", "", true, key, KEYLEN);
	assert_int_equal(verify(t, NOW), GW_TOKEN_MALFORMED);
	free(t);
}

static void claims_checked(void **state)
{
#define CLAIM_TAIL "\"jti\":\"0123456789abcdef0123456789abcdef\","
	static const char *const bad[] = {
		"{\"iss\":\"x\",\"sub\":\"7\",\"name\":\"a\",\"role\":\"r\","
		CLAIM_TAIL "\"ver\":0,\"iat\":1,\"exp\":1900000000}",
		"{\"iss\":\"btc-watcher\",\"sub\":7,\"name\":\"a\","
		"\"role\":\"r\"," CLAIM_TAIL
		"\"ver\":0,\"iat\":1,\"exp\":1900000000}",
		"{\"iss\":\"btc-watcher\",\"sub\":\"07\",\"name\":\"a\","
		"\"role\":\"r\"," CLAIM_TAIL
		"\"ver\":0,\"iat\":1,\"exp\":1900000000}",
		"{\"iss\":\"btc-watcher\",\"sub\":\"7\",\"name\":\"a\","
		"\"role\":\"r\",\"jti\":\"short\",\"ver\":0,\"iat\":1,"
		"\"exp\":1900000000}",
		"{\"iss\":\"btc-watcher\",\"sub\":\"7\",\"name\":\"a\","
		"\"role\":\"r\"," CLAIM_TAIL
		"\"ver\":0.5,\"iat\":1,\"exp\":1900000000}",
		"{\"iss\":\"btc-watcher\",\"sub\":\"7\",\"name\":\"a\","
		"\"role\":\"r\"," CLAIM_TAIL "\"ver\":0,\"iat\":1}",
		"[1,2]",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", bad[i],
				true, key, KEYLEN);
		assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_CLAIMS);
		free(t);
	}
}

static void base64url(void **state)
{
	unsigned char out[16];
	char enc[16];
	(void)state;
	assert_int_equal(gw_b64url_encode((const unsigned char *)"\xfb\xff",
					  2, enc, sizeof(enc)), 3);
	assert_string_equal(enc, "-_8");
	assert_int_equal(gw_b64url_decode("-_8", 3, out, sizeof(out)), 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	assert_int_equal(gw_b64url_encode((const unsigned char *)"abc", 3,
					  enc, sizeof(enc)), 4);
	assert_string_equal(enc, "YWJj");
	assert_int_equal(gw_b64url_decode("YWJj", 4, out, sizeof(out)), 3);
	assert_int_equal(gw_b64url_decode("YWJ", 3, out, sizeof(out)), 2);
	assert_int_equal(gw_b64url_decode("Y", 1, out, sizeof(out)), -1);
	assert_int_equal(gw_b64url_decode("YW=j", 4, out, sizeof(out)), -1);
	assert_int_equal(gw_b64url_decode("YW+j", 4, out, sizeof(out)), -1);
	assert_int_equal(gw_b64url_encode((const unsigned char *)"abc", 3,
					  enc, 4), -1);
}

static void jti(void **state)
{
	char a[GW_JTI_LEN + 1], b[GW_JTI_LEN + 1];
	(void)state;
	assert_int_equal(gw_token_new_jti(a), 0);
	assert_int_equal(gw_token_new_jti(b), 0);
	assert_int_equal(strlen(a), GW_JTI_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), GW_JTI_LEN);
	assert_string_not_equal(a, b);
}

/* Bot-scoped tokens (FreqUI): "typ" and "bot" go together. */
static void bot_kinds(void **state)
{
	struct gw_claims c = claims(), out;
	char err[128];
	(void)state;
	c.kind = GW_TOK_BOT_REFRESH;
	c.bot = 42;
	char *t = issue(&c);
	assert_int_equal(gw_token_verify(key, KEYLEN, t, NOW, &out, err,
					 sizeof(err)), GW_TOKEN_OK);
	assert_int_equal(out.kind, GW_TOK_BOT_REFRESH);
	assert_int_equal(out.bot, 42);
	free(t);
	c.kind = GW_TOK_BOT_ACCESS;
	t = issue(&c);
	assert_int_equal(gw_token_verify(key, KEYLEN, t, NOW, &out, err,
					 sizeof(err)), GW_TOKEN_OK);
	assert_int_equal(out.kind, GW_TOK_BOT_ACCESS);
	free(t);
	/* an API token has neither */
	c = claims();
	t = issue(&c);
	assert_int_equal(gw_token_verify(key, KEYLEN, t, NOW, &out, err,
					 sizeof(err)), GW_TOKEN_OK);
	assert_int_equal(out.kind, GW_TOK_API);
	assert_int_equal(out.bot, 0);
	free(t);
	static const char *const bad[] = {
		",\"bot\":3}",                          /* bot without typ */
		",\"typ\":\"bot_access\"}",             /* typ without bot */
		",\"typ\":\"admin\",\"bot\":3}",        /* unknown typ */
		",\"typ\":\"bot_access\",\"bot\":0}",   /* not an id */
		",\"typ\":\"bot_access\",\"bot\":\"3\"}", /* a string */
		",\"typ\":1,\"bot\":3}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char payload[512];
		snprintf(payload, sizeof(payload), "%.*s%s",
			 (int)strlen(GOOD_PAYLOAD) - 1, GOOD_PAYLOAD, bad[i]);
		t = forge("{\"alg\":\"HS256\"}", payload, true, key, KEYLEN);
		assert_int_equal(verify(t, NOW), GW_TOKEN_BAD_CLAIMS);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(expiry),
		cmocka_unit_test(algorithms_refused),
		cmocka_unit_test(signatures),
		cmocka_unit_test(malformed),
		cmocka_unit_test(claims_checked),
		cmocka_unit_test(base64url),
		cmocka_unit_test(jti),
		cmocka_unit_test(bot_kinds),
	};
	return cmocka_run_group_tests_name("gateway_token", tests, NULL,
					   NULL);
}
