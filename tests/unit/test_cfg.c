/* lc_cfg: the YAML engine, BTC Watcher's tables, and config/ itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/cfg.h"
#include "libcommon/cfg_schema.h"
#include "libcommon/log.h"

static char tmpdir[] = "/tmp/test_cfg.XXXXXX";
static int logpipe[2];
static char err[1024];

/* ---- helpers ---- */

/* Write text to tmpdir/name; returns the path (static, overwritten). */
static const char *put(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* What was logged since the last call (the tail, if it was a lot). */
static char *drain(void)
{
	static char buf[65536];
	ssize_t n, got = 0;
	while ((n = read(logpipe[0], buf, sizeof(buf) - 1)) > 0)
		got = n;
	buf[got] = '\0';
	return buf;
}

/* Expect loading text as table t to fail with exactly want, where "@"
 * in want stands for the file's path. */
static void expect_error(const struct lc_cfg_table *t, const char *text,
			 const char *want)
{
	const char *path = put("bad.yml", text);
	char full[1024];
	const char *at = strchr(want, '@');
	assert_non_null(at);
	snprintf(full, sizeof(full), "%.*s%s%s", (int)(at - want), want, path,
		 at + 1);
	_Alignas(max_align_t) unsigned char obj[4096];
	assert_true(t->size <= sizeof(obj));
	memset(obj, 0xAB, t->size);
	assert_int_equal(lc_cfg_load_file(t, path, obj, NULL, err,
					  sizeof(err)),
			 -1);
	assert_string_equal(err, full);
	for (size_t i = 0; i < t->size; i++)
		assert_int_equal(obj[i], 0); /* left empty, owning nothing */
}

/* Expect the error message to start with want ("@" is the path). */
static void expect_error_prefix(const struct lc_cfg_table *t,
				const char *text, const char *want)
{
	const char *path = put("bad.yml", text);
	char full[1024];
	const char *at = strchr(want, '@');
	snprintf(full, sizeof(full), "%.*s%s%s", (int)(at - want), want, path,
		 at + 1);
	_Alignas(max_align_t) unsigned char obj[4096];
	assert_int_equal(lc_cfg_load_file(t, path, obj, NULL, err,
					  sizeof(err)),
			 -1);
	if (strncmp(err, full, strlen(full)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, full);
}

static const struct lc_cfg_table *const all_tables[] = {
	&lc_cfg_system_table, &lc_cfg_notifications_table,
	&lc_cfg_proxy_table, &lc_cfg_services_table,
};

static const char *const env_vars[] = {
	"BTCW_DATA",		  "BTCW_PG_PORT",
	"BTCW_REDIS_PORT",	  "BTCW_DATABASE_DSN",
	"BTCW_DATABASE_PASSWORD", "BTCW_REDIS_PASSWORD",
	"BTCW_JWT_SECRET",	  "BTCW_LOG_LEVEL",
	"BTCW_HTTP_PORT",	  "BTCW_NOTIFY_SMS_URL",
	"BTCW_NOTIFY_FEISHU_URL", "BTCW_NOTIFY_WECHAT_URL",
	"BTCW_NOTIFY_EMAIL_URL",  "TCFG_X",
	"TCFG_EMPTY",
};

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	/* non-blocking, so drain() can empty it without waiting */
	if (!mkdtemp(tmpdir) || pipe2(logpipe, O_NONBLOCK) != 0)
		return -1;
	lc_log_set_fd(logpipe[1]);
	lc_log_init("test_cfg", LC_LOG_DEBUG);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	lc_log_set_fd(-1);
	close(logpipe[0]);
	close(logpipe[1]);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- a test table with every type ---- */

struct t_item {
	char *name;
	int64_t n;
};

struct t_obj {
	bool b;
	int64_t i;
	double d;
	char *s;
	int e;
	struct lc_cfg_strlist sl;
	int t;
	struct lc_cfg_list items;
	char *secret;
	char *proxy;
};

static const char *const colors[] = { "red", "green", "blue", NULL };

static const struct lc_cfg_key item_keys[] = {
	{ .path = "name", .type = LC_CFG_STRING,
	  .offset = offsetof(struct t_item, name), .flags = LC_CFG_REQUIRED },
	{ .path = "n", .type = LC_CFG_INT,
	  .offset = offsetof(struct t_item, n), .def = "7", .imin = 0,
	  .imax = 10 },
};
static const struct lc_cfg_table item_table = {
	"item", item_keys, 2, sizeof(struct t_item), NULL
};

#define TK(P, TY, F, D, ...)                                             \
	{ .path = "root." P, .type = LC_CFG_##TY,                         \
	  .offset = offsetof(struct t_obj, F), .def = D, __VA_ARGS__ }
static const struct lc_cfg_key t_keys[] = {
	TK("b", BOOL, b, "false", .flags = LC_CFG_RELOADABLE),
	TK("num.i", INT, i, "5", .imin = -10, .imax = 100,
	   .flags = LC_CFG_RESTART_ONLY),
	TK("num.d", DOUBLE, d, "0.5", .dmin = 0, .dmax = 1),
	TK("s", STRING, s, "x${TCFG_X:-def}y"),
	TK("e", ENUM, e, "green", .values = colors),
	TK("sl", STRLIST, sl, "[a, b]", .flags = LC_CFG_UNIQUE),
	TK("t", TIME, t, "23:59"),
	TK("items", LIST, items, NULL, .sub = &item_table),
	TK("secret", STRING, secret, "", .flags = LC_CFG_SECRET),
	TK("proxy", STRING, proxy, "", .flags = LC_CFG_SECRET_USERINFO),
};
static const struct lc_cfg_table t_table = {
	"root", t_keys, sizeof(t_keys) / sizeof(t_keys[0]),
	sizeof(struct t_obj), NULL
};

static void engine_defaults(void **state)
{
	(void)state;
	struct t_obj o;
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", NULL, &o, NULL,
					    err, sizeof(err)),
			 0);
	assert_false(o.b);
	assert_int_equal(o.i, 5);
	assert_true(o.d == 0.5);
	assert_string_equal(o.s, "xdefy");
	assert_int_equal(o.e, 1);
	assert_int_equal(o.sl.n, 2);
	assert_string_equal(o.sl.v[1], "b");
	assert_int_equal(o.t, 23 * 60 + 59);
	assert_int_equal(o.items.n, 0);
	assert_string_equal(o.secret, "");
	lc_cfg_release(&t_table, &o);
	assert_null(o.s);
}

