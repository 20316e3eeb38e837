#ifndef LC_CFG_SCHEMA_H
#define LC_CFG_SCHEMA_H
/*
 * BTC Watcher's four config files as typed structs, and their key
 * tables for the lc_cfg engine (libcommon/cfg.h):
 *   system.yml         struct lc_cfg_system         lc_cfg_system_table
 *   notifications.yml  struct lc_cfg_notifications  lc_cfg_notifications_table
 *   proxy.yml          struct lc_cfg_proxy          lc_cfg_proxy_table
 *   services.yml       struct lc_cfg_services       lc_cfg_services_table
 * Every key, its default and whether SIGHUP applies it is documented in
 * config/README.md; the config/ YAML files are the defaults, with
 * comments.
 * Units: *_interval, *_timeout and *_ttl are seconds unless the name
 * says _ms; times of day are minutes after midnight (LC_CFG_TIME).
 */
#include "libcommon/cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- system.yml ---- */

struct lc_cfg_sys_monitoring {
	int64_t system_status_interval;    /* s, 30 */
	int64_t strategy_status_interval;  /* s, 30 */
	int64_t gateway_health_interval;   /* s, 60 */
	int64_t capacity_interval;         /* s, 300 */
	int64_t proxy_health_interval;     /* s, 3600 */
	int64_t system_status_cache_ttl;   /* s, 30 */
	int64_t strategy_status_cache_ttl; /* s, 30 */
	int64_t gateway_health_cache_ttl;  /* s, 60 */
	int64_t chart_data_cache_ttl;      /* s, 600 */
	int64_t capacity_history_days;     /* capacity:history kept, 7 */
	int64_t bot_timeout_ms;            /* one bot API call, 5000 */
};

struct lc_cfg_sys_capacity {
	int64_t max_strategies;     /* running at once, 999 */
	int64_t alert_threshold;    /* % utilization: warning, 80 */
	int64_t critical_threshold; /* % utilization: critical, 90 */
};

struct lc_cfg_sys_ports {
	int64_t base_port;      /* strategy port pool start, 8081 */
	int64_t port_range_end; /* pool end, inclusive, 9080 */
};

struct lc_cfg_sys_restart {
	int64_t backoff_base_ms;   /* first delay, >= 1000 */
	int64_t backoff_max_ms;    /* cap, 60000 */
	int64_t crash_loop_max_restarts; /* restarts in the window, 5 */
	int64_t crash_loop_window; /* s, 300 */
};

struct lc_cfg_sys_freqtrade {
	char *version;                   /* expected FreqTrade version */
	struct lc_cfg_strlist command;   /* argv prefix, ["ftsim"] */
	char *config_directory;          /* per-instance configs (0600) */
	char *user_data_directory;       /* --userdir */
	char *strategies_directory;      /* strategy .py files */
	char *data_directory;            /* market data */
	char *logs_directory;            /* one log per instance */
	double dry_run_wallet;           /* stake currency, 1000 */
	int64_t startup_timeout;         /* s until /ping answers, 60 */
	int64_t shutdown_timeout;        /* s SIGTERM -> SIGKILL, 30 */
	int64_t health_check_interval;   /* s, 30 */
	struct lc_cfg_sys_restart restart; /* crash restarts */
};

struct lc_cfg_sys_database {
	char *dsn;          /* libpq conninfo or URI; wins if set (secret) */
	char *host;         /* used when dsn is empty */
	int64_t port;
	char *user;
	char *dbname;
	char *password;     /* secret */
	int sslmode;        /* enum lc_cfg_sslmode */
	int64_t connect_timeout; /* s */
};

enum lc_cfg_sslmode {
	LC_CFG_SSL_DISABLE,
	LC_CFG_SSL_ALLOW,
	LC_CFG_SSL_PREFER,
	LC_CFG_SSL_REQUIRE,
	LC_CFG_SSL_VERIFY_CA,
	LC_CFG_SSL_VERIFY_FULL,
};

struct lc_cfg_sys_redis {
	char *host;
	int64_t port;
	char *password; /* secret; "" = no AUTH */
	int64_t db;     /* SELECT index */
};

struct lc_cfg_sys_performance {
	int64_t db_pool_min_size;      /* 5 */
	int64_t db_pool_max_size;      /* 20 */
	int64_t db_command_timeout;    /* s, 60 */
	int64_t redis_max_connections; /* 20 */
	int64_t redis_retry_attempts;  /* 3 */
};

