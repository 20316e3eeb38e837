/* ft-supervisor's strategy validation: defaults, every rule with its
 * field and message, partial updates checked as a whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "services/ft-supervisor/validate.c"

static char px_name[] = "tokyo", px_url[] = "socks5://10.0.0.5:1080";
static struct lc_cfg_proxy_entry proxies[] = {
	{ .id = 1, .name = px_name, .url = px_url, .enabled = true },
};

static struct lc_config cfg = {
	.proxy.proxies = { .items = proxies, .n = 1 },
};

static const char *const good =
	"{\"name\":\"btc-trend 1h\",\"strategy_class\":\"TrendV2\","
	"\"exchange\":\"binance\",\"timeframe\":\"1h\","
	"\"pair_whitelist\":[\"BTC/USDT\",\"ETH/USDT:USDT\"]}";

/* Parse good, set key to the JSON value v (NULL: remove key). */
static cJSON *with(const char *key, const char *v)
{
	cJSON *p = cJSON_Parse(good);
	if (key && cJSON_HasObjectItem(p, key))
		cJSON_DeleteItemFromObject(p, key);
	if (key && v)
		cJSON_AddItemToObject(p, key, cJSON_Parse(v));
	return p;
}

/* Expect a create with key=v to fail with code on field, message
 * containing part. */
static void refused(const char *key, const char *v, const char *code,
		    const char *field, const char *part)
{
	cJSON *p = with(key, v);
	struct verr e;
	cJSON *spec = validate_create(p, &cfg, &e);
	if (spec)
		fail_msg("%s=%s accepted", key, v ? v : "(none)");
	assert_string_equal(e.code, code);
	assert_string_equal(e.field, field);
	if (!strstr(e.msg, part))
		fail_msg("message '%s' lacks '%s'", e.msg, part);
	cJSON_Delete(p);
}

static void defaults_filled(void **state)
{
	(void)state;
	cJSON *p = with(NULL, NULL);
	struct verr e;
	cJSON *s = validate_create(p, &cfg, &e);
	assert_non_null(s);
	const cJSON *t = cJSON_GetObjectItem(s, "thresholds");
	assert_true(cJSON_GetObjectItem(t, "strong")->valuedouble == 0.8);
	assert_true(cJSON_GetObjectItem(t, "weak")->valuedouble == 0.4);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(s, "proxy_id")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(s, "auto_start")));
	assert_string_equal(cJSON_GetObjectItem(s, "version")->valuestring,
			    "v1.0");
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(s, "extra_config")));
	assert_int_equal(cJSON_GetArraySize(s), 10);
	cJSON_Delete(s);
	cJSON_Delete(p);
}

static void every_rule(void **state)
{
	(void)state;
	refused("name", NULL, "invalid", "name", "missing required field");
	refused("name", "\"\"", "invalid", "name", "1-64");
	refused("name", "\"bad/name\"", "invalid", "name", "1-64");
	refused("name", "\"trailing \"", "invalid", "name", "space");
	refused("name", "42", "invalid", "name", "must be a string");
	refused("strategy_class", "\"9Lives\"", "invalid", "strategy_class",
		"python class");
	refused("exchange", "\"nowhere\"", "invalid", "exchange",
		"unknown exchange 'nowhere'");
	refused("timeframe", "\"7m\"", "invalid", "timeframe",
		"unknown timeframe '7m'");
	refused("pair_whitelist", "[]", "invalid", "pair_whitelist",
		"empty");
	refused("pair_whitelist", "[\"BTCUSDT\"]", "invalid",
		"pair_whitelist", "not a pair");
	refused("pair_whitelist", "[\"BTC/USDT\",\"BTC/USDT\"]", "invalid",
		"pair_whitelist", "twice");
	refused("pair_whitelist", "\"BTC/USDT\"", "invalid",
		"pair_whitelist", "array");
	refused("thresholds", "{\"strong\":0.5,\"medium\":0.6,\"weak\":0.4}",
		"invalid", "thresholds", "weak <= medium <= strong");
	refused("thresholds", "{\"strong\":1.2,\"medium\":0.6,\"weak\":0.4}",
		"invalid", "thresholds.strong", "from 0 to 1");
	refused("thresholds", "{\"strong\":0.9,\"medium\":0.6}", "invalid",
		"thresholds.weak", "from 0 to 1");
	refused("thresholds", "{\"strong\":0.9,\"medium\":0.6,\"weak\":-0.1}",
		"invalid", "thresholds.weak", "from 0 to 1");
	refused("thresholds", "{\"strong\":0.9,\"medium\":0.6,\"weak\":0.1,"
		"\"extra\":0.5}", "invalid", "thresholds",
		"unknown threshold");
	refused("proxy_id", "7", "invalid", "proxy_id", "unknown proxy_id 7");
	refused("proxy_id", "\"1\"", "invalid", "proxy_id", "integer");
	refused("proxy_id", "1.5", "invalid", "proxy_id", "integer");
	refused("auto_start", "\"true\"", "invalid", "auto_start",
		"true or false");
	refused("version", "\"-x\"", "invalid", "version", "1-32");
	refused("extra_config", "[]", "invalid", "extra_config", "object");
	refused("extra_config", "{\"api_server\":{}}", "forbidden",
		"extra_config.api_server", "manages it");
	refused("extra_config", "{\"webhook\":{}}", "forbidden",
		"extra_config.webhook", "manages it");
	refused("extra_config", "{\"db_url\":\"sqlite://\"}", "forbidden",
		"extra_config.db_url", "manages it");
	/* keys that would point the bot at other files */
	refused("extra_config", "{\"datadir\":\"/tmp\"}", "forbidden",
		"extra_config.datadir", "manages it");
	refused("extra_config", "{\"user_data_dir\":\"/tmp\"}",
		"forbidden", "extra_config.user_data_dir", "manages it");
	refused("extra_config", "{\"logfile\":\"/tmp/x.log\"}", "forbidden",
		"extra_config.logfile", "manages it");
	refused("extra_config", "{\"stake_amount\":1,\"add_config_files\":"
		"[\"strategy_2.json\"]}", "forbidden",
		"extra_config.add_config_files", "another bot's secrets");
	refused("extra_config", "{\"freqaimodel_path\":\"/tmp\"}",
		"forbidden", "extra_config.freqaimodel_path",
		"import code");
	refused("status", "\"running\"", "invalid", "status",
		"unknown field");
}

