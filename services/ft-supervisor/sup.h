#ifndef SUP_H
#define SUP_H
/*
 * ft-supervisor's private umbrella header: the daemon's state (struct
 * sup), one supervised strategy (struct bot) and the functions the
 * modules share. Everything runs on the daemon's one event loop, so
 * nothing here is locked.
 *
 *   registry.c   bots in memory (sorted by id), rows <-> bots, the
 *                batched write-back of lifecycle columns
 *   validate.c   create/update params -> a canonical strategy spec
 *   ports.c      the port pool (hierarchical bitmap)
 *   ftconfig.c   the FreqTrade config of one instance, written 0600
 *   proc.c       spawn, reap, adopt, /proc
 *   lifecycle.c  the state x event table
 *   botapi.c     HTTP calls to a bot's own REST API
 *   events.c     strategy.state, route.update, alert.raised
 *   reconcile.c  start-up: adopt live bots, start the wanted ones
 *   rpc.c        the supervisor.* methods
 *   upgrade.c    the manual FreqTrade upgrade
 *   stats.c      per-process cpu / rss / uptime
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "libcommon/backoff.h"
#include "services/ft-supervisor/ports.h"

struct event;
struct event_base;
struct lc_svc;
struct lc_config;
struct lc_curl;
struct lc_curl_req;
struct lc_bus_req;
struct lc_bus_client;
struct lc_metric;
struct lc_series;
struct upgrade;

/* The lifecycle states (lifecycle.c). The API's status is finer for
 * IDLE (created / stopped / failed) and coarser elsewhere. */
enum bot_state {
	BOT_IDLE,     /* no process */
	BOT_STARTING, /* spawned or adopted, waiting for /ping */
	BOT_RUNNING,  /* answered /ping; its route is published */
	BOT_STOPPING, /* asked to exit: /stop, SIGTERM, SIGKILL */
	BOT_BACKOFF,  /* crashed; restart timer armed */
	BOT_NSTATES,
};

enum bot_event {
	EV_START,    /* start requested (user, reconcile, upgrade) */
	EV_STOP,     /* stop requested (see enum stop_why) */
	EV_READY,    /* /api/v1/ping answered */
	EV_DEADLINE, /* the state's timer fired */
	EV_EXIT,     /* the process is gone */
	BOT_NEVENTS,
};

/* The API status (proto strategy_status). */
enum bot_status {
	ST_CREATED,
	ST_STARTING,
	ST_RUNNING,
	ST_STOPPING,
	ST_STOPPED,
	ST_FAILED,
	ST_DELETED,
	ST_NSTATUS,
};

/* Why a bot is being stopped: decides what its exit leads to. */
enum stop_why {
	STOP_USER,        /* stop / stop_all: desired stopped */
	STOP_DELETE,      /* delete: soft delete once it exited */
	STOP_SHUTDOWN,    /* supervisor exiting: desired kept */
	STOP_UPGRADE,     /* upgrade: desired kept, restarted by it */
	STOP_START_FAILED, /* no /ping in time: failed, desired stopped */
	STOP_UNHEALTHY,   /* adopted but silent: killed, then restarted */
};

/* Why the last start attempt did not spawn (for the RPC reply). */
enum start_err {
	START_OK,
	START_LIMIT,  /* no free port */
	START_SPAWN,  /* config or exec failed */
};

struct bot {
	struct sup *sup;        /* borrowed back-pointer */
	int id;
	cJSON *spec;            /* owned; the registry fields as in the API
				   (name ... extra_config), canonical */
	int64_t created_ms;     /* wall ms */
	int64_t updated_ms;
	char token[130];        /* webhook token (secret) */
	char api_user[66];      /* api_server username */
	char api_pass[130];     /* api_server password (secret) */

	enum bot_state state;
	enum bot_status status;
	bool want_run;          /* desired_state = running */
	enum stop_why stop_why; /* while STOPPING */
	bool start_after_stop;  /* a start arrived while STOPPING */
	enum start_err start_err;

