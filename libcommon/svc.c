/* The service kit: common start-up, config reload, shutdown. */
#include "libcommon/svc.h"

#include "libcommon/admin.h"
#include "libcommon/buf.h"
#include "libcommon/bus.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/migrate.h"
#include "libcommon/redis.h"
#include "proto/btcw_proto.h"

#include "libcommon/clock.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIGRATE_WAIT_MS 60000 /* a database that is still starting */

/* The files of a config folder, in the order of lc_svc.cfg_missing. */
static const char *const cfg_files[] = { "system.yml", "notifications.yml",
					 "proxy.yml", "services.yml" };
#define NCFG_FILES (sizeof(cfg_files) / sizeof(cfg_files[0]))

/* Each service's prefix in method names (proto/README.md). */
static const char *const prefixes[LC_CFG_NSVC] = {
	[LC_CFG_SVC_SUPERVISOR] = "supervisor",
	[LC_CFG_SVC_GATEWAY] = "gateway",
	[LC_CFG_SVC_INGEST] = "ingest",
	[LC_CFG_SVC_MONITOR] = "monitor",
	[LC_CFG_SVC_NOTIFIER] = "notifier",
	[LC_CFG_SVC_BACKUP] = "backup",
};

static void die(int code, const char *event, const char *detail)
{
	log_error(event, LF_S("error", detail));
	exit(code);
}

const struct lc_cfg_service *lc_svc_self(const struct lc_svc *s)
{
	return &s->cfg->services.svc[s->id];
}

/* Append " key='value'" with libpq's quoting (backslash and quote). */
static int conninfo_kv(struct lc_buf *b, const char *key, const char *v)
{
	if (!v || !*v)
		return 0;
	if (lc_buf_printf(b, "%s%s='", b->len ? " " : "", key) != 0)
		return -1;
	for (; *v; v++) {
		if ((*v == '\\' || *v == '\'') && lc_buf_append(b, "\\", 1))
			return -1;
		if (lc_buf_append(b, v, 1) != 0)
			return -1;
	}
	return lc_buf_append(b, "'", 1);
}

int lc_svc_conninfo(const struct lc_cfg_sys_database *db, char *out,
		    size_t outlen)
{
	static const char *const ssl[] = { "disable", "allow", "prefer",
					   "require", "verify-ca",
					   "verify-full" };
	if (db->dsn && *db->dsn) {
		int n = snprintf(out, outlen, "%s", db->dsn);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	char port[24], timeout[24];
	snprintf(port, sizeof(port), "%lld", (long long)db->port);
	snprintf(timeout, sizeof(timeout), "%lld",
		 (long long)db->connect_timeout);
	struct lc_buf b;
	lc_buf_init(&b, outlen - 1);
	int rv = conninfo_kv(&b, "host", db->host);
	rv |= conninfo_kv(&b, "port", port);
	rv |= conninfo_kv(&b, "user", db->user);
	rv |= conninfo_kv(&b, "dbname", db->dbname);
	rv |= conninfo_kv(&b, "password", db->password);
	if (db->sslmode >= 0 &&
	    db->sslmode < (int)(sizeof(ssl) / sizeof(*ssl)))
		rv |= conninfo_kv(&b, "sslmode", ssl[db->sslmode]);
	if (db->connect_timeout > 0)
		rv |= conninfo_kv(&b, "connect_timeout", timeout);
	if (rv == 0)
		memcpy(out, b.data ? b.data : "", b.len + 1);
	lc_buf_release(&b);
	return rv == 0 ? 0 : -1;
}

/* ---- config reload ---- */

/* Which config files are absent (their defaults are in force). */
static unsigned missing_files(const char *dir)
{
	unsigned mask = 0;
	char path[4200];
	for (size_t i = 0; i < NCFG_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cfg_files[i]);
		if (access(path, F_OK) != 0)
			mask |= 1u << i;
	}
	return mask;
}

static void add_key(const char *path, unsigned flags, void *arg)
{
	(void)flags;
	cJSON_AddItemToArray(arg, cJSON_CreateString(path));
}

static void warn_restart_key(const char *path, unsigned flags, void *arg)
{
	log_warn("config.restart_required", LF_S("key", path));
	add_key(path, flags, arg);
}

static void apply_log_level(const struct lc_config *cfg)
{
	lc_log_set_level((enum lc_log_level)cfg->system.log_level);
}

/* Load, validate, swap. 0 with the changed and restart-only keys added
 * to the arrays, or -1 with the reason in err and the old config still
 * in force. */
