/*
 * auth: the API's credentials (rpc/api_server/api_auth.py): HTTP Basic
 * against api_server.username/password, and HS256 JWTs signed with
 * jwt_secret_key carrying {"identity": {"u": user}, "exp", "iat",
 * "type": "access"|"refresh"}; access tokens live 15 minutes, refresh
 * tokens 30 days.
 */
#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/ftsim/ftsim.h"

#define ACCESS_TTL (15 * 60)
#define REFRESH_TTL (30L * 24 * 3600)

char *auth_token(const struct ft_cfg *c, const char *user, const char *type)
{
	jwt_t *j = NULL;
	char *tok = NULL;
	if (jwt_new(&j) != 0)
		return NULL;
	cJSON *g = cJSON_CreateObject();
	cJSON *id = cJSON_AddObjectToObject(g, "identity");
	cJSON_AddStringToObject(id, "u", user);
	char *gs = cJSON_PrintUnformatted(g);
	cJSON_Delete(g);
	long now = (long)time(NULL);
	bool refresh = strcmp(type, "refresh") == 0;
	const char *key = c->jwt_secret;
	if (gs && jwt_add_grants_json(j, gs) == 0 &&
	    jwt_add_grant_int(j, "exp",
	                      now + (refresh ? REFRESH_TTL : ACCESS_TTL)) ==
	            0 &&
	    jwt_add_grant_int(j, "iat", now) == 0 &&
	    jwt_add_grant(j, "type", type) == 0 &&
	    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)key,
	                (int)strlen(key)) == 0)
		tok = jwt_encode_str(j);
	free(gs);
	jwt_free(j);
	return tok;
}

static bool identity_user(jwt_t *j, char *user)
{
	char *js = jwt_get_grants_json(j, "identity");
	cJSON *id = js ? cJSON_Parse(js) : NULL;
	free(js);
	const cJSON *u = jget(id, "u");
	bool ok = cJSON_IsString(u) && strlen(u->valuestring) < 64;
	if (ok)
		snprintf(user, 64, "%s", u->valuestring);
	cJSON_Delete(id);
	return ok;
}

bool auth_check_token(const struct ft_cfg *c, const char *token,
                      const char *type, char *user)
{
	jwt_t *j = NULL;
	const char *key = c->jwt_secret;
	if (!token || !*token || !*key)
		return false;
	if (jwt_decode(&j, token, (const unsigned char *)key,
	               (int)strlen(key)) != 0)
		return false;
	bool ok = jwt_get_alg(j) == JWT_ALG_HS256;
	long now = (long)time(NULL);
	errno = 0;
	long exp = jwt_get_grant_int(j, "exp");
	ok = ok && errno == 0 && exp > now;
	errno = 0;
	long iat = jwt_get_grant_int(j, "iat");
	ok = ok && (errno != 0 || iat <= now + 1);
	const char *t = jwt_get_grant(j, "type");
	ok = ok && t && strcmp(t, type) == 0;
	ok = ok && identity_user(j, user);
	jwt_free(j);
	return ok;
}

static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
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
	int len = EVP_DecodeBlock(raw, (const unsigned char *)clean, (int)k);
	if (len < 0)
		goto done;
	if (k >= 1 && clean[k - 1] == '=')
		len--;
	if (k >= 2 && clean[k - 2] == '=')
		len--;
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