	int port;               /* 0: none held */
	pid_t pid;              /* 0: no process (= its process group) */
	unsigned long long starttime; /* /proc/<pid>/stat field 22 */
	char db_boot_id[40];    /* pid_boot_id as read at start-up */
	bool child;             /* ours to waitpid; else watched by pidfd */
	int pidfd;              /* adopted: pidfd_open, else -1 */
	struct event *ev_pidfd; /* adopted: readable on exit */
	struct event *ev_timer; /* the state's deadline */
	struct event *ev_poll;  /* next /ping while STARTING */
	struct lc_curl_req *http; /* /ping or /stop in flight */
	int64_t ping_delay_ms;  /* grows while STARTING */
	int64_t spawn_mono;     /* for the start latency */
	bool adopting;          /* STARTING after adoption (no spawn) */
	bool upgrading;         /* started by the upgrade: a crash before
				   /ping is a failure, not a restart */
	int64_t health_next;    /* mono ms of the next health /ping */
	int health_failures;    /* health pings failed in a row */
	bool killed_silent;     /* we SIGKILLed it for not answering */

	struct lc_backoff backoff;
	int restart_count;      /* automatic restarts since a user start */
	int recent_restarts;    /* in the crash-loop window */
	int64_t recent_since;   /* wall ms the window began, 0: none */
	int64_t started_ms;     /* wall ms it last became running */
	int64_t stopped_ms;
	int64_t deleted_ms;     /* rows read back after a soft delete */
	int64_t ready_mono;     /* mono ms of the last /ping success */
	int64_t failed_ms;      /* wall ms of last_error */
	char last_error[512];
	int exit_code;          /* of the last exit, -1: none / unknown */
	int term_signal;        /* 0: none */
	bool loop_alert;        /* a crash-loop alert is outstanding */
	int64_t loop_alert_ms;

	bool dirty;             /* lifecycle columns to write back */
	bool updating;          /* an update's UPDATE is in flight */
	struct lc_bus_req *pending_delete; /* answered once it exited */
	unsigned long long cpu_ticks; /* last stats sample */
	int64_t cpu_mono;
};

/* The counters behind /metrics (series owned by the registry). */
struct sup_metrics {
	struct lc_series *by_status[ST_NSTATUS];
	struct lc_series *starts, *crashes, *restarts, *start_failures;
	struct lc_series *crash_loops, *adopted;
	struct lc_series *ports_used, *ports_total, *slots_used;
	struct lc_series *start_latency;
};

struct sup {
	struct lc_svc *svc;       /* borrowed: config, db, bus */
	struct event_base *base;  /* borrowed */
	struct bot **bots;        /* owned, sorted by id */
	size_t nbots, capbots;
	struct ports pool;
	struct lc_curl *curl;     /* owned */
	struct lc_bus_client *backup; /* owned; the backup daemon */
	struct event *ev_chld;    /* SIGCHLD */
	struct event *ev_flush;   /* write-back of dirty bots */
	struct event *ev_tick;    /* 1 s housekeeping */
	struct event *ev_boot;    /* reconcile retry */
	bool reconciled;          /* RPCs other than config.* wait */
	bool shutting_down;
	bool dying;               /* tearing down: callbacks do nothing */
	bool flush_busy;
	int flush_failures;
	char boot_id[24];         /* ours: route.update boot_id */
	char kernel_boot_id[40];  /* /proc/sys/kernel/random/boot_id */
	uint64_t route_seq;       /* last route.update seq */
	char **cmd;               /* owned argv prefix in force */
	size_t ncmd;
	bool cmd_from_upgrade;    /* cmd is an upgrade's, not system.yml's */
	char *dir_config;         /* owned absolute paths, fixed at start */
	char *dir_logs;
	char *dir_userdata;
	char version[40];         /* FreqTrade version label in force */
	struct upgrade *up;       /* owned; NULL before the first one */
	int status_count[ST_NSTATUS];
	int slots_used;           /* bots not IDLE */
	struct sup_metrics m;
};