static int reload(struct lc_svc *s, cJSON *changed, cJSON *restart,
		  char *err, size_t errlen)
{
	struct lc_config *fresh = NULL;
	if (lc_cfg_load_dir(s->d.config_dir, &fresh, err, errlen) != 0) {
		log_error("config.reload_failed", LF_S("error", err),
			  LF_S("kept", "previous config"));
		return -1;
	}
	lc_cfg_diff_all(s->cfg, fresh, 0, add_key, changed);
	lc_cfg_diff_all(s->cfg, fresh, LC_CFG_RESTART_ONLY, warn_restart_key,
			restart);
	struct lc_config *old = s->cfg;
	s->cfg = fresh;
	s->cfg_loaded_ms = lc_clock_wall_ms();
	s->cfg_missing = missing_files(s->d.config_dir);
	apply_log_level(fresh);
	if (s->on_reload)
		s->on_reload(s, old, s->arg);
	lc_cfg_free(old);
	log_info("config.reloaded", LF_S("dir", s->d.config_dir));
	return 0;
}

static void on_sighup(struct lc_daemon *d, void *arg)
{
	(void)d;
	char err[1024];
	cJSON *changed = cJSON_CreateArray(), *restart = cJSON_CreateArray();
	(void)reload(arg, changed, restart, err, sizeof(err));
	cJSON_Delete(changed);
	cJSON_Delete(restart);
}

static void add_time(cJSON *obj, const char *name, int64_t wall_ms)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	cJSON_AddStringToObject(obj, name, lc_clock_rfc3339(ts, wall_ms));
}

static void rpc_config_show(struct lc_bus_req *req, cJSON *params, void *arg)
{
	(void)params;
	struct lc_svc *s = arg;
	cJSON *res = cJSON_CreateObject();
	cJSON *dump = lc_cfg_dump_all(s->cfg);
	cJSON *sources = cJSON_CreateArray();
	char path[4200];
	for (size_t i = 0; i < NCFG_FILES; i++) {
		cJSON *src = cJSON_CreateObject();
		snprintf(path, sizeof(path), "%s/%s", s->d.config_dir,
			 cfg_files[i]);
		cJSON_AddStringToObject(src, "path", path);
		cJSON_AddStringToObject(src, "status",
					s->cfg_missing & (1u << i) ? "missing"
								   : "loaded");
		cJSON_AddItemToArray(sources, src);
	}
	cJSON_AddStringToObject(res, "service", prefixes[s->id]);
	cJSON_AddItemToObject(res, "config", dump ? dump : cJSON_CreateNull());
	cJSON_AddItemToObject(res, "sources", sources);
	add_time(res, "loaded_at", s->cfg_loaded_ms);
	lc_bus_reply_ok(req, res);
}

/* {file, line, key} from "FILE:LINE: KEY: message", or NULL. */
static cJSON *error_details(const char *err)
{
	for (const char *p = strchr(err, ':'); p; p = strchr(p + 1, ':')) {
		const char *q = p + 1;
		while (isdigit((unsigned char)*q))
			q++;
		if (q == p + 1 || strncmp(q, ": ", 2) != 0)
			continue;
		const char *key = q + 2, *end = strstr(key, ": ");
		char *file = strndup(err, (size_t)(p - err));
		char *k = strndup(key, end ? (size_t)(end - key) : 0);
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "file", file ? file : "");
		cJSON_AddNumberToObject(d, "line", strtol(p + 1, NULL, 10));
		if (k && *k)
			cJSON_AddStringToObject(d, "key", k);
		free(file);
		free(k);
		return d;
	}
	return NULL;
}

static void rpc_config_reload(struct lc_bus_req *req, cJSON *params,
			      void *arg)
{
	(void)params;
	struct lc_svc *s = arg;
	char err[1024];
	cJSON *changed = cJSON_CreateArray(), *restart = cJSON_CreateArray();
	if (reload(s, changed, restart, err, sizeof(err)) != 0) {
		cJSON_Delete(changed);
		cJSON_Delete(restart);
		cJSON *details = error_details(err);
		if (details)
			lc_bus_reply_err_details(req, "invalid", details, "%s",
						 err);
		else
			lc_bus_reply_err(req, "invalid", "%s", err);
		return;
	}
	cJSON *res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "service", prefixes[s->id]);
	add_time(res, "reloaded_at", s->cfg_loaded_ms);
	cJSON_AddItemToObject(res, "changed_keys", changed);
	cJSON_AddItemToObject(res, "restart_required_keys", restart);
	lc_bus_reply_ok(req, res);
}