struct lc_cfg_sys_security {
	char *jwt_secret_key;            /* secret; no default: "" */
	int64_t jwt_expire_hours;        /* 24 */
	int jwt_algorithm;               /* 0 = "HS256", the only one */
	int64_t max_login_attempts;      /* 5 */
	int64_t lockout_duration_minutes; /* 30 */
	int64_t min_password_length;     /* 8 */
	bool require_special_chars;      /* true */
};

struct lc_cfg_sys_gateway {
	int64_t proxy_timeout;    /* s before a slow bot gets 504, 30 */
	int64_t health_threshold; /* health_score under it: degraded, 80 */
	int64_t ws_auth_check_interval; /* s between checks of a live
					   WebSocket's login, 10 */
	struct lc_cfg_strlist trusted_proxies; /* peers whose X-Real-IP is
						  believed (CIDRs) */
};

struct lc_cfg_sys_ingest {
	int64_t max_body_bytes;   /* webhook body limit (413), 65536 */
	char *spool_directory;    /* fsynced spool while PG is down */
	int64_t spool_max_bytes;  /* spool full: refuse (503), 1 GiB */
};

struct lc_cfg_sys_backup {
	bool auto_backup_enabled;      /* true */
	int64_t backup_interval_hours; /* 24 */
	int64_t backup_retention_days; /* 90 */
	char *backup_directory;
};

struct lc_cfg_system {
	struct lc_cfg_sys_monitoring monitoring;
	struct lc_cfg_sys_capacity capacity;
	struct lc_cfg_sys_ports ports;
	struct lc_cfg_sys_freqtrade freqtrade;
	struct lc_cfg_sys_database database;
	struct lc_cfg_sys_redis redis;
	struct lc_cfg_sys_performance performance;
	struct lc_cfg_sys_security security;
	struct lc_cfg_sys_gateway gateway;
	struct lc_cfg_sys_ingest ingest;
	struct lc_cfg_sys_backup backup;
	int log_level; /* system.logging.level: enum lc_log_level */
};

/* ---- notifications.yml ---- */

enum lc_cfg_priority {
	LC_CFG_P0, /* at once */
	LC_CFG_P1, /* within delay_seconds */
	LC_CFG_P2, /* batched */
	LC_CFG_NPRIO,
};

enum lc_cfg_template {
	LC_CFG_TPL_SIMPLE,
	LC_CFG_TPL_DETAILED,
	LC_CFG_TPL_CUSTOM,
};

struct lc_cfg_notify_priority {
	char *name;                     /* display label */
	int64_t delay_seconds;          /* 0 / 60 / 300 */
	struct lc_cfg_strlist channels; /* channel names */
};

struct lc_cfg_time_slot {
	int start_time;                           /* minutes, "HH:MM" */
	int end_time;                             /* may wrap midnight */
	struct lc_cfg_strlist enabled_priorities; /* "P0".."P2" */
	struct lc_cfg_strlist enabled_channels;   /* channel names */
};

/* One item of notifications.channels. */
struct lc_cfg_channel {
	char *name;   /* unique; what priorities and slots refer to */
	char *url;    /* Apprise-style URL (secret); "" = not configured */
	bool enabled; /* true */
};

struct lc_cfg_notifications {
	struct {
		int64_t same_pair_interval;    /* s, 300 */
		int64_t global_max_per_minute; /* 5 */
		int64_t batch_interval;        /* s, 300 */
	} rate_limiting;
	struct lc_cfg_notify_priority priorities[LC_CFG_NPRIO];
	struct {
		char *timezone;                   /* "local" or an IANA name */
		struct lc_cfg_time_slot work_hours;
		struct lc_cfg_time_slot rest_hours;
	} time_slots;
	struct {
		int signal_template;    /* enum lc_cfg_template */
		char *custom_template;  /* with {placeholders} */
		bool include_indicators;
		bool include_chart_link;
		char *dashboard_url;    /* base of chart links */
	} templates;
	struct {
		int64_t max_attempts;      /* per message and channel, 8 */
		int64_t retry_base_ms;     /* backoff start, 1000 */
		int64_t retry_max_ms;      /* backoff cap, 300000 */
		int64_t timeout_ms;        /* one HTTP/SMTP request, 10000 */
		int64_t breaker_failures;  /* opens a channel's breaker, 5 */
		int64_t breaker_reset_ms;  /* open -> half-open, 60000 */
	} delivery;
	struct lc_cfg_list channels; /* of struct lc_cfg_channel */
};

/* ---- proxy.yml ---- */

/* One item of proxy.proxies. */
struct lc_cfg_proxy_entry {
	int64_t id;   /* unique, >= 1; a strategy's proxy_id */
	char *name;   /* label */
	char *url;    /* socks5://[user:pass@]host:port or http://…; the
		       * user:pass part is secret */
	bool enabled; /* true */
};

