/* ft-supervisor's FreqTrade config generation: every managed block,
 * the webhook URL and templates, the proxy, extra_config merged over it
 * without touching managed keys, and the atomic 0600 write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "services/ft-supervisor/ftconfig.c"
#include "services/ft-supervisor/validate.c"

static char px_name[] = "tokyo", px_url[] = "socks5://10.0.0.5:1080";
static char px2_url[] = "http://proxy:3128";
static struct lc_cfg_proxy_entry proxies[] = {
	{ .id = 1, .name = px_name, .url = px_url, .enabled = true },
	{ .id = 2, .name = px_name, .url = px2_url, .enabled = false },
};
static char d_strat[] = "/data/strategies", d_user[] = "/data/user";
static char d_data[] = "/data/market";
static char ingest_url[] = "http://127.0.0.1:7120/";
static char gw_url[] = "http://127.0.0.1:7110";

static struct lc_config cfg;

static void setup_cfg(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.proxy.proxies.items = proxies;
	cfg.proxy.proxies.n = 2;
	cfg.system.freqtrade.strategies_directory = d_strat;
	cfg.system.freqtrade.user_data_directory = d_user;
	cfg.system.freqtrade.data_directory = d_data;
	cfg.system.freqtrade.dry_run_wallet = 1000;
	cfg.services.svc[LC_CFG_SVC_INGEST].http_url = ingest_url;
	cfg.services.svc[LC_CFG_SVC_GATEWAY].http_url = gw_url;
}

static cJSON *build(const char *spec_text)
{
	setup_cfg();
	cJSON *params = cJSON_Parse(spec_text);
	struct verr e;
	cJSON *spec = validate_create(params, &cfg, &e);
	assert_non_null(spec);
	struct ftconfig_in in = {
		.id = 7, .port = 8088, .spec = spec, .api_user = "btcw",
		.api_pass = "p4ssw0rd-0123456789", .jwt_secret = "jwt-secret",
		.token = "tok123", .db_path = "/data/user/t7.sqlite",
		.cfg = &cfg,
	};
	char err[256];
	cJSON *c = ftconfig_build(&in, err, sizeof(err));
	assert_non_null(c);
	cJSON_Delete(spec);
	cJSON_Delete(params);
	return c;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(o, a);
	if (b)
		v = cJSON_GetObjectItem(v, b);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(o, a);
	if (b)
		v = cJSON_GetObjectItem(v, b);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

#define SPEC(extra)                                                      \
	"{\"name\":\"eth 15m\",\"strategy_class\":\"MeanRev\","          \
	"\"exchange\":\"okx\",\"timeframe\":\"15m\","                    \
	"\"pair_whitelist\":[\"ETH/USDT\",\"SOL/USDT\"]" extra "}"

static void managed_blocks(void **state)
{
	(void)state;
	cJSON *c = build(SPEC(",\"proxy_id\":1"));
	assert_string_equal(str_at(c, "strategy", NULL), "MeanRev");
	assert_string_equal(str_at(c, "strategy_path", NULL),
			    "/data/strategies");
	assert_string_equal(str_at(c, "timeframe", NULL), "15m");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "dry_run")));
	assert_true(num_at(c, "dry_run_wallet", NULL) == 1000);
	assert_string_equal(str_at(c, "stake_currency", NULL), "USDT");
	assert_string_equal(str_at(c, "db_url", NULL),
			    "sqlite:////data/user/t7.sqlite");
	assert_string_equal(str_at(c, "initial_state", NULL), "running");
	assert_true(num_at(c, "internals", "process_throttle_secs") == 5);
	const cJSON *x = cJSON_GetObjectItem(c, "exchange");
	assert_string_equal(str_at(x, "name", NULL), "okx");
	assert_string_equal(str_at(x, "key", NULL), "");
	assert_string_equal(str_at(x, "secret", NULL), "");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(x, "ccxt_config"), "enableRateLimit")));
	assert_string_equal(str_at(x, "ccxt_config", "socksProxy"), px_url);
	assert_int_equal(cJSON_GetArraySize(
				 cJSON_GetObjectItem(x, "pair_whitelist")), 2);
	assert_int_equal(cJSON_GetArraySize(
				 cJSON_GetObjectItem(x, "pair_blacklist")), 0);
	const cJSON *pl = cJSON_GetArrayItem(cJSON_GetObjectItem(c,
								 "pairlists"),
					     0);
	assert_string_equal(str_at(pl, "method", NULL), "StaticPairList");
	const cJSON *api = cJSON_GetObjectItem(c, "api_server");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(api, "enabled")));
	assert_string_equal(str_at(api, "listen_ip_address", NULL),
			    "127.0.0.1");
	assert_true(num_at(api, "listen_port", NULL) == 8088);
	assert_string_equal(str_at(api, "username", NULL), "btcw");
	assert_string_equal(str_at(api, "jwt_secret_key", NULL),
			    "jwt-secret");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(
			api, "CORS_origins"), 0)->valuestring, gw_url);
	cJSON_Delete(c);
}

static void webhook_and_templates(void **state)
{
	(void)state;
	cJSON *c = build(SPEC(""));
	const cJSON *w = cJSON_GetObjectItem(c, "webhook");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(w, "enabled")));
	assert_string_equal(str_at(w, "url", NULL),
			    "http://127.0.0.1:7120/api/v1/signals/webhook/7/"
			    "tok123");
	assert_string_equal(str_at(w, "format", NULL), "json");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
		w, "allow_custom_messages")));
	static const char *const types[] = {
		"entry", "entry_fill", "entry_cancel", "exit", "exit_fill",
		"exit_cancel", "status", "strategy_msg", NULL };
	for (int i = 0; types[i]; i++) {
		const cJSON *t = cJSON_GetObjectItem(w, types[i]);
		assert_true(cJSON_IsObject(t));
		assert_string_equal(str_at(t, "type", NULL), "{type}");
	}
	assert_string_equal(str_at(w, "entry", "open_rate"), "{open_rate}");
	assert_string_equal(str_at(w, "exit_fill", "profit_ratio"),
			    "{profit_ratio}");
	assert_string_equal(str_at(w, "exit_cancel", "reason"), "{reason}");
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(w,
							    "exit_cancel"),
					"close_rate"));
	assert_string_equal(str_at(w, "strategy_msg", "msg"), "{msg}");
	assert_string_equal(str_at(w, "status", "status"), "{status}");
	/* no proxy: none configured; a disabled one is not used either */
	const cJSON *cc = cJSON_GetObjectItem(cJSON_GetObjectItem(
		c, "exchange"), "ccxt_config");
	assert_null(cJSON_GetObjectItem(cc, "socksProxy"));
	cJSON_Delete(c);
	c = build(SPEC(",\"proxy_id\":2"));
	cc = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "exchange"),
				 "ccxt_config");
	assert_null(cJSON_GetObjectItem(cc, "httpsProxy"));
	cJSON_Delete(c);
}

