/* BTC Watcher's config files: key tables, validators, load-all. */
#include "libcommon/cfg_schema.h"

#include "libcommon/net.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL .flags = LC_CFG_RELOADABLE
#define RS .flags = LC_CFG_RESTART_ONLY
#define RANGE(lo, hi) .imin = (lo), .imax = (hi)
#define DRANGE(lo, hi) .dmin = (lo), .dmax = (hi)
#define DAY (24 * 3600)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * One key: F is the C field, which is also the YAML path below the
 * file's root key unless a path is given (KEYP).
 */
#define KEYP(T, P, F, TY, D, ...)                                        \
	{ .path = (P), .type = LC_CFG_##TY, .offset = offsetof(T, F),     \
	  .def = (D), __VA_ARGS__ }
#define SYS(F, TY, D, ...) \
	KEYP(struct lc_cfg_system, "system." #F, F, TY, D, __VA_ARGS__)
#define NTF(F, TY, D, ...)                                               \
	KEYP(struct lc_cfg_notifications, "notifications." #F, F, TY, D, \
	     __VA_ARGS__)
#define PRX(F, TY, D, ...) \
	KEYP(struct lc_cfg_proxy, "proxy." #F, F, TY, D, __VA_ARGS__)

/* Directories default below $BTCW_DATA, as the local stack sets it. */
#define DATA "${BTCW_DATA:-/var/lib/btc-watcher}"

static const char *const log_levels[] = { "debug", "info", "warn",
					  "error", NULL };
static const char *const sslmodes[] = { "disable",   "allow",
					"prefer",    "require",
					"verify-ca", "verify-full", NULL };
static const char *const jwt_algorithms[] = { "HS256", NULL };
static const char *const priority_names[] = { "P0", "P1", "P2", NULL };
static const char *const templates[] = { "simple", "detailed", "custom",
					 NULL };

/* ---- URL helpers ---- */

static const char *str_of(const void *p)
{
	return *(char *const *)p;
}

/* "scheme" of scheme://rest if it is one of the NULL-ended list. */
static bool has_scheme(const char *url, const char *const *schemes)
{
	for (size_t i = 0; schemes[i]; i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) == 0 &&
		    strncmp(url + n, "://", 3) == 0)
			return true;
	}
	return false;
}

/*
 * Split scheme://host:port[/…] into host (out, hostlen bytes; brackets
 * of an IPv6 literal kept) and the port. Returns the port, or -1.
 */
static int url_host_port(const char *url, char *host, size_t hostlen)
{
	const char *p = strstr(url, "://");
	if (!p)
		return -1;
	p += 3;
	const char *at = strchr(p, '@');
	size_t auth = strcspn(p, "/?#");
	if (at && (size_t)(at - p) < auth) {
		auth -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	const char *end = p + auth;
	const char *colon = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == ':')
			colon = q;
	if (*p == '[' && colon && colon[-1] != ']')
		return -1;
	if (!colon || colon == p || (size_t)(colon - p) >= hostlen ||
	    end - colon < 2 || end - colon > 6)
		return -1;
	int port = 0;
	for (const char *q = colon + 1; q < end; q++) {
		if (!isdigit((unsigned char)*q))
			return -1;
		port = port * 10 + (*q - '0');
	}
	if (port < 1 || port > 65535)
		return -1;
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	return port;
}

static const char *const nng_net[] = { "tcp", "tcp4", "tcp6", "ws",
				       "wss", "tls+tcp", NULL };
static const char *const nng_local[] = { "ipc", "inproc", "abstract",
					 NULL };

static int check_nng_url(struct lc_cfg_ctx *ctx, const char *path,
			 const void *p)
{
	const char *u = str_of(p);
	char host[256];
	if (has_scheme(u, nng_net) &&
	    url_host_port(u, host, sizeof(host)) > 0)
		return 0;
	if (has_scheme(u, nng_local) && strstr(u, "://")[3])
		return 0;
	return lc_cfg_fail(ctx, path,
			   "expected an nng URL such as tcp://host:port or "
			   "ipc:///path, got \"%.80s\"",
			   u);
}

static int check_cidrs(struct lc_cfg_ctx *ctx, const char *path,
		       const void *p)
{
	const struct lc_cfg_strlist *l = p;
	for (size_t i = 0; i < l->n; i++)
		if (!lc_net_cidr_valid(l->v[i]))
			return lc_cfg_fail(ctx, path,
					   "expected an address or range such "
					   "as 10.0.0.0/8, got \"%.80s\"",
					   l->v[i]);
	return 0;
}