struct lc_cfg_proxy {
	struct {
		int64_t success_rate_threshold;   /* %, 90 */
		int64_t max_latency_ms;           /* 500 */
		int64_t max_consecutive_failures; /* 3 */
		char *test_url;
		int64_t timeout_ms;               /* one test request, 10000 */
	} health_check;
	struct {
		bool enable_direct_connection;        /* true */
		int64_t auto_recovery_check_interval; /* s, 600 */
		int64_t recovery_success_count;       /* 3 */
	} failover;
	struct {
		int64_t metrics_retention_hours; /* 24 */
		bool alert_on_degradation;       /* true */
		int64_t latency_spike_threshold; /* % over baseline, 200 */
	} monitoring;
	struct lc_cfg_list proxies; /* of struct lc_cfg_proxy_entry */
};

/* ---- services.yml ---- */

enum lc_cfg_service_id {
	LC_CFG_SVC_SUPERVISOR,
	LC_CFG_SVC_GATEWAY,
	LC_CFG_SVC_INGEST,
	LC_CFG_SVC_MONITOR,
	LC_CFG_SVC_NOTIFIER,
	LC_CFG_SVC_BACKUP,
	LC_CFG_NSVC,
};

struct lc_cfg_service {
	char *bind_host;    /* where this service's listeners bind */
	char *rpc;          /* nng req/rep URL others dial */
	char *events;       /* nng pub URL others subscribe to */
	int64_t admin_port; /* /healthz /readyz /metrics */
	int64_t http_port;  /* gateway and signal-ingest only, else 0 */
	char *http_url;     /* how others reach http_port (NULL if none) */
};

struct lc_cfg_services {
	struct {
		int64_t max_message_bytes; /* 1 MiB */
		int64_t rpc_timeout_ms;    /* 5000 */
	} bus;
	struct lc_cfg_service svc[LC_CFG_NSVC]; /* by enum lc_cfg_service_id */
};

/* The service's name in services.yml ("ft-supervisor", …); static. */
const char *lc_cfg_service_name(enum lc_cfg_service_id id);

/* ---- the tables ---- */

extern const struct lc_cfg_table lc_cfg_system_table;
extern const struct lc_cfg_table lc_cfg_notifications_table;
extern const struct lc_cfg_table lc_cfg_proxy_table;
extern const struct lc_cfg_table lc_cfg_services_table;

/* ---- all four files ---- */

struct lc_config {
	char *dir;                          /* owned copy of the directory */
	struct lc_cfg_system system;
	struct lc_cfg_notifications notifications;
	struct lc_cfg_proxy proxy;
	struct lc_cfg_services services;
};

/*
 * Load DIR/system.yml, DIR/notifications.yml, DIR/proxy.yml and
 * DIR/services.yml into a new heap object (a missing file gives its
 * defaults and a warning). Cross-file checks run too (service ports
 * outside the strategy port pool). Never touches an existing config, so
 * a reload can load, diff and swap. Returns 0 with *out set (caller
 * frees with lc_cfg_free()), or -1 with the message in err and *out
 * NULL. dir is borrowed.
 */
int lc_cfg_load_dir(const char *dir, struct lc_config **out, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/* Free a config from lc_cfg_load_dir(); NULL does nothing. */
void lc_cfg_free(struct lc_config *cfg);

/*
 * lc_cfg_diff() over all four files (both borrowed): calls fn (may be
 * NULL) for each changed key whose flags intersect mask (0: all) and
 * returns their number. After a reload,
 *   lc_cfg_diff_all(old, new, LC_CFG_RESTART_ONLY, warn_cb, NULL)
 * names the keys that only take effect after a restart.
 */
int lc_cfg_diff_all(const struct lc_config *old_cfg,
		    const struct lc_config *new_cfg, unsigned mask,
		    lc_cfg_diff_fn fn, void *arg);

/*
 * The whole config as a new cJSON object {"system":…, "notifications":…,
 * "proxy":…, "services":…} with secrets redacted, for `config.show`.
 * Caller deletes it with cJSON_Delete(). NULL when out of memory.
 */
struct cJSON *lc_cfg_dump_all(const struct lc_config *cfg);

/*
 * The address a service listens on for an nng URL it publishes:
 * "tcp://ft-supervisor:7101" with bind_host "0.0.0.0" gives
 * "tcp://0.0.0.0:7101"; other transports (ipc://, inproc://) and an
 * empty bind_host give url unchanged. Returns 0, or -1 if out (outlen
 * bytes) is too small or url has no port.
 */
int lc_cfg_listen_url(const char *url, const char *bind_host, char *out,
		      size_t outlen) __attribute__((warn_unused_result));

#endif