/* ---- registry.c ---- */

struct bot *bot_new(struct sup *s, int id);
void bot_free(struct bot *b);
struct bot *bots_find(const struct sup *s, int id);
int bots_add(struct sup *s, struct bot *b);
void bots_remove(struct sup *s, struct bot *b);
/* The strategy as the API shows it (caller deletes). */
cJSON *bot_json(const struct bot *b);
const char *bot_name(const struct bot *b);
const char *bot_version(const struct bot *b);
/* The columns every read selects, in the order bot_from_row expects. */
extern const char *const registry_columns;
/* A bot from a row of a query on registry_columns (not registered).
 * NULL on a malformed row. */
struct bot *bot_from_row(struct sup *s, const void *pgres, int row);
/* Set the API status (keeps the per-status counts). */
void bot_set_status(struct bot *b, enum bot_status st);
/* Schedule a write-back of b's lifecycle columns. */
void bot_mark_dirty(struct bot *b);
/* Write back every dirty bot now (also the flush timer's job). */
void registry_flush(struct sup *s);
bool registry_flush_idle(const struct sup *s);
const char *status_name(enum bot_status st);
int status_parse(const char *s); /* -1 if unknown */

/* ---- lifecycle.c ---- */

void bot_dispatch(struct bot *b, enum bot_event ev);
/* Start (user / reconcile / upgrade). 0, or -1 with code+message. */
int bot_request_start(struct bot *b, const char **code, char *msg,
		      size_t msglen);
void bot_request_stop(struct bot *b, enum stop_why why);
/* The process is gone: wstatus from waitpid, or known false (adopted,
 * no status). */
void bot_exited(struct bot *b, int wstatus, bool known);
/* Adopt a live process found at start-up: it gets STARTING (ping). */
void bot_adopt(struct bot *b, pid_t pid, unsigned long long starttime,
	       int pidfd, int port);
const char *bot_state_name(enum bot_state st);
/* Shutdown: every bot stopped and written back. */
bool sup_all_idle(const struct sup *s);
void sup_check_drained(struct sup *s);

/* ---- events.c ---- */

void ev_state(struct sup *s, const struct bot *b, enum bot_status prev,
	      const char *cause, const char *reason);
void ev_route(struct sup *s, const struct bot *b, bool add);
void ev_alert(struct sup *s, const struct bot *b, const char *kind,
	      const char *priority, const char *title, cJSON *details,
	      const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void ev_alert_resolved(struct sup *s, const struct bot *b, const char *kind,
		       int64_t raised_ms, const char *message);

/* ---- rpc.c, upgrade.c, reconcile.c, stats.c ---- */

int rpc_register(struct sup *s);
/* A bot being deleted has stopped: finish the soft delete. */
void rpc_delete_stopped(struct bot *b);
int upgrade_register(struct sup *s);
void upgrade_free(struct upgrade *u);
bool upgrade_active(const struct sup *s);
/* A bot the upgrade started became ready (ok) or failed to. */
void upgrade_bot_outcome(struct sup *s, struct bot *b, bool ok);
/* A bot the upgrade stopped has exited. */
void upgrade_bot_idle(struct sup *s, struct bot *b);
void reconcile_start(struct sup *s);
cJSON *stats_process(struct bot *b);

/* ---- sup.c ---- */

struct lc_cfg_strlist;
/* Set up everything (before the loop); 0 or -1 (logged). */
int sup_init(struct sup *s, struct lc_svc *svc);
/* After the loop: free everything; frees svc->db first. */
void sup_teardown(struct sup *s);
/* The FreqTrade command (copied) and version label in force. */
void sup_set_command(struct sup *s, const struct lc_cfg_strlist *cmd,
		     const char *version);
const struct lc_config *sup_cfg(const struct sup *s);
/* Paths of a bot's files: config, log, stderr, sqlite. */
int sup_path(const struct sup *s, int id, const char *kind, char *out,
	     size_t outlen);
void sup_update_gauges(struct sup *s);

#endif