static void engine_every_type(void **state)
{
	(void)state;
	struct t_obj o;
	const char *yaml = "root:\n"
			   "  b: yes\n"
			   "  num: {i: -10, d: 1e-1}\n"
			   "  s: 'hello: world'\n"
			   "  e: blue\n"
			   "  sl:\n"
			   "    - one\n"
			   "    - \"two\"\n"
			   "  t: \"07:05\"\n"
			   "  items:\n"
			   "    - name: first\n"
			   "    - {name: second, n: 10}\n";
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", yaml, &o, NULL,
					    err, sizeof(err)),
			 0);
	assert_true(o.b);
	assert_int_equal(o.i, -10);
	assert_true(o.d > 0.0999 && o.d < 0.1001);
	assert_string_equal(o.s, "hello: world");
	assert_int_equal(o.e, 2);
	assert_int_equal(o.sl.n, 2);
	assert_string_equal(o.sl.v[0], "one");
	assert_string_equal(o.sl.v[1], "two");
	assert_int_equal(o.t, 7 * 60 + 5);
	assert_int_equal(o.items.n, 2);
	const struct t_item *it = o.items.items;
	assert_string_equal(it[0].name, "first");
	assert_int_equal(it[0].n, 7); /* the item default */
	assert_string_equal(it[1].name, "second");
	assert_int_equal(it[1].n, 10);
	lc_cfg_release(&t_table, &o);

	/* the other spellings of booleans, empty lists, null values */
	yaml = "root: {b: On, sl: [], items: ~, s: }\n";
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", yaml, &o, NULL,
					    err, sizeof(err)),
			 0);
	assert_true(o.b);
	assert_int_equal(o.sl.n, 0);
	assert_int_equal(o.items.n, 0);
	assert_string_equal(o.s, "");
	lc_cfg_release(&t_table, &o);

	/* an empty section and an empty list value ("key:" alone) */
	yaml = "root:\n  num:\n  sl:\n  b: true\n";
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", yaml, &o, NULL,
					    err, sizeof(err)),
			 0);
	assert_int_equal(o.i, 5);
	assert_int_equal(o.sl.n, 0);
	assert_true(o.b);
	lc_cfg_release(&t_table, &o);
}

static void engine_value_errors(void **state)
{
	(void)state;
	expect_error(&t_table, "root:\n  b: maybe\n",
		     "@:2: root.b: expected true or false, got \"maybe\"");
	expect_error(&t_table, "root:\n  num:\n    i: 101\n",
		     "@:3: root.num.i: must be between -10 and 100, got 101");
	expect_error(&t_table, "root:\n  num:\n    i: 1.5\n",
		     "@:3: root.num.i: expected an integer, got \"1.5\"");
	expect_error(&t_table, "root:\n  num:\n    i: 99999999999999999999\n",
		     "@:3: root.num.i: expected an integer, got "
		     "\"99999999999999999999\"");
	expect_error(&t_table, "root:\n  num: {d: 1.5}\n",
		     "@:2: root.num.d: must be between 0 and 1, got 1.5");
	expect_error(&t_table, "root:\n  num: {d: nan}\n",
		     "@:2: root.num.d: expected a number, got \"nan\"");
	expect_error(&t_table, "root:\n  e: purple\n",
		     "@:2: root.e: expected one of red, green, blue; got "
		     "\"purple\"");
	expect_error(&t_table, "root:\n  t: \"24:00\"\n",
		     "@:2: root.t: expected a time \"HH:MM\" from 00:00 to "
		     "23:59, got \"24:00\"");
	expect_error(&t_table, "root:\n  t: \"7:05\"\n",
		     "@:2: root.t: expected a time \"HH:MM\" from 00:00 to "
		     "23:59, got \"7:05\"");
	expect_error(&t_table, "root:\n  sl: [a, b, a]\n",
		     "@:2: root.sl[2]: \"a\" is listed twice");
}

static void engine_wrong_kinds(void **state)
{
	(void)state;
	expect_error(&t_table, "root:\n  b:\n    x: 1\n",
		     "@:3: root.b: expected a scalar, got a mapping");
	expect_error(&t_table, "root:\n  s: [a]\n",
		     "@:2: root.s: expected a scalar, got a list");
	expect_error(&t_table, "root:\n  sl: a\n",
		     "@:2: root.sl: expected a list, got a scalar");
	expect_error(&t_table, "root:\n  sl: [[a]]\n",
		     "@:2: root.sl[0]: expected a scalar, got a list");
	expect_error(&t_table, "root:\n  num: 3\n",
		     "@:2: root.num: expected a mapping, got a scalar");
	expect_error(&t_table, "root:\n  items: {name: x}\n",
		     "@:2: root.items: expected a list, got a mapping");
	expect_error(&t_table, "- root\n",
		     "@:1: expected a mapping at the top level, got a list");
	expect_error(&t_table, "root:\n  ? [a, b]\n  : 1\n",
		     "@:2: root: expected a scalar key, got a list");
}

