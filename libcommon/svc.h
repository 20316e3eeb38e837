#ifndef LC_SVC_H
#define LC_SVC_H
/*
 * The service kit: what every BTC Watcher daemon does the same way, so
 * that a daemon's main.c only adds its own logic.
 *
 *   lc_svc_init()  flags (lc_daemon), config from --config DIR (lc_cfg),
 *                  log level, metrics + admin HTTP (/healthz /readyz
 *                  /metrics), the RPC server and the event publisher at
 *                  the addresses services.yml gives this service, and,
 *                  when asked, database migrations, a PostgreSQL pool and
 *                  Redis — each with its /readyz check;
 *   <svc>.config.show / <svc>.config.reload RPC methods and SIGHUP:
 *                  reload builds a complete new config, keeps the old one
 *                  if the new one is invalid, warns about restart-only
 *                  keys, swaps, then calls the daemon's on_reload hook;
 *   lc_svc_run()   the loop; SIGTERM drains the RPC server, calls
 *                  on_shutdown, exits when the daemon says it drained.
 *
 * Before lc_svc_run() a fatal problem exits the process (config invalid:
 * 100; a socket or port that cannot be opened: 111); afterwards nothing
 * exits, failures are logged and the daemon degrades.
 */
#include "libcommon/cfg_schema.h"
#include "libcommon/daemon.h"

struct lc_metrics;
struct lc_admin;
struct lc_bus_server;
struct lc_bus_pub;
struct lc_db;
struct lc_redis;

enum lc_svc_needs {
	LC_SVC_DB = (1 << 0),      /* PostgreSQL pool (s->db) */
	LC_SVC_REDIS = (1 << 1),   /* Redis connection (s->redis) */
	LC_SVC_MIGRATE = (1 << 2), /* apply libcommon/schema first */
};

struct lc_svc;
typedef void (*lc_svc_reload_fn)(struct lc_svc *s,
				 const struct lc_config *old_cfg, void *arg);
typedef void (*lc_svc_hook)(struct lc_svc *s, void *arg);

struct lc_svc {
	struct lc_daemon d;           /* loop, signals, shutdown */
	enum lc_cfg_service_id id;    /* which service this is */
	struct lc_config *cfg;        /* current config; replaced on reload */
	int64_t cfg_loaded_ms;        /* wall time cfg was loaded */
	unsigned cfg_missing;         /* bit i: config file i was missing */
	struct lc_metrics *metrics;   /* owned; served at /metrics */
	struct lc_admin *admin;       /* owned */
	struct lc_bus_server *rpc;    /* owned; this service's methods */
	struct lc_bus_pub *pub;       /* owned; this service's events */
	struct lc_db *db;             /* owned if LC_SVC_DB, else NULL */
	struct lc_redis *redis;       /* owned if LC_SVC_REDIS, else NULL */
	lc_svc_reload_fn on_reload;   /* after a successful reload */
	lc_svc_hook on_shutdown;      /* start draining; call
					 lc_svc_drained() when done. NULL:
					 exit once the RPC server drained */
	void *arg;                    /* passed to the hooks */
};

/* Set everything up (see above); exits on a fatal start-up problem. */
void lc_svc_init(struct lc_svc *s, enum lc_cfg_service_id id,
		 const char *version, int argc, char **argv, unsigned needs);

/* The loop; returns the process exit code. */
int lc_svc_run(struct lc_svc *s);

/* The daemon finished draining (from on_shutdown's work). */
void lc_svc_drained(struct lc_svc *s);

/* Free everything lc_svc_init made. */
void lc_svc_release(struct lc_svc *s);

/* This service's own section of services.yml (borrowed). */
const struct lc_cfg_service *lc_svc_self(const struct lc_svc *s);

/* Build a libpq conninfo from system.database into out: the dsn if set,
 * else host/port/user/dbname/password/sslmode/connect_timeout with values
 * quoted as libpq requires. Returns 0, or -1 if out is too small. */
int lc_svc_conninfo(const struct lc_cfg_sys_database *db, char *out,
		    size_t outlen) __attribute__((warn_unused_result));

#endif
