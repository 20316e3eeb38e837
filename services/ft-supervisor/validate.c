/* Strategy params -> canonical spec, with clear errors (validate.h). */
#include "services/ft-supervisor/validate.h"

#include "libcommon/cfg_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EXTRA_MAX_KEYS 64
#define EXTRA_MAX_BYTES 65536
#define PAIRS_MAX 500

/* ccxt ids FreqTrade runs with (supported and community-tested). */
static const char *const exchanges[] = {
	"binance", "binanceus", "binanceusdm", "bingx", "bitfinex",
	"bitget", "bitmart", "bitpanda", "bitstamp", "bitvavo", "bybit",
	"coinbase", "coinbaseadvanced", "coinex", "cryptocom", "gate",
	"gateio", "hitbtc", "htx", "huobi", "hyperliquid", "kraken",
	"krakenfutures", "kucoin", "lbank", "mexc", "myokx", "okx", "okxus",
	"phemex", "poloniex", "woo", NULL,
};

/* ccxt's unified timeframes. */
static const char *const timeframes[] = {
	"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
	"1d", "3d", "1w", "1M", NULL,
};

/* Top-level FreqTrade keys extra_config may not set (proto:
 * extra_config), each with why. The first ones are written by
 * ftconfig.c or on the command line (--logfile): the supervisor must
 * know them to run, reach and clean up the bot. The last ones would
 * point the bot at files outside its own: FreqTrade loads every
 * add_config_files entry into the config (another bot's config holds
 * that bot's API password, JWT secret and webhook token) and imports
 * FreqAI model code from freqaimodel_path. ftconfig_merge skips all of
 * them too, for rows stored before a key was added here. */
#define MANAGES "the supervisor manages it"
static const struct {
	const char *key, *why;
} refused_keys[] = {
	{ "strategy", MANAGES },
	{ "strategy_path", MANAGES },
	{ "timeframe", MANAGES },
	{ "dry_run", MANAGES },
	{ "dry_run_wallet", MANAGES },
	{ "exchange", MANAGES },
	{ "pairlists", MANAGES },
	{ "api_server", MANAGES },
	{ "webhook", MANAGES },
	{ "initial_state", MANAGES },
	{ "db_url", MANAGES },
	{ "user_data_dir", MANAGES },
	{ "datadir", MANAGES },
	{ "logfile", MANAGES },
	{ "bot_name", MANAGES },
	{ "add_config_files", "it would merge other files into the "
			      "config (another bot's secrets among them)" },
	{ "freqaimodel_path", "it would import code from outside the "
			      "strategies directory" },
	{ NULL, NULL },
};
#undef MANAGES

static const char *const create_fields[] = {
	"name", "strategy_class", "exchange", "timeframe", "pair_whitelist",
	"proxy_id", "thresholds", "auto_start", "version", "extra_config",
	NULL,
};

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

bool validate_exchange_known(const char *name)
{
	return in_list(exchanges, name);
}

bool validate_timeframe_known(const char *tf)
{
	return in_list(timeframes, tf);
}

/* Why extra_config may not set key, or NULL if it may. */
static const char *refused_why(const char *key)
{
	for (size_t i = 0; refused_keys[i].key; i++)
		if (strcmp(refused_keys[i].key, key) == 0)
			return refused_keys[i].why;
	return NULL;
}

bool validate_managed_key(const char *key)
{
	return refused_why(key) != NULL;
}

__attribute__((format(printf, 4, 5)))
static void verr_set(struct verr *e, const char *code,
		     const char *field, const char *fmt, ...)
{
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Every character of s in [A-Za-z0-9] or extra; length lo..hi. */
static bool chars_ok(const char *s, const char *extra, size_t lo,
		     size_t hi)
{
	size_t n = strlen(s);
	if (n < lo || n > hi)
		return false;
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && is_alnum(s[0]) && s[n - 1] != ' ' &&
	       chars_ok(s, " _.-", 1, 64);
}

static bool class_ok(const char *s)
{
	bool digit = s[0] >= '0' && s[0] <= '9';
	return (s[0] == '_' || (is_alnum(s[0]) && !digit)) &&
	       chars_ok(s, "_", 1, 100);
}

static bool version_ok(const char *s)
{
	return is_alnum(s[0]) && chars_ok(s, "._+-", 1, 32);
}

/* BASE/QUOTE or BASE/QUOTE:SETTLE, parts of [A-Za-z0-9._-]. */
static bool pair_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 3 || n > 64)
		return false;
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1])
		return false;
	const char *colon = strchr(slash, ':');
	if (colon && (colon == slash + 1 || !colon[1] ||
		      strchr(colon + 1, ':')))
		return false;
	for (const char *p = s; *p; p++)
		if (!is_alnum(*p) && !strchr("._-", *p) &&
		    !(p == slash) && !(p == colon))
			return false;
	return true;
}