static void engine_structure_errors(void **state)
{
	(void)state;
	expect_error(&t_table, "root:\n  b: true\n  num:\n    i: 1\n  b: no\n",
		     "@:5: root.b: duplicate key (first at line 2)");
	expect_error(&t_table, "root:\n  num:\n    i: 1\n  num:\n    d: 0\n",
		     "@:4: root.num: duplicate key (first at line 2)");
	expect_error(&t_table, "root:\n  bb: true\n",
		     "@:2: root.bb: unknown key");
	expect_error(&t_table, "other: 1\n", "@:1: other: unknown key");
	/* a dotted key is not a shortcut for a section */
	expect_error(&t_table, "root:\n  num.i: 3\n",
		     "@:2: root.num.i: unknown key");
	expect_error(&t_table, "root: {}\n---\nroot: {}\n",
		     "@:2: only one YAML document is allowed");
	expect_error_prefix(&t_table, "root:\n  b: true\n   s: x\n",
			    "@:3: yaml syntax error: ");
	expect_error_prefix(&t_table, "root:\n  s: \"open\n",
			    "@:3: yaml syntax error: ");
	expect_error_prefix(&t_table, "root: [a, b\n",
			    "@:2: yaml syntax error: ");
}

static void engine_list_item_errors(void **state)
{
	(void)state;
	expect_error(&t_table,
		     "root:\n  items:\n    - name: a\n    - n: 3\n",
		     "@:4: root.items[1]: missing required key 'name'");
	expect_error(&t_table,
		     "root:\n  items:\n    - name: a\n    - name: b\n"
		     "      n: 11\n",
		     "@:5: root.items[1].n: must be between 0 and 10, got 11");
	expect_error(&t_table,
		     "root:\n  items:\n    - name: a\n      x: 1\n",
		     "@:4: root.items[0].x: unknown key");
	expect_error(&t_table, "root:\n  items:\n    - a\n",
		     "@:3: root.items[0]: expected a mapping, got a scalar");
}

static void engine_env(void **state)
{
	(void)state;
	struct t_obj o;
	setenv("TCFG_X", "42", 1);
	setenv("TCFG_EMPTY", "", 1);
	const char *yaml = "root:\n"
			   "  s: \"a${TCFG_X}b$$c$d\"\n"
			   "  num: {i: \"${TCFG_X}\"}\n"
			   "  sl: [\"${TCFG_UNSET:-u}\", \"${TCFG_EMPTY:-e}\","
			   " \"${TCFG_EMPTY}.\"]\n";
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", yaml, &o, NULL,
					    err, sizeof(err)),
			 0);
	assert_string_equal(o.s, "a42b$c$d");
	assert_int_equal(o.i, 42);
	assert_string_equal(o.sl.v[0], "u");
	assert_string_equal(o.sl.v[1], "e");
	assert_string_equal(o.sl.v[2], ".");
	lc_cfg_release(&t_table, &o);
	/* the default uses the environment too */
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", "", &o, NULL, err,
					    sizeof(err)),
			 0);
	assert_string_equal(o.s, "x42y");
	lc_cfg_release(&t_table, &o);

	expect_error(&t_table, "root:\n  num: {}\n  s: \"${TCFG_UNSET}\"\n",
		     "@:3: root.s: environment variable 'TCFG_UNSET' is not "
		     "set");
	expect_error(&t_table, "root:\n  s: \"${TCFG_X\"\n",
		     "@:2: root.s: bad ${NAME} or ${NAME:-default}");
	expect_error(&t_table, "root:\n  s: \"${1X}\"\n",
		     "@:2: root.s: bad ${NAME} or ${NAME:-default}");
	setenv("TCFG_X", "abc", 1);
	expect_error(&t_table, "root:\n  num:\n    i: ${TCFG_X}\n",
		     "@:3: root.num.i: expected an integer, got \"abc\"");
}

static void engine_dump_and_redaction(void **state)
{
	(void)state;
	struct t_obj o;
	const char *yaml = "root:\n"
			   "  secret: s3cr3t-value\n"
			   "  proxy: socks5://bob:hunter22@10.0.0.5:1080\n"
			   "  items: [{name: a}]\n";
	assert_int_equal(lc_cfg_load_string(&t_table, "mem", yaml, &o, NULL,
					    err, sizeof(err)),
			 0);
	cJSON *root = cJSON_CreateObject();
	assert_int_equal(lc_cfg_dump(&t_table, &o, root), 0);
	char *s = cJSON_PrintUnformatted(root);
	assert_string_equal(
		s, "{\"root\":{\"b\":false,\"num\":{\"i\":5,\"d\":0.5},"
		   "\"s\":\"xdefy\",\"e\":\"green\",\"sl\":[\"a\",\"b\"],"
		   "\"t\":\"23:59\",\"items\":[{\"name\":\"a\",\"n\":7}],"
		   "\"secret\":\"[redacted]\","
		   "\"proxy\":\"socks5://[redacted]@10.0.0.5:1080\"}}");
	cJSON_free(s);
	cJSON_Delete(root);
	/* the load registered the secrets with the logger */
	drain();
	log_info("test.leak", LF_S("text", "is s3cr3t-value or hunter22?"));
	const char *line = drain();
	assert_non_null(strstr(line, "is [redacted] or [redacted]?"));
	assert_null(strstr(line, "s3cr3t"));
	assert_null(strstr(line, "hunter22"));
	lc_cfg_release(&t_table, &o);
}