/* ---- readiness checks ---- */

static bool db_check(void *arg, char *detail, size_t n)
{
	if (lc_db_ready(arg))
		return true;
	snprintf(detail, n, "no connection to the database");
	return false;
}

static bool redis_check(void *arg, char *detail, size_t n)
{
	if (lc_redis_ready(arg))
		return true;
	snprintf(detail, n, "no connection to redis");
	return false;
}

/* ---- start-up steps ---- */

/* --check-config: the effective configuration (defaults filled in,
 * ${ENV} expanded, secrets hidden) on stdout, for operators and for
 * scripts/stack, which reads the daemons' ports from it. */
static void print_config_and_exit(struct lc_svc *s)
{
	cJSON *dump = lc_cfg_dump_all(s->cfg);
	char *text = dump ? cJSON_Print(dump) : NULL;
	cJSON_Delete(dump);
	if (!text)
		die(LC_EXIT_SYSTEM, "config.dump_failed", "out of memory");
	int ok = puts(text) >= 0 && fflush(stdout) == 0;
	cJSON_free(text);
	lc_svc_release(s);
	exit(ok ? LC_EXIT_OK : LC_EXIT_SYSTEM);
}

static void open_config(struct lc_svc *s)
{
	char err[1024];
	if (lc_cfg_load_dir(s->d.config_dir, &s->cfg, err, sizeof(err)) != 0)
		die(LC_EXIT_USAGE, "config.invalid", err);
	s->cfg_loaded_ms = lc_clock_wall_ms();
	s->cfg_missing = missing_files(s->d.config_dir);
	apply_log_level(s->cfg);
	if (s->d.check_config)
		print_config_and_exit(s);
}

static void open_admin(struct lc_svc *s)
{
	char err[512];
	const struct lc_cfg_service *me = lc_svc_self(s);
	s->metrics = lc_metrics_new();
	if (!s->metrics)
		die(LC_EXIT_SYSTEM, "metrics.create_failed", "out of memory");
	s->admin = lc_admin_new(s->d.base, s->d.name, s->d.version,
				me->bind_host, (int)me->admin_port, s->metrics,
				err, sizeof(err));
	if (!s->admin)
		die(LC_EXIT_SYSTEM, "admin.listen_failed", err);
}

static void open_bus(struct lc_svc *s)
{
	char err[512], url[512];
	const struct lc_cfg_service *me = lc_svc_self(s);
	struct lc_bus_opts o = {
		.max_message_bytes =
			(size_t)s->cfg->services.bus.max_message_bytes,
		.timeout_ms = (int)s->cfg->services.bus.rpc_timeout_ms,
		.service = s->d.name,
	};
	if (lc_cfg_listen_url(me->rpc, me->bind_host, url, sizeof(url)) != 0)
		die(LC_EXIT_USAGE, "bus.bad_url", me->rpc);
	s->rpc = lc_bus_server_new(s->d.base, url, &o, err, sizeof(err));
	if (!s->rpc)
		die(LC_EXIT_SYSTEM, "bus.listen_failed", err);
	if (lc_cfg_listen_url(me->events, me->bind_host, url, sizeof(url)))
		die(LC_EXIT_USAGE, "bus.bad_url", me->events);
	s->pub = lc_bus_pub_new(url, &o, err, sizeof(err));
	if (!s->pub)
		die(LC_EXIT_SYSTEM, "bus.listen_failed", err);

	static const char *const admin_methods[LC_CFG_NSVC][2] = {
		[LC_CFG_SVC_SUPERVISOR] = {
			BTCW_METHOD_SUPERVISOR_CONFIG_SHOW,
			BTCW_METHOD_SUPERVISOR_CONFIG_RELOAD },
		[LC_CFG_SVC_GATEWAY] = { BTCW_METHOD_GATEWAY_CONFIG_SHOW,
					 BTCW_METHOD_GATEWAY_CONFIG_RELOAD },
		[LC_CFG_SVC_INGEST] = { BTCW_METHOD_INGEST_CONFIG_SHOW,
					BTCW_METHOD_INGEST_CONFIG_RELOAD },
		[LC_CFG_SVC_MONITOR] = { BTCW_METHOD_MONITOR_CONFIG_SHOW,
					 BTCW_METHOD_MONITOR_CONFIG_RELOAD },
		[LC_CFG_SVC_NOTIFIER] = { BTCW_METHOD_NOTIFIER_CONFIG_SHOW,
					  BTCW_METHOD_NOTIFIER_CONFIG_RELOAD },
		[LC_CFG_SVC_BACKUP] = { BTCW_METHOD_BACKUP_CONFIG_SHOW,
					BTCW_METHOD_BACKUP_CONFIG_RELOAD },
	};
	const char *show = admin_methods[s->id][0];
	const char *rel = admin_methods[s->id][1];
	if (lc_bus_server_handle(s->rpc, show, rpc_config_show, s) != 0 ||
	    lc_bus_server_handle(s->rpc, rel, rpc_config_reload, s) != 0)
		die(LC_EXIT_SYSTEM, "bus.register_failed", show);
}