static bool check_string(const cJSON *v, const char *key, struct verr *e)
{
	if (cJSON_IsString(v))
		return true;
	verr_set(e, "invalid", key, "%s must be a string", key);
	return false;
}

static bool check_name(const cJSON *v, struct verr *e)
{
	if (!check_string(v, "name", e))
		return false;
	if (name_ok(v->valuestring))
		return true;
	verr_set(e, "invalid", "name",
		 "name must be 1-64 letters, digits, spaces, '_', '.' or '-', "
		 "starting with a letter or digit and not ending in a space");
	return false;
}

static bool check_class(const cJSON *v, struct verr *e)
{
	if (!check_string(v, "strategy_class", e))
		return false;
	if (class_ok(v->valuestring))
		return true;
	verr_set(e, "invalid", "strategy_class",
		 "strategy_class must be a python class name "
		 "(1-100 characters)");
	return false;
}

static bool check_exchange(const cJSON *v, struct verr *e)
{
	if (!check_string(v, "exchange", e))
		return false;
	if (validate_exchange_known(v->valuestring))
		return true;
	verr_set(e, "invalid", "exchange", "unknown exchange '%.64s'",
		 v->valuestring);
	return false;
}

static bool check_timeframe(const cJSON *v, struct verr *e)
{
	if (!check_string(v, "timeframe", e))
		return false;
	if (validate_timeframe_known(v->valuestring))
		return true;
	verr_set(e, "invalid", "timeframe",
		 "unknown timeframe '%.16s' (use 1m, 3m, 5m, 15m, 30m, 1h, "
		 "2h, "
		 "4h, 6h, 8h, 12h, 1d, 3d, 1w or 1M)", v->valuestring);
	return false;
}

static bool check_pairs(const cJSON *v, struct verr *e)
{
	if (!cJSON_IsArray(v)) {
		verr_set(e, "invalid", "pair_whitelist",
			 "pair_whitelist must be an array of pairs");
		return false;
	}
	int n = cJSON_GetArraySize(v);
	if (n == 0) {
		verr_set(e, "invalid", "pair_whitelist",
			 "pair_whitelist is empty: give at least one pair");
		return false;
	}
	if (n > PAIRS_MAX) {
		verr_set(e, "invalid", "pair_whitelist",
			 "pair_whitelist has %d pairs; at most %d", n,
			 PAIRS_MAX);
		return false;
	}
	int i = 0;
	for (const cJSON *p = v->child; p; p = p->next, i++) {
		if (!cJSON_IsString(p) || !pair_ok(p->valuestring)) {
			verr_set(e, "invalid", "pair_whitelist",
				 "pair_whitelist[%d] is not a pair like "
				 "BTC/USDT",
				 i);
			return false;
		}
		for (const cJSON *q = v->child; q != p; q = q->next)
			if (strcmp(q->valuestring, p->valuestring) == 0) {
				verr_set(e, "invalid", "pair_whitelist",
					 "pair_whitelist lists '%.64s' twice",
					 p->valuestring);
				return false;
			}
	}
	return true;
}

static bool proxy_known(const struct lc_config *cfg, int64_t id)
{
	const struct lc_cfg_proxy_entry *l = cfg->proxy.proxies.items;
	for (size_t i = 0; i < cfg->proxy.proxies.n; i++)
		if (l[i].id == id)
			return true;
	return false;
}