static void extra_merged_over(void **state)
{
	(void)state;
	cJSON *c = build(SPEC(
		",\"extra_config\":{\"stake_amount\":25,"
		"\"max_open_trades\":1,\"internals\":{\"heartbeat_interval\":"
		"10},\"minimal_roi\":{\"0\":0.01},\"ftsim\":{\"seed\":9}}"));
	assert_true(num_at(c, "stake_amount", NULL) == 25);
	assert_true(num_at(c, "max_open_trades", NULL) == 1);
	/* objects merge: the throttle stays, the heartbeat is added */
	assert_true(num_at(c, "internals", "process_throttle_secs") == 5);
	assert_true(num_at(c, "internals", "heartbeat_interval") == 10);
	assert_true(num_at(c, "ftsim", "seed") == 9);
	cJSON_Delete(c);
	/* the merge itself skips managed keys at the top */
	cJSON *dst = cJSON_Parse("{\"api_server\":{\"listen_port\":1},"
				 "\"a\":{\"b\":1}}");
	cJSON *src = cJSON_Parse("{\"api_server\":{\"listen_port\":2},"
				 "\"a\":{\"c\":2},\"d\":[1]}");
	ftconfig_merge(dst, src, 1);
	assert_true(num_at(dst, "api_server", "listen_port") == 1);
	assert_true(num_at(dst, "a", "b") == 1);
	assert_true(num_at(dst, "a", "c") == 2);
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(dst, "d")));
	cJSON_Delete(dst);
	cJSON_Delete(src);
	/* a row stored before these keys were refused cannot redirect the
	 * bot's files either: the merge drops them */
	dst = cJSON_Parse("{\"datadir\":\"/data/market\"}");
	src = cJSON_Parse("{\"datadir\":\"/elsewhere\","
			  "\"add_config_files\":[\"strategy_2.json\"],"
			  "\"freqaimodel_path\":\"/tmp\","
			  "\"logfile\":\"/tmp/l\",\"stake_amount\":5}");
	ftconfig_merge(dst, src, 1);
	assert_string_equal(
		cJSON_GetObjectItem(dst, "datadir")->valuestring,
		"/data/market");
	assert_null(cJSON_GetObjectItem(dst, "add_config_files"));
	assert_null(cJSON_GetObjectItem(dst, "freqaimodel_path"));
	assert_null(cJSON_GetObjectItem(dst, "logfile"));
	assert_true(num_at(dst, "stake_amount", NULL) == 5);
	cJSON_Delete(dst);
	cJSON_Delete(src);
}

static void no_ingest_url(void **state)
{
	(void)state;
	setup_cfg();
	cfg.services.svc[LC_CFG_SVC_INGEST].http_url = NULL;
	cJSON *spec = cJSON_Parse(SPEC(""));
	struct ftconfig_in in = { .id = 1, .port = 1, .spec = spec,
				  .api_user = "u", .api_pass = "p",
				  .jwt_secret = "j", .token = "t",
				  .db_path = "/x", .cfg = &cfg };
	char err[256];
	assert_null(ftconfig_build(&in, err, sizeof(err)));
	assert_non_null(strstr(err, "http_url"));
	cJSON_Delete(spec);
}

static void atomic_private_write(void **state)
{
	(void)state;
	char dir[] = "/tmp/ftcfg.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/strategy_7.json", dir);
	cJSON *c = build(SPEC(""));
	char err[256];
	mode_t old = umask(0);
	assert_int_equal(ftconfig_write(path, c, err, sizeof(err)), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* overwrite in place: still one file, no temp left behind */
	assert_int_equal(ftconfig_write(path, c, err, sizeof(err)), 0);
	DIR *d = opendir(dir);
	int files = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		files += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 1);
	FILE *f = fopen(path, "r");
	char buf[16384];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cJSON *back = cJSON_Parse(buf);
	assert_non_null(back);
	assert_true(num_at(back, "api_server", "listen_port") == 8088);
	cJSON_Delete(back);
	cJSON_Delete(c);
	unlink(path);
	rmdir(dir);
	/* a directory that does not exist: an error, no crash */
	assert_int_equal(ftconfig_write("/nonexistent/x.json", c = build(
				 SPEC("")), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create"));
	cJSON_Delete(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(managed_blocks),
		cmocka_unit_test(webhook_and_templates),
		cmocka_unit_test(extra_merged_over),
		cmocka_unit_test(no_ingest_url),
		cmocka_unit_test(atomic_private_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