static int check_http_url(struct lc_cfg_ctx *ctx, const char *path,
			  const void *p)
{
	static const char *const web[] = { "http", "https", NULL };
	const char *u = str_of(p);
	if (has_scheme(u, web) && strstr(u, "://")[3] &&
	    strstr(u, "://")[3] != '/')
		return 0;
	return lc_cfg_fail(ctx, path,
			   "expected an http:// or https:// URL, got "
			   "\"%.80s\"",
			   u);
}

static int check_proxy_url(struct lc_cfg_ctx *ctx, const char *path,
			   const void *p)
{
	static const char *const ok[] = { "socks5", "socks5h", "socks4",
					  "socks4a", "http",    "https",
					  NULL };
	const char *u = str_of(p);
	char host[256];
	if (has_scheme(u, ok) && url_host_port(u, host, sizeof(host)) > 0)
		return 0;
	/* no value in the message: it may hold a password */
	return lc_cfg_fail(ctx, path,
			   "expected socks5://[user:pass@]host:port or "
			   "http://host:port");
}

/* Apprise style: scheme://…, or "" for a channel not configured. */
static int check_channel_url(struct lc_cfg_ctx *ctx, const char *path,
			     const void *p)
{
	const char *u = str_of(p);
	size_t n = strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
	if (!*u || (n > 0 && isalpha((unsigned char)u[0]) &&
		    strncmp(u + n, "://", 3) == 0 && u[n + 3]))
		return 0;
	return lc_cfg_fail(ctx, path,
			   "expected an Apprise-style URL (scheme://…) or "
			   "\"\"");
}

static int check_name(struct lc_cfg_ctx *ctx, const char *path,
		      const void *p)
{
	const char *s = str_of(p);
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
	if (n > 0 && n <= 64 && !s[n])
		return 0;
	return lc_cfg_fail(ctx, path,
			   "expected a name of letters, digits, '_' and "
			   "'-', got \"%.80s\"",
			   s);
}

static int check_timezone(struct lc_cfg_ctx *ctx, const char *path,
			  const void *p)
{
	const char *s = str_of(p);
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-/");
	if (n > 0 && !s[n] && s[0] != '/' && !strstr(s, ".."))
		return 0;
	return lc_cfg_fail(ctx, path,
			   "expected \"local\" or a time zone name such as "
			   "Asia/Shanghai, got \"%.80s\"",
			   s);
}

static int check_jwt_secret(struct lc_cfg_ctx *ctx, const char *path,
			    const void *p)
{
	size_t n = strlen(str_of(p));
	if (n == 0 || n >= 32)
		return 0;
	return lc_cfg_fail(ctx, path,
			   "must be at least 32 characters long (HS256 "
			   "key), got %zu",
			   n);
}

/* ---- system.yml ---- */

static int check_system(struct lc_cfg_ctx *ctx, const char *path,
			const void *p)
{
	const struct lc_cfg_system *s = p;
	(void)path;
	if (s->ports.base_port > s->ports.port_range_end)
		return lc_cfg_fail(ctx, "system.ports.base_port",
				   "must not be above port_range_end (%lld)",
				   (long long)s->ports.port_range_end);
	int64_t ports = s->ports.port_range_end - s->ports.base_port + 1;
	if (s->capacity.max_strategies > ports)
		return lc_cfg_fail(ctx, "system.capacity.max_strategies",
				   "%lld is more than the %lld ports of "
				   "system.ports",
				   (long long)s->capacity.max_strategies,
				   (long long)ports);
	if (s->capacity.alert_threshold > s->capacity.critical_threshold)
		return lc_cfg_fail(ctx, "system.capacity.alert_threshold",
				   "must not be above critical_threshold");
	const struct lc_cfg_sys_restart *r = &s->freqtrade.restart;
	if (r->backoff_base_ms > r->backoff_max_ms)
		return lc_cfg_fail(ctx,
				   "system.freqtrade.restart.backoff_base_ms",
				   "must not be above backoff_max_ms");
	if (s->performance.db_pool_min_size > s->performance.db_pool_max_size)
		return lc_cfg_fail(ctx,
				   "system.performance.db_pool_min_size",
				   "must not be above db_pool_max_size");
	return 0;
}