static bool check_proxy(const cJSON *v, const struct lc_config *cfg,
			struct verr *e)
{
	if (cJSON_IsNull(v))
		return true;
	double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
	if (!cJSON_IsNumber(v) || d != floor(d) || d < 1 || d > INT32_MAX) {
		verr_set(e, "invalid", "proxy_id",
			 "proxy_id must be a proxy id (an integer >= 1) "
			 "or null");
		return false;
	}
	if (!proxy_known(cfg, (int64_t)d)) {
		verr_set(e, "invalid", "proxy_id",
			 "unknown proxy_id %lld: not in proxy.yml",
			 (long long)d);
		return false;
	}
	return true;
}

static bool check_ratio(const cJSON *t, const char *key, double *out,
			struct verr *e)
{
	char field[32];
	snprintf(field, sizeof(field), "thresholds.%s", key);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble < 0 || v->valuedouble > 1) {
		verr_set(e, "invalid", field,
			 "%s must be a number from 0 to 1", field);
		return false;
	}
	*out = v->valuedouble;
	return true;
}

static bool check_thresholds(const cJSON *t, struct verr *e)
{
	if (!cJSON_IsObject(t)) {
		verr_set(e, "invalid", "thresholds",
			 "thresholds must be an object {strong, medium, "
			 "weak}");
		return false;
	}
	for (const cJSON *c = t->child; c; c = c->next)
		if (strcmp(c->string, "strong") && strcmp(c->string, "medium")
		    && strcmp(c->string, "weak")) {
			verr_set(e, "invalid", "thresholds",
				 "unknown threshold '%.32s' (strong, medium, "
				 "weak)", c->string);
			return false;
		}
	double s, m, w;
	if (!check_ratio(t, "strong", &s, e) ||
	    !check_ratio(t, "medium", &m, e) || !check_ratio(t, "weak", &w, e))
		return false;
	if (w > m || m > s) {
		verr_set(e, "invalid", "thresholds",
			 "thresholds must satisfy weak <= medium <= strong "
			 "(got weak %g, medium %g, strong %g)", w, m, s);
		return false;
	}
	return true;
}

static bool check_extra(const cJSON *v, struct verr *e)
{
	if (!cJSON_IsObject(v)) {
		verr_set(e, "invalid", "extra_config",
			 "extra_config must be an object");
		return false;
	}
	if (cJSON_GetArraySize(v) > EXTRA_MAX_KEYS) {
		verr_set(e, "invalid", "extra_config",
			 "extra_config has more than %d keys", EXTRA_MAX_KEYS);
		return false;
	}
	for (const cJSON *c = v->child; c; c = c->next) {
		const char *why = refused_why(c->string);
		if (!why)
			continue;
		char field[96];
		snprintf(field, sizeof(field), "extra_config.%.60s",
			 c->string);
		verr_set(e, "forbidden", field,
			 "extra_config may not set '%.60s': %s", c->string,
			 why);
		return false;
	}
	char *txt = cJSON_PrintUnformatted(v);
	size_t n = txt ? strlen(txt) : SIZE_MAX;
	cJSON_free(txt);
	if (n > EXTRA_MAX_BYTES) {
		verr_set(e, "invalid", "extra_config",
			 "extra_config is larger than %d bytes",
			 EXTRA_MAX_BYTES);
		return false;
	}
	return true;
}

/* One field by name; spec-level checks that need cfg get it. */
static bool check_field(const char *key, const cJSON *v,
			const struct lc_config *cfg, struct verr *e)
{
	if (strcmp(key, "name") == 0)
		return check_name(v, e);
	if (strcmp(key, "strategy_class") == 0)
		return check_class(v, e);
	if (strcmp(key, "exchange") == 0)
		return check_exchange(v, e);
	if (strcmp(key, "timeframe") == 0)
		return check_timeframe(v, e);
	if (strcmp(key, "pair_whitelist") == 0)
		return check_pairs(v, e);
	if (strcmp(key, "proxy_id") == 0)
		return check_proxy(v, cfg, e);
	if (strcmp(key, "thresholds") == 0)
		return check_thresholds(v, e);
	if (strcmp(key, "auto_start") == 0) {
		if (cJSON_IsBool(v))
			return true;
		verr_set(e, "invalid", key,
			 "auto_start must be true or false");
		return false;
	}
	if (strcmp(key, "version") == 0) {
		if (cJSON_IsString(v) && version_ok(v->valuestring))
			return true;
		verr_set(e, "invalid", key,
			 "version must be 1-32 letters, digits, '.', '_', '+' "
			 "or '-', starting with a letter or digit");
		return false;
	}
	if (strcmp(key, "extra_config") == 0)
		return check_extra(v, e);
	verr_set(e, "invalid", key, "unknown field '%.64s'", key);
	return false;
}