static void open_db(struct lc_svc *s, unsigned needs)
{
	char conninfo[2048], err[1024];
	if (lc_svc_conninfo(&s->cfg->system.database, conninfo,
			    sizeof(conninfo)) != 0)
		die(LC_EXIT_USAGE, "db.bad_config", "conninfo too long");
	if (needs & LC_SVC_MIGRATE) {
		int applied = 0;
		if (lc_migrate_apply_wait(conninfo, lc_schema_migrations,
					  lc_schema_migrations_count,
					  MIGRATE_WAIT_MS, &applied, err,
					  sizeof(err)) != 0)
			die(LC_EXIT_SYSTEM, "db.migrate_failed", err);
		log_info("db.migrated", LF_I("applied", applied),
			 LF_I("known", lc_schema_migrations_count));
	}
	const struct lc_cfg_sys_performance *p = &s->cfg->system.performance;
	struct lc_db_config dc = {
		.conninfo = conninfo,
		.name = s->d.name,
		.pool_size = (int)p->db_pool_min_size,
		.statement_timeout_ms = p->db_command_timeout * 1000,
	};
	s->db = lc_db_new(s->d.base, &dc, err, sizeof(err));
	if (!s->db)
		die(LC_EXIT_USAGE, "db.bad_config", err);
	if (lc_admin_add_check(s->admin, "postgres", db_check, s->db, err,
			       sizeof(err)) != 0)
		die(LC_EXIT_SYSTEM, "admin.check_failed", err);
}

static void open_redis(struct lc_svc *s)
{
	char err[512];
	const struct lc_cfg_sys_redis *r = &s->cfg->system.redis;
	struct lc_redis_config rc = {
		.host = r->host,
		.port = (int)r->port,
		.password = r->password && *r->password ? r->password : NULL,
		.db = (int)r->db,
	};
	s->redis = lc_redis_new(s->d.base, &rc, err, sizeof(err));
	if (!s->redis)
		die(LC_EXIT_USAGE, "redis.bad_config", err);
	if (lc_admin_add_check(s->admin, "redis", redis_check, s->redis, err,
			       sizeof(err)) != 0)
		die(LC_EXIT_SYSTEM, "admin.check_failed", err);
}

static void on_daemon_shutdown(struct lc_daemon *d, void *arg)
{
	struct lc_svc *s = arg;
	lc_bus_server_drain(s->rpc);
	if (s->on_shutdown)
		s->on_shutdown(s, s->arg);
	else
		lc_daemon_drained(d);
}

void lc_svc_init(struct lc_svc *s, enum lc_cfg_service_id id,
		 const char *version, int argc, char **argv, unsigned needs)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	lc_daemon_init(&s->d, lc_cfg_service_name(id), version, argc, argv,
		       NULL);
	s->d.on_reload = on_sighup;
	s->d.on_shutdown = on_daemon_shutdown;
	s->d.arg = s;
	open_config(s);
	open_admin(s);
	open_bus(s);
	if (needs & (LC_SVC_DB | LC_SVC_MIGRATE))
		open_db(s, needs);
	if (needs & LC_SVC_REDIS)
		open_redis(s);
}

int lc_svc_run(struct lc_svc *s)
{
	return lc_daemon_run(&s->d);
}

void lc_svc_drained(struct lc_svc *s)
{
	lc_daemon_drained(&s->d);
}

void lc_svc_release(struct lc_svc *s)
{
	lc_bus_server_free(s->rpc);
	lc_bus_pub_free(s->pub);
	lc_redis_free(s->redis);
	lc_db_free(s->db);
	lc_admin_free(s->admin);
	lc_metrics_free(s->metrics);
	lc_cfg_free(s->cfg);
	lc_daemon_release(&s->d);
	memset(s, 0, sizeof(*s));
}