static void engine_diff(void **state)
{
	(void)state;
	struct t_obj a, b;
	assert_int_equal(lc_cfg_load_string(&t_table, "a", NULL, &a, NULL, err,
					    sizeof(err)),
			 0);
	assert_int_equal(lc_cfg_load_string(&t_table, "b",
					    "root: {b: true, num: {i: 6}, "
					    "items: [{name: z}]}",
					    &b, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(lc_cfg_diff(&t_table, &a, &a, 0, NULL, NULL), 0);
	assert_int_equal(lc_cfg_diff(&t_table, &a, &b, 0, NULL, NULL), 3);
	assert_int_equal(lc_cfg_diff(&t_table, &a, &b, LC_CFG_RESTART_ONLY,
				     NULL, NULL),
			 1);
	lc_cfg_release(&t_table, &a);
	lc_cfg_release(&t_table, &b);
}

/* ---- BTC Watcher's files ---- */

static void missing_file_gives_defaults_and_warns(void **state)
{
	(void)state;
	char path[600];
	snprintf(path, sizeof(path), "%s/nope/system.yml", tmpdir);
	struct lc_cfg_system s;
	drain();
	assert_int_equal(lc_cfg_load_file(&lc_cfg_system_table, path, &s, NULL,
					  err, sizeof(err)),
			 0);
	const char *line = drain();
	assert_non_null(strstr(line, "\"level\":\"warn\""));
	assert_non_null(strstr(line, "\"event\":\"config.missing\""));
	assert_non_null(strstr(line, path));
	assert_int_equal(s.monitoring.system_status_interval, 30);
	assert_int_equal(s.monitoring.proxy_health_interval, 3600);
	assert_int_equal(s.capacity.max_strategies, 999);
	assert_int_equal(s.capacity.alert_threshold, 80);
	assert_int_equal(s.ports.base_port, 8081);
	assert_int_equal(s.ports.port_range_end, 9080);
	assert_int_equal(s.freqtrade.command.n, 1);
	assert_string_equal(s.freqtrade.command.v[0], "ftsim");
	assert_int_equal(s.freqtrade.startup_timeout, 60);
	assert_int_equal(s.freqtrade.shutdown_timeout, 30);
	assert_string_equal(s.backup.backup_directory,
			    "/var/lib/btc-watcher/backup");
	assert_int_equal(s.backup.backup_retention_days, 90);
	assert_string_equal(s.security.jwt_secret_key, "");
	assert_int_equal(s.security.jwt_expire_hours, 24);
	assert_true(s.security.require_special_chars);
	assert_int_equal(s.database.port, 5432);
	assert_int_equal(s.redis.port, 6379);
	assert_int_equal(s.log_level, LC_LOG_INFO);
	lc_cfg_release(&lc_cfg_system_table, &s);

	/* defaults follow the environment the local stack sets */
	setenv("BTCW_DATA", "/srv/w", 1);
	setenv("BTCW_PG_PORT", "15432", 1);
	setenv("BTCW_LOG_LEVEL", "debug", 1);
	assert_int_equal(lc_cfg_load_file(&lc_cfg_system_table, path, &s, NULL,
					  err, sizeof(err)),
			 0);
	assert_string_equal(s.backup.backup_directory, "/srv/w/backup");
	assert_int_equal(s.database.port, 15432);
	assert_int_equal(s.log_level, LC_LOG_DEBUG);
	lc_cfg_release(&lc_cfg_system_table, &s);
	drain();
}

static void bad_int_names_file_line_key(void **state)
{
	(void)state;
	expect_error(&lc_cfg_system_table,
		     "# comment\n"
		     "system:\n"
		     "  capacity:\n"
		     "    max_strategies: 10\n"
		     "\n"
		     "  monitoring:\n"
		     "    strategy_status_interval: 30\n"
		     "    # the next one is wrong\n"
		     "    gateway_health_interval: 60\n"
		     "    capacity_interval: 300\n"
		     "    proxy_health_interval: 3600\n"
		     "    system_status_interval: abc\n",
		     "@:12: system.monitoring.system_status_interval: "
		     "expected a positive integer, got \"abc\"");
	expect_error(&lc_cfg_system_table,
		     "system:\n  monitoring:\n    system_status_interval: 0\n",
		     "@:3: system.monitoring.system_status_interval: must be "
		     "between 1 and 86400, got 0");
	expect_error(&lc_cfg_system_table,
		     "system:\n  capacity:\n    alert_threshold: 101\n",
		     "@:3: system.capacity.alert_threshold: must be between "
		     "0 and 100, got 101");
	expect_error(&lc_cfg_system_table,
		     "system:\n  gateway:\n"
		     "    trusted_proxies: [10.0.0.0/8, nginx]\n",
		     "@:3: system.gateway.trusted_proxies: expected an "
		     "address or range such as 10.0.0.0/8, got \"nginx\"");
}

static void unknown_key_is_an_error(void **state)
{
	(void)state;
	expect_error(&lc_cfg_system_table,
		     "system:\n"
		     "  monitoring:\n"
		     "    system_status_interval: 30\n"
		     "    strategy_status_interval: 30\n"
		     "    gateway_health_interval: 60\n"
		     "    capacity_interval: 300\n"
		     "    sytem_status_interval: 30\n",
		     "@:7: system.monitoring.sytem_status_interval: unknown "
		     "key");
	expect_error(&lc_cfg_system_table, "sytem:\n  ports: {}\n",
		     "@:1: sytem: unknown key");
	expect_error(&lc_cfg_proxy_table, "proxy:\n  proxies:\n    - id: 1\n"
		     "      url: http://h:3128\n      passwd: x\n",
		     "@:5: proxy.proxies[0].passwd: unknown key");
}

static void system_cross_checks(void **state)
{
	(void)state;
	expect_error(&lc_cfg_system_table,
		     "system:\n  ports:\n    base_port: 9000\n"
		     "    port_range_end: 8000\n",
		     "@:3: system.ports.base_port: must not be above "
		     "port_range_end (8000)");
	expect_error(&lc_cfg_system_table,
		     "system:\n  ports: {base_port: 9000}\n"
		     "  capacity: {max_strategies: 100}\n",
		     "@:3: system.capacity.max_strategies: 100 is more than "
		     "the 81 ports of system.ports");
	expect_error(&lc_cfg_system_table,
		     "system:\n  security:\n    jwt_secret_key: short\n",
		     "@:3: system.security.jwt_secret_key: must be at least "
		     "32 characters long (HS256 key), got 5");
	expect_error(&lc_cfg_system_table,
		     "system:\n  freqtrade:\n    command: []\n",
		     "@:3: system.freqtrade.command: must not be empty");
	expect_error(&lc_cfg_system_table,
		     "system:\n  logging: {level: verbose}\n",
		     "@:2: system.logging.level: expected one of debug, info, "
		     "warn, error; got \"verbose\"");
}

static const char channels_ok[] =
	"  channels:\n"
	"    - {name: sms, url: 'json://sms.example/send'}\n"
	"    - {name: feishu, url: 'feishu://t0ken'}\n"
	"    - {name: wechat, url: ''}\n"
	"    - {name: email, url: 'mailtos://u:p@mail.example', "
	"enabled: false}\n";

static void notifications_parse(void **state)
{
	(void)state;
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "notifications:\n"
		 "  time_slots:\n"
		 "    timezone: Asia/Shanghai\n"
		 "    rest_hours: {start_time: \"22:30\", end_time: \"07:00\","
		 " enabled_priorities: [P0, P1]}\n"
		 "  priorities:\n"
		 "    P2: {channels: [email, sms]}\n"
		 "%s",
		 channels_ok);
	struct lc_cfg_notifications n;
	assert_int_equal(lc_cfg_load_string(&lc_cfg_notifications_table, "n",
					    yaml, &n, NULL, err, sizeof(err)),
			 0);
	assert_string_equal(n.time_slots.timezone, "Asia/Shanghai");
	assert_int_equal(n.time_slots.rest_hours.start_time, 22 * 60 + 30);
	assert_int_equal(n.time_slots.rest_hours.end_time, 7 * 60);
	assert_int_equal(n.time_slots.rest_hours.enabled_priorities.n, 2);
	assert_int_equal(n.time_slots.work_hours.start_time, 9 * 60);
	assert_int_equal(n.priorities[LC_CFG_P0].delay_seconds, 0);
	assert_int_equal(n.priorities[LC_CFG_P1].delay_seconds, 60);
	assert_int_equal(n.priorities[LC_CFG_P2].channels.n, 2);
	assert_string_equal(n.priorities[LC_CFG_P2].channels.v[1], "sms");
	assert_int_equal(n.rate_limiting.global_max_per_minute, 5);
	assert_int_equal(n.templates.signal_template, LC_CFG_TPL_SIMPLE);
	assert_int_equal(n.channels.n, 4);
	const struct lc_cfg_channel *ch = n.channels.items;
	assert_string_equal(ch[1].name, "feishu");
	assert_string_equal(ch[1].url, "feishu://t0ken");
	assert_true(ch[1].enabled);
	assert_false(ch[3].enabled);
	lc_cfg_release(&lc_cfg_notifications_table, &n);
}

static void notifications_errors(void **state)
{
	(void)state;
	char yaml[2048];
	expect_error(&lc_cfg_notifications_table,
		     "notifications:\n  time_slots:\n    work_hours:\n"
		     "      enabled_priorities: [P0, P3]\n",
		     "@:4: notifications.time_slots.work_hours."
		     "enabled_priorities[1]: expected one of P0, P1, P2; got "
		     "\"P3\"");
	expect_error(&lc_cfg_notifications_table,
		     "notifications:\n  priorities:\n    P3: {}\n",
		     "@:3: notifications.priorities.P3: unknown key");
	expect_error(&lc_cfg_notifications_table,
		     "notifications:\n  priorities:\n"
		     "    P1:\n      channels: [feishu, feishhu]\n",
		     "@:4: notifications.priorities.P1.channels[1]: no "
		     "channel named \"feishhu\" in notifications.channels");
	expect_error(&lc_cfg_notifications_table,
		     "notifications:\n  time_slots:\n"
		     "    rest_hours: {end_time: \"18:00\"}\n",
		     "@:3: notifications.time_slots.rest_hours.end_time: "
		     "equals start_time (an empty slot)");
	expect_error(&lc_cfg_notifications_table,
		     "notifications:\n  templates:\n"
		     "    signal_template: custom\n",
		     "@: notifications.templates.custom_template: must be set "
		     "when signal_template is custom");
	snprintf(yaml, sizeof(yaml), "notifications:\n%s"
		 "    - name: sms\n      url: 'tgram://1:2/3'\n", channels_ok);
	expect_error(&lc_cfg_notifications_table, yaml,
		     "@:7: notifications.channels[4].name: channel \"sms\" is "
		     "defined twice");
	snprintf(yaml, sizeof(yaml), "notifications:\n%s"
		 "    - name: tg\n      url: 'not a url'\n", channels_ok);
	expect_error(&lc_cfg_notifications_table, yaml,
		     "@:8: notifications.channels[4].url: expected an "
		     "Apprise-style URL (scheme://…) or \"\"");
	snprintf(yaml, sizeof(yaml), "notifications:\n%s"
		 "    - url: 'tgram://1:2/3'\n", channels_ok);
	expect_error(&lc_cfg_notifications_table, yaml,
		     "@:7: notifications.channels[4]: missing required key "
		     "'name'");
	snprintf(yaml, sizeof(yaml), "notifications:\n%s"
		 "    - {name: 'a b', url: ''}\n", channels_ok);
	expect_error(&lc_cfg_notifications_table, yaml,
		     "@:7: notifications.channels[4].name: expected a name of "
		     "letters, digits, '_' and '-', got \"a b\"");
}

static void proxy_list(void **state)
{
	(void)state;
	const char *yaml = "proxy:\n"
			   "  proxies:\n"
			   "    - id: 1\n"
			   "      url: socks5://127.0.0.1:1080\n"
			   "    - id: 2\n"
			   "      name: tokyo\n"
			   "      url: http://u:pw12345@[::1]:3128\n"
			   "      enabled: false\n";
	struct lc_cfg_proxy p;
	assert_int_equal(lc_cfg_load_string(&lc_cfg_proxy_table, "p", yaml, &p,
					    NULL, err, sizeof(err)),
			 0);
	assert_int_equal(p.proxies.n, 2);
	const struct lc_cfg_proxy_entry *e = p.proxies.items;
	assert_int_equal(e[0].id, 1);
	assert_true(e[0].enabled);
	assert_string_equal(e[0].name, "");
	assert_string_equal(e[1].name, "tokyo");
	assert_false(e[1].enabled);
	assert_int_equal(p.health_check.success_rate_threshold, 90);
	assert_int_equal(p.failover.recovery_success_count, 3);
	cJSON *root = cJSON_CreateObject();
	assert_int_equal(lc_cfg_dump(&lc_cfg_proxy_table, &p, root), 0);
	char *s = cJSON_PrintUnformatted(root);
	assert_non_null(strstr(s, "\"http://[redacted]@[::1]:3128\""));
	assert_null(strstr(s, "pw12345"));
	cJSON_free(s);
	cJSON_Delete(root);
	lc_cfg_release(&lc_cfg_proxy_table, &p);

	expect_error(&lc_cfg_proxy_table,
		     "proxy:\n  proxies:\n    - {id: 1, url: 'http://a:1'}\n"
		     "    - {id: 1, url: 'http://b:1'}\n",
		     "@:4: proxy.proxies[1].id: id 1 is used twice");
	expect_error(&lc_cfg_proxy_table,
		     "proxy:\n  proxies:\n    - id: 1\n"
		     "      url: ftp://user:secret@h:21\n",
		     "@:4: proxy.proxies[0].url: expected "
		     "socks5://[user:pass@]host:port or http://host:port");
	expect_error(&lc_cfg_proxy_table,
		     "proxy:\n  proxies:\n    - id: 0\n"
		     "      url: http://h:1\n",
		     "@:3: proxy.proxies[0].id: must be between 1 and "
		     "2147483647, got 0");
}

static void services_checks(void **state)
{
	(void)state;
	struct lc_cfg_services s;
	assert_int_equal(lc_cfg_load_string(&lc_cfg_services_table, "s", NULL,
					    &s, NULL, err, sizeof(err)),
			 0);
	assert_string_equal(s.svc[LC_CFG_SVC_SUPERVISOR].rpc,
			    "tcp://127.0.0.1:7101");
	assert_int_equal(s.svc[LC_CFG_SVC_GATEWAY].http_port, 7110);
	assert_int_equal(s.svc[LC_CFG_SVC_INGEST].http_port, 7120);
	assert_int_equal(s.svc[LC_CFG_SVC_BACKUP].admin_port, 7159);
	assert_int_equal(s.svc[LC_CFG_SVC_MONITOR].http_port, 0);
	assert_null(s.svc[LC_CFG_SVC_MONITOR].http_url);
	assert_int_equal(s.bus.max_message_bytes, 1048576);
	assert_int_equal(s.bus.rpc_timeout_ms, 5000);
	assert_string_equal(lc_cfg_service_name(LC_CFG_SVC_INGEST),
			    "signal-ingest");
	lc_cfg_release(&lc_cfg_services_table, &s);

	expect_error(&lc_cfg_services_table,
		     "services:\n  monitor:\n    admin_port: 7109\n",
		     "@:3: services.monitor.admin_port: port 7109 is also "
		     "used by services.ft-supervisor.admin_port");
	expect_error(&lc_cfg_services_table,
		     "services:\n  notifier:\n    rpc: tcp://127.0.0.1:7111\n",
		     "@:3: services.notifier.rpc: address also used by "
		     "gateway");
	expect_error(&lc_cfg_services_table,
		     "services:\n  notifier:\n    rpc: 127.0.0.1:7141\n",
		     "@:3: services.notifier.rpc: expected an nng URL such as "
		     "tcp://host:port or ipc:///path, got \"127.0.0.1:7141\"");
	/* in containers every service has its own host: same ports are fine */
	const char *yaml =
		"services:\n"
		"  ft-supervisor: {rpc: 'tcp://sup:7000',"
		" events: 'tcp://sup:7001', admin_port: 7002,"
		" bind_host: 0.0.0.0}\n"
		"  monitor: {rpc: 'tcp://mon:7000', events: 'tcp://mon:7001',"
		" admin_port: 7002}\n"
		"  backup: {rpc: 'ipc:///run/btcw/backup.ipc',"
		" events: 'ipc:///run/btcw/backup-ev.ipc'}\n";
	assert_int_equal(lc_cfg_load_string(&lc_cfg_services_table, "s", yaml,
					    &s, NULL, err, sizeof(err)),
			 0);
	lc_cfg_release(&lc_cfg_services_table, &s);

	/* with system.yml known, the port pool is off limits */
	struct lc_cfg_system sys;
	assert_int_equal(lc_cfg_load_string(&lc_cfg_system_table, "sys", NULL,
					    &sys, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(lc_cfg_load_string(&lc_cfg_services_table, "s",
					    "services:\n  gateway:\n"
					    "    http_port: 8090\n",
					    &s, &sys, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "s:3: services.gateway.http_port: port 8090 "
				 "is inside the strategy port pool "
				 "8081-9080 (system.ports)");
	lc_cfg_release(&lc_cfg_system_table, &sys);
}

static void listen_url(void **state)
{
	(void)state;
	char out[128];
	assert_int_equal(lc_cfg_listen_url("tcp://ft-supervisor:7101",
					   "0.0.0.0", out, sizeof(out)),
			 0);
	assert_string_equal(out, "tcp://0.0.0.0:7101");
	assert_int_equal(lc_cfg_listen_url("ws://gw:80/bus", "::", out,
					   sizeof(out)),
			 0);
	assert_string_equal(out, "ws://[::]:80/bus");
	assert_int_equal(lc_cfg_listen_url("ipc:///tmp/x.ipc", "0.0.0.0", out,
					   sizeof(out)),
			 0);
	assert_string_equal(out, "ipc:///tmp/x.ipc");
	assert_int_equal(lc_cfg_listen_url("tcp://h:1", "", out, sizeof(out)),
			 0);
	assert_string_equal(out, "tcp://h:1");
	assert_int_equal(lc_cfg_listen_url("tcp://h", "0.0.0.0", out,
					   sizeof(out)),
			 -1);
	assert_int_equal(lc_cfg_listen_url("tcp://host:7101", "0.0.0.0", out,
					   8),
			 -1);
}

static void system_dump_redacts_secrets(void **state)
{
	(void)state;
	setenv("BTCW_JWT_SECRET", "0123456789abcdef0123456789abcdef-jwt", 1);
	setenv("BTCW_NOTIFY_FEISHU_URL", "feishu://hook-t0ken-xyz", 1);
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
	struct lc_config *cfg;
	assert_int_equal(lc_cfg_load_dir(dir, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->system.security.jwt_secret_key,
			    "0123456789abcdef0123456789abcdef-jwt");
	cJSON *j = lc_cfg_dump_all(cfg);
	assert_non_null(j);
	char *s = cJSON_PrintUnformatted(j);
	assert_null(strstr(s, "0123456789abcdef"));
	assert_null(strstr(s, "hook-t0ken"));
	assert_non_null(strstr(s, "\"jwt_secret_key\":\"[redacted]\""));
	assert_non_null(strstr(s, "{\"name\":\"feishu\",\"url\":"
				  "\"[redacted]\",\"enabled\":true}"));
	assert_non_null(strstr(s, "{\"name\":\"sms\",\"url\":\"\","));
	assert_non_null(strstr(s, "\"system\":{\"monitoring\":"
				  "{\"system_status_interval\":30,"));
	assert_non_null(strstr(s, "\"services\":{\"bus\":"));
	assert_non_null(strstr(s, "\"start_time\":\"09:00\""));
	cJSON_free(s);
	cJSON_Delete(j);
	drain();
	log_info("test.leak", LF_S("x", "feishu://hook-t0ken-xyz"));
	assert_null(strstr(drain(), "t0ken"));
	lc_cfg_free(cfg);
	lc_cfg_free(NULL);
}

struct changes {
	int n;
	char paths[8][96];
};

static void on_change(const char *path, unsigned flags, void *arg)
{
	struct changes *c = arg;
	assert_true(flags & LC_CFG_RESTART_ONLY);
	if (c->n < 8)
		snprintf(c->paths[c->n], sizeof(c->paths[0]), "%s", path);
	c->n++;
}

static void reload_reports_restart_only_changes(void **state)
{
	(void)state;
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/reload", tmpdir);
	mkdir(dir, 0700);
	struct lc_config *old_cfg, *new_cfg;
	assert_int_equal(lc_cfg_load_dir(dir, &old_cfg, err, sizeof(err)), 0);
	put("reload/system.yml",
	    "system:\n"
	    "  monitoring: {system_status_interval: 10}\n"
	    "  ports: {base_port: 8082}\n"
	    "  database: {host: db.internal}\n");
	put("reload/proxy.yml",
	    "proxy:\n  proxies: [{id: 3, url: 'socks5://p:1080'}]\n");
	assert_int_equal(lc_cfg_load_dir(dir, &new_cfg, err, sizeof(err)), 0);
	/* the old one is untouched */
	assert_int_equal(old_cfg->system.ports.base_port, 8081);
	assert_int_equal(new_cfg->system.ports.base_port, 8082);
	struct changes c = { 0 };
	assert_int_equal(lc_cfg_diff_all(old_cfg, new_cfg,
					 LC_CFG_RESTART_ONLY, on_change, &c),
			 2);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.paths[0], "system.ports.base_port");
	assert_string_equal(c.paths[1], "system.database.host");
	assert_int_equal(lc_cfg_diff_all(old_cfg, new_cfg, 0, NULL, NULL), 4);
	assert_int_equal(lc_cfg_diff_all(old_cfg, old_cfg, 0, NULL, NULL), 0);

	/* a bad file: the whole load fails and names it */
	const char *bad = put("reload/services.yml",
			      "services:\n  gateway: {admin_port: x}\n");
	struct lc_config *none = (struct lc_config *)1;
	assert_int_equal(lc_cfg_load_dir(dir, &none, err, sizeof(err)), -1);
	assert_null(none);
	char want[700];
	snprintf(want, sizeof(want),
		 "%s:2: services.gateway.admin_port: expected a positive "
		 "integer, got \"x\"",
		 bad);
	assert_string_equal(err, want);
	lc_cfg_free(old_cfg);
	lc_cfg_free(new_cfg);
}

static void unreadable_file_is_an_error(void **state)
{
	(void)state;
	char path[600];
	snprintf(path, sizeof(path), "%s/adir.yml", tmpdir);
	mkdir(path, 0700);
	struct lc_cfg_proxy p;
	assert_int_equal(lc_cfg_load_file(&lc_cfg_proxy_table, path, &p, NULL,
					  err, sizeof(err)),
			 -1);
	char want[700];
	snprintf(want, sizeof(want), "cannot read '%s': Is a directory", path);
	assert_string_equal(err, want);
}

/* Every key says whether SIGHUP applies it; paths are unique. */
static void tables_are_consistent(void **state)
{
	(void)state;
	for (size_t t = 0; t < 4; t++) {
		const struct lc_cfg_table *tb = all_tables[t];
		for (size_t i = 0; i < tb->nkeys; i++) {
			const struct lc_cfg_key *k = &tb->keys[i];
			unsigned f = k->flags & (LC_CFG_RELOADABLE |
						 LC_CFG_RESTART_ONLY);
			if (f != LC_CFG_RELOADABLE && f != LC_CFG_RESTART_ONLY)
				fail_msg("%s: neither or both of RELOADABLE "
					 "and RESTART_ONLY",
					 k->path);
			if (strncmp(k->path, tb->name, strlen(tb->name)) != 0)
				fail_msg("%s: not under %s", k->path,
					 tb->name);
			if (k->type == LC_CFG_ENUM && !k->values)
				fail_msg("%s: enum without values", k->path);
			for (size_t j = 0; j < i; j++)
				if (strcmp(k->path, tb->keys[j].path) == 0)
					fail_msg("%s: listed twice", k->path);
		}
	}
}

/* config/ loads, and holds exactly the built-in defaults. */
static void repo_config_is_the_defaults(void **state)
{
	(void)state;
	struct lc_config *repo, *defaults;
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
	if (lc_cfg_load_dir("config", &repo, err, sizeof(err)) != 0)
		fail_msg("config/: %s", err);
	assert_string_equal(repo->dir, "config");
	assert_int_equal(lc_cfg_load_dir(dir, &defaults, err, sizeof(err)), 0);
	int n = lc_cfg_diff_all(repo, defaults, 0, NULL, NULL);
	if (n != 0) {
		cJSON *a = lc_cfg_dump_all(repo);
		cJSON *b = lc_cfg_dump_all(defaults);
		char *sa = cJSON_Print(a), *sb = cJSON_Print(b);
		print_error("config/:\n%s\ndefaults:\n%s\n", sa, sb);
		cJSON_free(sa);
		cJSON_free(sb);
		cJSON_Delete(a);
		cJSON_Delete(b);
		fail_msg("%d keys of config/ differ from the defaults", n);
	}
	/* and every file was there: no config.missing warning */
	drain();
	lc_cfg_free(repo);
	assert_int_equal(lc_cfg_load_dir("config/", &repo, err, sizeof(err)),
			 0);
	assert_null(strstr(drain(), "config.missing"));
	lc_cfg_free(repo);
	lc_cfg_free(defaults);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(engine_defaults, setup),
		cmocka_unit_test_setup(engine_every_type, setup),
		cmocka_unit_test_setup(engine_value_errors, setup),
		cmocka_unit_test_setup(engine_wrong_kinds, setup),
		cmocka_unit_test_setup(engine_structure_errors, setup),
		cmocka_unit_test_setup(engine_list_item_errors, setup),
		cmocka_unit_test_setup(engine_env, setup),
		cmocka_unit_test_setup(engine_dump_and_redaction, setup),
		cmocka_unit_test_setup(engine_diff, setup),
		cmocka_unit_test_setup(missing_file_gives_defaults_and_warns,
				       setup),
		cmocka_unit_test_setup(bad_int_names_file_line_key, setup),
		cmocka_unit_test_setup(unknown_key_is_an_error, setup),
		cmocka_unit_test_setup(system_cross_checks, setup),
		cmocka_unit_test_setup(notifications_parse, setup),
		cmocka_unit_test_setup(notifications_errors, setup),
		cmocka_unit_test_setup(proxy_list, setup),
		cmocka_unit_test_setup(services_checks, setup),
		cmocka_unit_test_setup(listen_url, setup),
		cmocka_unit_test_setup(system_dump_redacts_secrets, setup),
		cmocka_unit_test_setup(reload_reports_restart_only_changes,
				       setup),
		cmocka_unit_test_setup(unreadable_file_is_an_error, setup),
		cmocka_unit_test_setup(tables_are_consistent, setup),
		cmocka_unit_test_setup(repo_config_is_the_defaults, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