static cJSON *default_spec(void)
{
	cJSON *s = cJSON_CreateObject();
	cJSON *t = cJSON_AddObjectToObject(s, "thresholds");
	cJSON_AddNumberToObject(t, "strong", 0.8);
	cJSON_AddNumberToObject(t, "medium", 0.6);
	cJSON_AddNumberToObject(t, "weak", 0.4);
	cJSON_AddNullToObject(s, "proxy_id");
	cJSON_AddFalseToObject(s, "auto_start");
	cJSON_AddStringToObject(s, "version", "v1.0");
	cJSON_AddObjectToObject(s, "extra_config");
	return s;
}

/* spec[key] = copy of v (replacing). */
static void put(cJSON *spec, const char *key, const cJSON *v)
{
	cJSON *copy = cJSON_Duplicate(v, 1);
	if (cJSON_HasObjectItem(spec, key))
		cJSON_ReplaceItemInObjectCaseSensitive(spec, key, copy);
	else
		cJSON_AddItemToObject(spec, key, copy);
}

/* Copy the fields of params into spec, checking each; skip "id". */
static bool apply(cJSON *spec, const cJSON *params,
		  const struct lc_config *cfg, bool update, struct verr *e)
{
	for (const cJSON *c = params->child; c; c = c->next) {
		if (update && strcmp(c->string, "id") == 0)
			continue;
		if (update && (strcmp(c->string, "status") == 0 ||
			       strcmp(c->string, "port") == 0)) {
			verr_set(e, "invalid", c->string,
				 "%s is not writable", c->string);
			return false;
		}
		if (!check_field(c->string, c, cfg, e))
			return false;
		put(spec, c->string, c);
	}
	return true;
}

cJSON *validate_create(const cJSON *params, const struct lc_config *cfg,
		       struct verr *e)
{
	if (!cJSON_IsObject(params)) {
		verr_set(e, "invalid", "params", "params must be an object");
		return NULL;
	}
	for (int i = 0; i < 5; i++)
		if (!cJSON_HasObjectItem(params, create_fields[i])) {
			verr_set(e, "invalid", create_fields[i],
				 "missing required field '%s'",
				 create_fields[i]);
			return NULL;
		}
	cJSON *spec = default_spec();
	if (!spec || !apply(spec, params, cfg, false, e)) {
		if (!spec)
			verr_set(e, "internal", "", "out of memory");
		cJSON_Delete(spec);
		return NULL;
	}
	return spec;
}

cJSON *validate_update(const cJSON *params, const cJSON *current,
		       const struct lc_config *cfg, struct verr *e)
{
	if (!cJSON_IsObject(params) || cJSON_GetArraySize(params) < 2) {
		verr_set(e, "invalid", "params",
			 "give the id and at least one field to change");
		return NULL;
	}
	cJSON *spec = cJSON_Duplicate(current, 1);
	if (!spec) {
		verr_set(e, "internal", "", "out of memory");
		return NULL;
	}
	if (!apply(spec, params, cfg, true, e)) {
		cJSON_Delete(spec);
		return NULL;
	}
	/* Only the fields given are checked against proxy.yml: a proxy
	 * removed since is refused when named, and an untouched stale
	 * proxy_id means a direct connection at the next start. */
	return spec;
}

int validate_id(const cJSON *params, const char *key, struct verr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, key);
	if (!v) {
		verr_set(e, "invalid", key, "missing required field '%s'",
			 key);
		return -1;
	}
	double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
	if (!cJSON_IsNumber(v) || d != floor(d) || d < 1 || d > INT32_MAX) {
		verr_set(e, "invalid", key, "%s must be an integer >= 1", key);
		return -1;
	}
	return (int)d;
}