static void accepted_extras(void **state)
{
	(void)state;
	cJSON *p = with("extra_config",
			"{\"stake_amount\":50,\"max_open_trades\":2,"
			"\"minimal_roi\":{\"0\":0.02},"
			"\"ftsim\":{\"seed\":3}}");
	cJSON_AddItemToObject(p, "proxy_id", cJSON_CreateNumber(1));
	cJSON_AddItemToObject(p, "thresholds", cJSON_Parse(
		"{\"strong\":0.7,\"medium\":0.7,\"weak\":0}"));
	struct verr e;
	cJSON *s = validate_create(p, &cfg, &e);
	assert_non_null(s);
	assert_int_equal(cJSON_GetObjectItem(s, "proxy_id")->valueint, 1);
	cJSON_Delete(s);
	cJSON_Delete(p);
}

static void update_checks_the_whole(void **state)
{
	(void)state;
	cJSON *p = with(NULL, NULL);
	struct verr e;
	cJSON *cur = validate_create(p, &cfg, &e);
	/* weak alone above the stored medium (0.6) */
	cJSON *u = cJSON_Parse("{\"id\":3,\"thresholds\":{\"strong\":0.8,"
			       "\"medium\":0.6,\"weak\":0.7}}");
	assert_null(validate_update(u, cur, &cfg, &e));
	assert_string_equal(e.field, "thresholds");
	cJSON_Delete(u);
	u = cJSON_Parse("{\"id\":3}");
	assert_null(validate_update(u, cur, &cfg, &e));
	cJSON_Delete(u);
	u = cJSON_Parse("{\"id\":3,\"port\":9000}");
	assert_null(validate_update(u, cur, &cfg, &e));
	assert_string_equal(e.msg, "port is not writable");
	cJSON_Delete(u);
	u = cJSON_Parse("{\"id\":3,\"timeframe\":\"4h\",\"version\":\"v2\"}");
	cJSON *n = validate_update(u, cur, &cfg, &e);
	assert_non_null(n);
	assert_string_equal(cJSON_GetObjectItem(n, "timeframe")->valuestring,
			    "4h");
	assert_string_equal(cJSON_GetObjectItem(n, "name")->valuestring,
			    "btc-trend 1h");
	cJSON_Delete(n);
	cJSON_Delete(u);
	cJSON_Delete(cur);
	cJSON_Delete(p);
}

static void ids(void **state)
{
	(void)state;
	struct verr e;
	cJSON *p = cJSON_Parse("{\"id\":5,\"a\":0,\"b\":2.5,\"c\":\"5\"}");
	assert_int_equal(validate_id(p, "id", &e), 5);
	assert_int_equal(validate_id(p, "a", &e), -1);
	assert_int_equal(validate_id(p, "b", &e), -1);
	assert_int_equal(validate_id(p, "c", &e), -1);
	assert_int_equal(validate_id(p, "zz", &e), -1);
	assert_string_equal(e.msg, "missing required field 'zz'");
	cJSON_Delete(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_filled),
		cmocka_unit_test(every_rule),
		cmocka_unit_test(accepted_extras),
		cmocka_unit_test(update_checks_the_whole),
		cmocka_unit_test(ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
