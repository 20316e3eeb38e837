#ifndef LC_DAEMON_H
#define LC_DAEMON_H
/*
 * Common daemon start-up and lifecycle:
 *  - flags: --config DIR (default ./config or $BTCW_CONFIG_DIR),
 *    --check-config (recorded here, carried out by the service kit),
 *    --version, --help; usage errors exit 100 (s6 convention);
 *  - one event_base for the whole daemon;
 *  - signals as libevent events (no work in a handler): SIGTERM/SIGINT
 *    start a graceful shutdown, a second one exits at once; SIGHUP calls
 *    the reload hook; SIGPIPE is ignored;
 *  - graceful shutdown with a deadline: the on_shutdown hook starts
 *    draining (stop accepting, finish in-flight work) and the service
 *    calls lc_daemon_drained() when done; if it does not within
 *    shutdown_ms the loop is stopped anyway and a warning logged.
 * die-style exits are allowed only before lc_daemon_run().
 */
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct event;

enum lc_daemon_exit {
	LC_EXIT_OK = 0,
	LC_EXIT_USAGE = 100,
	LC_EXIT_SYSTEM = 111,
};

struct lc_daemon;
typedef void (*lc_daemon_hook)(struct lc_daemon *d, void *arg);

struct lc_daemon {
	const char *name;          /* service name (borrowed) */
	const char *version;       /* borrowed */
	char config_dir[4096];     /* from --config */
	bool check_config;         /* --check-config: load, print, exit */
	struct event_base *base;   /* owned */
	int64_t shutdown_ms;       /* drain deadline, default 10000 */
	lc_daemon_hook on_reload;  /* SIGHUP; may be NULL */
	lc_daemon_hook on_shutdown; /* start draining; NULL: stop at once */
	void *arg;                 /* passed to the hooks */
	bool stopping;             /* shutdown has begun */
	int exit_code;             /* returned by lc_daemon_run */
	int64_t started_ms;        /* monotonic start time */
	struct event *ev_term, *ev_int, *ev_hup, *ev_deadline;
};

/*
 * Parse the common flags, set up logging and the event base. --help and
 * --version print and exit(0); a bad flag prints usage and exits 100; a
 * failure to create the loop exits 111. extra_usage (may be NULL) is
 * printed under the common flags.
 */
void lc_daemon_init(struct lc_daemon *d, const char *name,
		    const char *version, int argc, char **argv,
		    const char *extra_usage);

/* Run the loop until shutdown completes; returns the exit code. */
int lc_daemon_run(struct lc_daemon *d);

/* Begin a graceful shutdown (as SIGTERM does). */
void lc_daemon_stop(struct lc_daemon *d, int exit_code);

/* The service has drained: leave the loop now. */
void lc_daemon_drained(struct lc_daemon *d);

/* Free the loop and signal events (after lc_daemon_run returned). */
void lc_daemon_release(struct lc_daemon *d);

/* Seconds since lc_daemon_init. */
int64_t lc_daemon_uptime_s(const struct lc_daemon *d);

#endif