static const struct lc_cfg_key system_keys[] = {
	SYS(monitoring.system_status_interval, INT, "30", RANGE(1, DAY), RL),
	SYS(monitoring.strategy_status_interval, INT, "30", RANGE(1, DAY), RL),
	SYS(monitoring.gateway_health_interval, INT, "60", RANGE(1, DAY), RL),
	SYS(monitoring.capacity_interval, INT, "300", RANGE(1, DAY), RL),
	SYS(monitoring.proxy_health_interval, INT, "3600", RANGE(1, DAY), RL),
	SYS(monitoring.system_status_cache_ttl, INT, "30", RANGE(1, DAY), RL),
	SYS(monitoring.strategy_status_cache_ttl, INT, "30", RANGE(1, DAY),
	    RL),
	SYS(monitoring.gateway_health_cache_ttl, INT, "60", RANGE(1, DAY),
	    RL),
	SYS(monitoring.chart_data_cache_ttl, INT, "600", RANGE(1, DAY), RL),
	SYS(monitoring.capacity_history_days, INT, "7", RANGE(1, 366), RL),
	SYS(monitoring.bot_timeout_ms, INT, "5000", RANGE(100, 60000), RL),
	SYS(capacity.max_strategies, INT, "999", RANGE(1, 65535), RL),
	SYS(capacity.alert_threshold, INT, "80", RANGE(0, 100), RL),
	SYS(capacity.critical_threshold, INT, "90", RANGE(0, 100), RL),
	SYS(ports.base_port, INT, "8081", RANGE(1024, 65535), RS),
	SYS(ports.port_range_end, INT, "9080", RANGE(1024, 65535), RS),
	SYS(freqtrade.version, STRING, "2025.8", RL),
	SYS(freqtrade.command, STRLIST, "[ftsim]", .flags = LC_CFG_RELOADABLE |
						       LC_CFG_NONEMPTY),
	SYS(freqtrade.config_directory, STRING, DATA "/freqtrade/configs",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(freqtrade.user_data_directory, STRING, DATA "/freqtrade/user_data",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(freqtrade.strategies_directory, STRING,
	    DATA "/freqtrade/user_data/strategies",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(freqtrade.data_directory, STRING, DATA "/freqtrade/data",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(freqtrade.logs_directory, STRING, DATA "/logs/freqtrade",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(freqtrade.dry_run_wallet, DOUBLE, "1000", DRANGE(0, 1e12), RL),
	SYS(freqtrade.startup_timeout, INT, "60", RANGE(1, 3600), RL),
	SYS(freqtrade.shutdown_timeout, INT, "30", RANGE(1, 3600), RL),
	SYS(freqtrade.health_check_interval, INT, "30", RANGE(1, DAY), RL),
	SYS(freqtrade.restart.backoff_base_ms, INT, "1000",
	    RANGE(1000, 3600000), RL),
	SYS(freqtrade.restart.backoff_max_ms, INT, "60000",
	    RANGE(1000, 3600000), RL),
	SYS(freqtrade.restart.crash_loop_max_restarts, INT, "5",
	    RANGE(1, 1000), RL),
	SYS(freqtrade.restart.crash_loop_window, INT, "300", RANGE(1, DAY),
	    RL),
	SYS(database.dsn, STRING, "${BTCW_DATABASE_DSN:-}",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_SECRET),
	SYS(database.host, STRING, "127.0.0.1",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(database.port, INT, "${BTCW_PG_PORT:-5432}", RANGE(1, 65535), RS),
	SYS(database.user, STRING, "btcw",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(database.dbname, STRING, "btcw",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(database.password, STRING, "${BTCW_DATABASE_PASSWORD:-}",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_SECRET),
	SYS(database.sslmode, ENUM, "prefer", .values = sslmodes, RS),
	SYS(database.connect_timeout, INT, "10", RANGE(1, 3600), RS),
	SYS(redis.host, STRING, "127.0.0.1",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(redis.port, INT, "${BTCW_REDIS_PORT:-6379}", RANGE(1, 65535), RS),
	SYS(redis.password, STRING, "${BTCW_REDIS_PASSWORD:-}",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_SECRET),
	SYS(redis.db, INT, "0", RANGE(0, 255), RS),
	SYS(performance.db_pool_min_size, INT, "5", RANGE(1, 1000), RS),
	SYS(performance.db_pool_max_size, INT, "20", RANGE(1, 1000), RS),
	SYS(performance.db_command_timeout, INT, "60", RANGE(1, 3600), RL),
	SYS(performance.redis_max_connections, INT, "20", RANGE(1, 1000), RS),
	SYS(performance.redis_retry_attempts, INT, "3", RANGE(0, 100), RL),
	SYS(security.jwt_secret_key, STRING, "${BTCW_JWT_SECRET:-}",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_SECRET,
	    .validate = check_jwt_secret),
	SYS(security.jwt_expire_hours, INT, "24", RANGE(1, 24 * 366), RL),
	SYS(security.jwt_algorithm, ENUM, "HS256", .values = jwt_algorithms,
	    RL),
	SYS(security.max_login_attempts, INT, "5", RANGE(1, 1000), RL),
	SYS(security.lockout_duration_minutes, INT, "30", RANGE(1, 7 * 1440),
	    RL),
	SYS(security.min_password_length, INT, "8", RANGE(8, 1024), RL),
	SYS(security.require_special_chars, BOOL, "true", RL),
	SYS(gateway.proxy_timeout, INT, "30", RANGE(1, 3600), RL),
	SYS(gateway.health_threshold, INT, "80", RANGE(0, 100), RL),
	SYS(gateway.ws_auth_check_interval, INT, "10", RANGE(1, 3600), RL),
	SYS(gateway.trusted_proxies, STRLIST, "[127.0.0.0/8, \"::1\"]", RL,
	    .validate = check_cidrs),
	SYS(ingest.max_body_bytes, INT, "65536", RANGE(1024, 16777216), RL),
	SYS(ingest.spool_directory, STRING, DATA "/spool",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	SYS(ingest.spool_max_bytes, INT, "1073741824",
	    RANGE(1048576, INT64_MAX), RL),
	SYS(backup.auto_backup_enabled, BOOL, "true", RL),
	SYS(backup.backup_interval_hours, INT, "24", RANGE(1, 24 * 366), RL),
	SYS(backup.backup_retention_days, INT, "90", RANGE(1, 36600), RL),
	SYS(backup.backup_directory, STRING, DATA "/backup",
	    .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),
	KEYP(struct lc_cfg_system, "system.logging.level", log_level, ENUM,
	     "${BTCW_LOG_LEVEL:-info}", .values = log_levels, RL),
};

const struct lc_cfg_table lc_cfg_system_table = {
	"system", system_keys, COUNT(system_keys),
	sizeof(struct lc_cfg_system), check_system,
};

/* ---- notifications.yml ---- */

static const struct lc_cfg_key channel_keys[] = {
	KEYP(struct lc_cfg_channel, "name", name, STRING, NULL,
	     .flags = LC_CFG_REQUIRED, .validate = check_name),
	KEYP(struct lc_cfg_channel, "url", url, STRING, NULL,
	     .flags = LC_CFG_REQUIRED | LC_CFG_SECRET,
	     .validate = check_channel_url),
	KEYP(struct lc_cfg_channel, "enabled", enabled, BOOL, "true"),
};

static const struct lc_cfg_table channel_table = {
	"channel", channel_keys, COUNT(channel_keys),
	sizeof(struct lc_cfg_channel), NULL,
};

static bool channel_defined(const struct lc_cfg_notifications *n,
			    const char *name)
{
	const struct lc_cfg_channel *ch = n->channels.items;
	for (size_t i = 0; i < n->channels.n; i++)
		if (strcmp(ch[i].name, name) == 0)
			return true;
	return false;
}

/* Each name in l (at path) must be a channel of notifications.channels. */
static int check_refs(struct lc_cfg_ctx *ctx,
		      const struct lc_cfg_notifications *n, const char *path,
		      const struct lc_cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (channel_defined(n, l->v[i]))
			continue;
		char ipath[160];
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		return lc_cfg_fail(ctx, ipath,
				   "no channel named \"%.60s\" in "
				   "notifications.channels",
				   l->v[i]);
	}
	return 0;
}

static int check_notifications(struct lc_cfg_ctx *ctx, const char *path,
			       const void *p)
{
	const struct lc_cfg_notifications *n = p;
	const struct lc_cfg_channel *ch = n->channels.items;
	char ipath[160];
	(void)path;
	for (size_t i = 0; i < n->channels.n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ch[i].name, ch[j].name) != 0)
				continue;
			snprintf(ipath, sizeof(ipath),
				 "notifications.channels[%zu].name", i);
			return lc_cfg_fail(ctx, ipath,
					   "channel \"%s\" is defined twice",
					   ch[i].name);
		}
	}
	for (int i = 0; i < LC_CFG_NPRIO; i++) {
		snprintf(ipath, sizeof(ipath),
			 "notifications.priorities.%s.channels",
			 priority_names[i]);
		if (check_refs(ctx, n, ipath, &n->priorities[i].channels) != 0)
			return -1;
	}
	const struct lc_cfg_time_slot *slots[] = { &n->time_slots.work_hours,
						   &n->time_slots.rest_hours };
	static const char *const slot_names[] = { "work_hours", "rest_hours" };
	for (int i = 0; i < 2; i++) {
		snprintf(ipath, sizeof(ipath),
			 "notifications.time_slots.%s.enabled_channels",
			 slot_names[i]);
		if (check_refs(ctx, n, ipath, &slots[i]->enabled_channels))
			return -1;
		snprintf(ipath, sizeof(ipath),
			 "notifications.time_slots.%s.end_time",
			 slot_names[i]);
		if (slots[i]->start_time == slots[i]->end_time)
			return lc_cfg_fail(ctx, ipath,
					   "equals start_time (an empty "
					   "slot)");
	}
	if (n->delivery.retry_base_ms > n->delivery.retry_max_ms)
		return lc_cfg_fail(ctx, "notifications.delivery.retry_base_ms",
				   "must not be above retry_max_ms");
	if (n->templates.signal_template == LC_CFG_TPL_CUSTOM &&
	    !*n->templates.custom_template)
		return lc_cfg_fail(ctx,
				   "notifications.templates.custom_template",
				   "must be set when signal_template is "
				   "custom");
	return 0;
}

#define NTFP(I, F, TY, D, ...)                                            \
	KEYP(struct lc_cfg_notifications,                                  \
	     "notifications.priorities.P" #I "." #F, priorities[I].F, TY, D, \
	     __VA_ARGS__)
#define PRIO(I, NAME, DELAY, CHANNELS)                                    \
	NTFP(I, name, STRING, NAME, RL),                                   \
	NTFP(I, delay_seconds, INT, DELAY, RANGE(0, DAY), RL),             \
	NTFP(I, channels, STRLIST, CHANNELS,                               \
	     .flags = LC_CFG_RELOADABLE | LC_CFG_UNIQUE)
#define SLOT(F, FROM, TO, PRIOS, CHANNELS)                                \
	NTF(time_slots.F.start_time, TIME, FROM, RL),                      \
	NTF(time_slots.F.end_time, TIME, TO, RL),                          \
	NTF(time_slots.F.enabled_priorities, STRLIST, PRIOS,               \
	    .values = priority_names,                                      \
	    .flags = LC_CFG_RELOADABLE | LC_CFG_UNIQUE),                   \
	NTF(time_slots.F.enabled_channels, STRLIST, CHANNELS,              \
	    .flags = LC_CFG_RELOADABLE | LC_CFG_UNIQUE)
/* The channels named by the priorities, configured from the environment
 * when the file does not list its own. */
#define DEFAULT_CHANNELS                                                  \
	"[{name: sms, url: '${BTCW_NOTIFY_SMS_URL:-}'},"                  \
	" {name: feishu, url: '${BTCW_NOTIFY_FEISHU_URL:-}'},"            \
	" {name: wechat, url: '${BTCW_NOTIFY_WECHAT_URL:-}'},"            \
	" {name: email, url: '${BTCW_NOTIFY_EMAIL_URL:-}'}]"

static const struct lc_cfg_key notifications_keys[] = {
	NTF(rate_limiting.same_pair_interval, INT, "300", RANGE(0, DAY), RL),
	NTF(rate_limiting.global_max_per_minute, INT, "5", RANGE(1, 10000),
	    RL),
	NTF(rate_limiting.batch_interval, INT, "300", RANGE(1, DAY), RL),
	PRIO(0, "immediate", "0", "[sms, feishu, wechat]"),
	PRIO(1, "within a minute", "60", "[feishu, wechat, email]"),
	PRIO(2, "batched", "300", "[email]"),
	NTF(time_slots.timezone, STRING, "local", RL,
	    .validate = check_timezone),
	SLOT(work_hours, "09:00", "18:00", "[P0, P1, P2]",
	     "[sms, feishu, wechat, email]"),
	SLOT(rest_hours, "18:00", "09:00", "[P0]", "[sms]"),
	NTF(templates.signal_template, ENUM, "simple", .values = templates,
	    RL),
	NTF(templates.custom_template, STRING, "", RL),
	NTF(templates.include_indicators, BOOL, "true", RL),
	NTF(templates.include_chart_link, BOOL, "true", RL),
	NTF(templates.dashboard_url, STRING,
	    "http://127.0.0.1:${BTCW_HTTP_PORT:-8000}", RL,
	    .validate = check_http_url),
	NTF(delivery.max_attempts, INT, "8", RANGE(1, 100), RL),
	NTF(delivery.retry_base_ms, INT, "1000", RANGE(100, 3600000), RL),
	NTF(delivery.retry_max_ms, INT, "300000", RANGE(100, 86400000), RL),
	NTF(delivery.timeout_ms, INT, "10000", RANGE(100, 600000), RL),
	NTF(delivery.breaker_failures, INT, "5", RANGE(1, 1000), RL),
	NTF(delivery.breaker_reset_ms, INT, "60000", RANGE(100, 86400000),
	    RL),
	NTF(channels, LIST, DEFAULT_CHANNELS, .sub = &channel_table, RL),
};

const struct lc_cfg_table lc_cfg_notifications_table = {
	"notifications", notifications_keys, COUNT(notifications_keys),
	sizeof(struct lc_cfg_notifications), check_notifications,
};

/* ---- proxy.yml ---- */

static const struct lc_cfg_key proxy_entry_keys[] = {
	KEYP(struct lc_cfg_proxy_entry, "id", id, INT, NULL,
	     RANGE(1, INT32_MAX), .flags = LC_CFG_REQUIRED),
	KEYP(struct lc_cfg_proxy_entry, "name", name, STRING, ""),
	KEYP(struct lc_cfg_proxy_entry, "url", url, STRING, NULL,
	     .flags = LC_CFG_REQUIRED | LC_CFG_SECRET_USERINFO,
	     .validate = check_proxy_url),
	KEYP(struct lc_cfg_proxy_entry, "enabled", enabled, BOOL, "true"),
};

static const struct lc_cfg_table proxy_entry_table = {
	"proxy", proxy_entry_keys, COUNT(proxy_entry_keys),
	sizeof(struct lc_cfg_proxy_entry), NULL,
};

static int check_proxy(struct lc_cfg_ctx *ctx, const char *path,
		       const void *p)
{
	const struct lc_cfg_proxy *x = p;
	const struct lc_cfg_proxy_entry *e = x->proxies.items;
	(void)path;
	for (size_t i = 0; i < x->proxies.n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (e[i].id != e[j].id)
				continue;
			char ipath[64];
			snprintf(ipath, sizeof(ipath), "proxy.proxies[%zu].id",
				 i);
			return lc_cfg_fail(ctx, ipath,
					   "id %lld is used twice",
					   (long long)e[i].id);
		}
	}
	return 0;
}

static const struct lc_cfg_key proxy_keys[] = {
	PRX(health_check.success_rate_threshold, INT, "90", RANGE(0, 100), RL),
	PRX(health_check.max_latency_ms, INT, "500", RANGE(1, 600000), RL),
	PRX(health_check.max_consecutive_failures, INT, "3", RANGE(1, 1000),
	    RL),
	PRX(health_check.test_url, STRING,
	    "https://api.binance.com/api/v3/ping", RL,
	    .validate = check_http_url),
	PRX(health_check.timeout_ms, INT, "10000", RANGE(100, 600000), RL),
	PRX(failover.enable_direct_connection, BOOL, "true", RL),
	PRX(failover.auto_recovery_check_interval, INT, "600", RANGE(1, DAY),
	    RL),
	PRX(failover.recovery_success_count, INT, "3", RANGE(1, 1000), RL),
	PRX(monitoring.metrics_retention_hours, INT, "24", RANGE(1, 24 * 366),
	    RL),
	PRX(monitoring.alert_on_degradation, BOOL, "true", RL),
	PRX(monitoring.latency_spike_threshold, INT, "200", RANGE(1, 100000),
	    RL),
	PRX(proxies, LIST, NULL, .sub = &proxy_entry_table, RL),
};

const struct lc_cfg_table lc_cfg_proxy_table = {
	"proxy", proxy_keys, COUNT(proxy_keys), sizeof(struct lc_cfg_proxy),
	check_proxy,
};

/* ---- services.yml ---- */

static const char *const service_names[LC_CFG_NSVC] = {
	"ft-supervisor", "gateway", "signal-ingest",
	"monitor",       "notifier", "backup",
};

const char *lc_cfg_service_name(enum lc_cfg_service_id id)
{
	return (unsigned)id < LC_CFG_NSVC ? service_names[id] : "?";
}

struct listener {
	const char *host; /* the service's host: its rpc URL's */
	int64_t port;
	char path[64];
};

static void add_listener(struct listener *l, size_t *n, const char *host,
			 int64_t port, int svc, const char *key)
{
	l[*n].host = host;
	l[*n].port = port;
	snprintf(l[*n].path, sizeof(l[*n].path), "services.%s.%s",
		 service_names[svc], key);
	(*n)++;
}

/*
 * No two listeners of services on the same host (the host of their rpc
 * URLs) share a port, and none on the supervisor's host lies inside the
 * strategy port pool (when system.yml is known, as in lc_cfg_load_dir).
 */
static int check_services(struct lc_cfg_ctx *ctx, const char *path,
			  const void *p)
{
	const struct lc_cfg_services *s = p;
	const struct lc_cfg_system *sys = lc_cfg_user(ctx);
	char hosts[LC_CFG_NSVC][256], other[256];
	struct listener l[LC_CFG_NSVC * 4];
	size_t n = 0;
	(void)path;
	for (int i = 0; i < LC_CFG_NSVC; i++) {
		const struct lc_cfg_service *v = &s->svc[i];
		if (url_host_port(v->rpc, hosts[i], sizeof(hosts[i])) < 0)
			hosts[i][0] = '\0'; /* ipc://: this machine */
		add_listener(l, &n, hosts[i], v->admin_port, i, "admin_port");
		if (v->http_port)
			add_listener(l, &n, hosts[i], v->http_port, i,
				     "http_port");
		int port = url_host_port(v->rpc, other, sizeof(other));
		if (port > 0)
			add_listener(l, &n, hosts[i], port, i, "rpc");
		port = url_host_port(v->events, other, sizeof(other));
		if (port > 0)
			add_listener(l, &n, hosts[i], port, i, "events");
		for (int j = 0; j < i; j++) {
			const struct lc_cfg_service *w = &s->svc[j];
			const char *dup =
				!strcmp(v->rpc, w->rpc) ||
						!strcmp(v->rpc, w->events)
					? "rpc"
				: !strcmp(v->events, w->rpc) ||
						!strcmp(v->events, w->events)
					? "events"
					: NULL;
			if (dup) {
				snprintf(other, sizeof(other),
					 "services.%s.%s", service_names[i],
					 dup);
				return lc_cfg_fail(ctx, other,
						   "address also used by %s",
						   service_names[j]);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (l[i].port == l[j].port &&
			    strcmp(l[i].host, l[j].host) == 0)
				return lc_cfg_fail(ctx, l[i].path,
						   "port %lld is also used by "
						   "%s",
						   (long long)l[i].port,
						   l[j].path);
		if (sys && strcmp(l[i].host, hosts[0]) == 0 &&
		    l[i].port >= sys->ports.base_port &&
		    l[i].port <= sys->ports.port_range_end)
			return lc_cfg_fail(ctx, l[i].path,
					   "port %lld is inside the strategy "
					   "port pool %lld-%lld "
					   "(system.ports)",
					   (long long)l[i].port,
					   (long long)sys->ports.base_port,
					   (long long)
						   sys->ports.port_range_end);
	}
	return 0;
}

#define SVCK(I, F, TY, D, ...)                                            \
	KEYP(struct lc_cfg_services, "services." SVC##I "." #F, svc[I].F, \
	     TY, D, __VA_ARGS__)
#define SVC0 "ft-supervisor"
#define SVC1 "gateway"
#define SVC2 "signal-ingest"
#define SVC3 "monitor"
#define SVC4 "notifier"
#define SVC5 "backup"
/* Service I: rpc 71I1, events 71I2, admin 71I9 (see config/README.md). */
#define SERVICE(I)                                                         \
	SVCK(I, bind_host, STRING, "127.0.0.1",                            \
	     .flags = LC_CFG_RESTART_ONLY | LC_CFG_NONEMPTY),              \
	SVCK(I, rpc, STRING, "tcp://127.0.0.1:71" #I "1", RS,              \
	     .validate = check_nng_url),                                   \
	SVCK(I, events, STRING, "tcp://127.0.0.1:71" #I "2", RS,           \
	     .validate = check_nng_url),                                   \
	SVCK(I, admin_port, INT, "71" #I "9", RANGE(1, 65535), RS)
#define HTTP(I, PORT)                                                      \
	SVCK(I, http_port, INT, PORT, RANGE(1, 65535), RS),                \
	SVCK(I, http_url, STRING, "http://127.0.0.1:" PORT, RS,            \
	     .validate = check_http_url)

static const struct lc_cfg_key services_keys[] = {
	KEYP(struct lc_cfg_services, "services.bus.max_message_bytes",
	     bus.max_message_bytes, INT, "1048576", RANGE(1024, 67108864), RS),
	KEYP(struct lc_cfg_services, "services.bus.rpc_timeout_ms",
	     bus.rpc_timeout_ms, INT, "5000", RANGE(100, 600000), RL),
	SERVICE(0),
	SERVICE(1),
	HTTP(1, "7110"),
	SERVICE(2),
	HTTP(2, "7120"),
	SERVICE(3),
	SERVICE(4),
	SERVICE(5),
};

const struct lc_cfg_table lc_cfg_services_table = {
	"services", services_keys, COUNT(services_keys),
	sizeof(struct lc_cfg_services), check_services,
};

int lc_cfg_listen_url(const char *url, const char *bind_host, char *out,
		      size_t outlen)
{
	char host[256];
	int n;
	if (!bind_host || !*bind_host || !has_scheme(url, nng_net)) {
		n = snprintf(out, outlen, "%s", url);
	} else {
		int port = url_host_port(url, host, sizeof(host));
		if (port < 0)
			return -1;
		const char *sep = strstr(url, "://");
		const char *rest = sep + 3 + strcspn(sep + 3, "/?#");
		bool v6 = strchr(bind_host, ':') && bind_host[0] != '[';
		n = snprintf(out, outlen, "%.*s://%s%s%s:%d%s",
			     (int)(sep - url), url, v6 ? "[" : "", bind_host,
			     v6 ? "]" : "", port, rest);
	}
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- all four files ---- */

static const struct {
	const char *file;
	const struct lc_cfg_table *table;
	size_t offset;
} files[] = {
	{ "system.yml", &lc_cfg_system_table,
	  offsetof(struct lc_config, system) },
	{ "notifications.yml", &lc_cfg_notifications_table,
	  offsetof(struct lc_config, notifications) },
	{ "proxy.yml", &lc_cfg_proxy_table,
	  offsetof(struct lc_config, proxy) },
	{ "services.yml", &lc_cfg_services_table,
	  offsetof(struct lc_config, services) },
};

int lc_cfg_load_dir(const char *dir, struct lc_config **out, char *err,
		    size_t errlen)
{
	*out = NULL;
	struct lc_config *c = calloc(1, sizeof(*c));
	char *copy = strdup(dir);
	if (!c || !copy) {
		free(c);
		free(copy);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->dir = copy;
	size_t len = strlen(dir);
	const char *sep = len && dir[len - 1] == '/' ? "" : "/";
	for (size_t i = 0; i < COUNT(files); i++) {
		char path[4096];
		int n = snprintf(path, sizeof(path), "%s%s%s", dir, sep,
				 files[i].file);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			snprintf(err, errlen,
				 "config directory name too long");
			goto fail;
		}
		/* services.yml is checked against system.yml's port pool */
		if (lc_cfg_load_file(files[i].table, path,
				     (char *)c + files[i].offset, &c->system,
				     err, errlen) != 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	lc_cfg_free(c);
	return -1;
}

void lc_cfg_free(struct lc_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < COUNT(files); i++)
		lc_cfg_release(files[i].table, (char *)cfg + files[i].offset);
	free(cfg->dir);
	free(cfg);
}

int lc_cfg_diff_all(const struct lc_config *old_cfg,
		    const struct lc_config *new_cfg, unsigned mask,
		    lc_cfg_diff_fn fn, void *arg)
{
	int n = 0;
	for (size_t i = 0; i < COUNT(files); i++)
		n += lc_cfg_diff(files[i].table,
				 (const char *)old_cfg + files[i].offset,
				 (const char *)new_cfg + files[i].offset, mask,
				 fn, arg);
	return n;
}

struct cJSON *lc_cfg_dump_all(const struct lc_config *cfg)
{
	cJSON *root = cJSON_CreateObject();
	for (size_t i = 0; root && i < COUNT(files); i++) {
		if (lc_cfg_dump(files[i].table,
				(const char *)cfg + files[i].offset,
				root) != 0) {
			cJSON_Delete(root);
			return NULL;
		}
	}
	return root;
}
