/*
 * The supervisor's own state: set-up and teardown, file paths, metrics,
 * SIGCHLD, the housekeeping tick and the draining shutdown.
 */
#include "services/ft-supervisor/sup.h"

#include "libcommon/bus.h"
#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/curl.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "services/ft-supervisor/botops.h"
#include "services/ft-supervisor/proc.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TICK_MS 1000
#define DRAIN_MARGIN_MS 10000 /* past shutdown_timeout */

const struct lc_config *sup_cfg(const struct sup *s)
{
	return s->svc->cfg;
}

int sup_path(const struct sup *s, int id, const char *kind, char *out,
	     size_t outlen)
{
	int n;
	if (strcmp(kind, "config") == 0)
		n = snprintf(out, outlen, "%s/strategy_%d.json", s->dir_config,
			     id);
	else if (strcmp(kind, "log") == 0)
		n = snprintf(out, outlen, "%s/strategy_%d.log", s->dir_logs,
			     id);
	else if (strcmp(kind, "stderr") == 0)
		n = snprintf(out, outlen, "%s/strategy_%d.stderr",
			     s->dir_logs, id);
	else if (strcmp(kind, "sqlite") == 0)
		n = snprintf(out, outlen,
			     "%s/tradesv3.dryrun.strategy_%d.sqlite",
			     s->dir_userdata, id);
	else
		return -1;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- metrics ---- */

void sup_update_gauges(struct sup *s)
{
	for (int i = 0; i < ST_NSTATUS; i++)
		lc_series_set(s->m.by_status[i], s->status_count[i]);
	lc_series_set(s->m.ports_used, s->pool.used);
	lc_series_set(s->m.ports_total, s->pool.n);
	lc_series_set(s->m.slots_used, s->slots_used);
}

static struct lc_series *counter(struct lc_metrics *r, const char *name,
				 const char *help)
{
	char err[256];
	struct lc_metric *m = lc_metrics_counter(r, name, help, NULL, err,
						 sizeof(err));
	return lc_metric_series(m);
}

static struct lc_series *gauge(struct lc_metrics *r, const char *name,
			       const char *help)
{
	char err[256];
	struct lc_metric *m = lc_metrics_gauge(r, name, help, NULL, err,
					       sizeof(err));
	return lc_metric_series(m);
}

static void register_metrics(struct sup *s)
{
	static const double lat[] = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30,
				      60, 120 };
	struct lc_metrics *r = s->svc->metrics;
	char err[256];
	struct lc_metric *st = lc_metrics_gauge(
		r, "btcw_supervisor_strategies",
		"Strategies (not deleted) by status.", LC_LABELS("status"),
		err, sizeof(err));
	for (int i = 0; i < ST_DELETED; i++)
		s->m.by_status[i] = lc_metric_series(st, status_name(i));
	s->m.starts = counter(r, "btcw_supervisor_starts_total",
			      "Bot processes spawned.");
	s->m.crashes = counter(r, "btcw_supervisor_crashes_total",
			       "Bot processes that exited unasked.");
	s->m.restarts = counter(r, "btcw_supervisor_restarts_total",
				"Automatic restarts after a crash.");
	s->m.start_failures = counter(
		r, "btcw_supervisor_start_failures_total",
		"Starts that failed (spawn error or no /ping in time).");
	s->m.crash_loops = counter(r, "btcw_supervisor_crash_loops_total",
				   "Crash loops: restarts given up.");
	s->m.adopted = counter(r, "btcw_supervisor_adopted_total",
			       "Live bots adopted after a supervisor start.");
	s->m.ports_used = gauge(r, "btcw_supervisor_ports_allocated",
				"Ports of the pool held by bots.");
	s->m.ports_total = gauge(r, "btcw_supervisor_ports",
				 "Ports in the pool.");
	s->m.slots_used = gauge(r, "btcw_supervisor_slots_used",
				"Strategies holding a capacity slot.");
	struct lc_metric *h = lc_metrics_histogram(
		r, "btcw_supervisor_start_latency_seconds",
		"Seconds from spawn to the first /ping answer.", NULL, lat,
		sizeof(lat) / sizeof(lat[0]), err, sizeof(err));
	s->m.start_latency = lc_metric_series(h);
}

/* ---- processes ---- */

static struct bot *bot_by_child(struct sup *s, pid_t pid)
{
	for (size_t i = 0; i < s->nbots; i++)
		if (s->bots[i]->pid == pid && s->bots[i]->child)
			return s->bots[i];
	return NULL;
}

/* SIGCHLD (through libevent: no work in a handler): reap every child
 * that exited. What is left of a bot's process group (children that
 * outlive it, or that ignore SIGTERM) is SIGKILLed first, while the
 * unreaped zombie still keeps its pid, and so the group id, from being
 * reused: a stopped or crashed bot leaves no orphan behind, and its
 * restart finds the port free. */
static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct sup *s = arg;
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
		    si.si_pid <= 0)
			break;
		pid_t pid = si.si_pid;
		struct bot *b = bot_by_child(s, pid);
		if (b)
			(void)proc_kill_group(pid, SIGKILL);
		int st;
		if (waitpid(pid, &st, WNOHANG) != pid)
			break;
		if (b)
			bot_exited(b, st, true);
		else
			log_debug("child.reaped", LF_I("pid", pid));
	}
}

/* Adopted bots without a pidfd (kernel < 5.3) are polled. */
static void poll_adopted(struct sup *s)
{
	for (size_t i = 0; i < s->nbots; i++) {
		struct bot *b = s->bots[i];
		if (b->pid <= 0 || b->child || b->pidfd >= 0)
			continue;
		struct proc_stat st;
		bool gone = proc_read_stat(b->pid, &st) != 0;
		bool same = !gone && st.starttime == b->starttime;
		if (same && st.state != 'Z')
			continue;
		/* Its group's leftovers, as for a child (on_sigchld); not
		 * when the pid is another process now: the group id was
		 * free then, so nothing of the group is left. */
		if (gone || same)
			(void)proc_kill_group(b->pid, SIGKILL);
		bot_exited(b, 0, false);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sup *s = arg;
	int64_t now = lc_clock_mono_ms();
	poll_adopted(s);
	for (size_t i = 0; i < s->nbots && !s->shutting_down; i++)
		botops_health_tick(s->bots[i], now);
	if (!registry_flush_idle(s))
		registry_flush(s);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	registry_flush(arg);
}

/* ---- shutdown ---- */

void sup_check_drained(struct sup *s)
{
	if (!s->shutting_down || !sup_all_idle(s))
		return;
	if (!registry_flush_idle(s)) {
		registry_flush(s); /* flush_done calls back here */
		return;
	}
	log_info("supervisor.drained", LF_I("bots", s->nbots));
	lc_svc_drained(s->svc);
}

/* SIGTERM: stop every bot (their desired state is kept, so the next
 * start brings them back), write the registry, then exit. */
static void on_shutdown(struct lc_svc *svc, void *arg)
{
	(void)svc;
	struct sup *s = arg;
	s->shutting_down = true;
	int n = 0;
	for (size_t i = 0; i < s->nbots; i++)
		if (s->bots[i]->state != BOT_IDLE) {
			bot_request_stop(s->bots[i], STOP_SHUTDOWN);
			n++;
		}
	log_info("supervisor.stopping_bots", LF_I("bots", n));
	sup_check_drained(s);
}

static void on_reload(struct lc_svc *svc, const struct lc_config *old,
		      void *arg)
{
	(void)svc;
	(void)old;
	struct sup *s = arg;
	if (!s->cmd_from_upgrade)
		sup_set_command(s, &sup_cfg(s)->system.freqtrade.command,
				sup_cfg(s)->system.freqtrade.version);
}

/* ---- set-up ---- */

void sup_set_command(struct sup *s, const struct lc_cfg_strlist *cmd,
		     const char *version)
{
	char **v = calloc(cmd->n + 1, sizeof(char *));
	if (!v)
		return;
	for (size_t i = 0; i < cmd->n; i++)
		v[i] = strdup(cmd->v[i]);
	/* A relative path with a '/' would be resolved in the bot's working
	 * directory (posix_spawn changes it first): make it absolute. */
	char *abs = cmd->n && v[0] && v[0][0] != '/' && strchr(v[0], '/')
			    ? realpath(v[0], NULL) : NULL;
	if (abs) {
		free(v[0]);
		v[0] = abs;
	}
	for (size_t i = 0; i < s->ncmd; i++)
		free(s->cmd[i]);
	free(s->cmd);
	s->cmd = v;
	s->ncmd = cmd->n;
	snprintf(s->version, sizeof(s->version), "%s", version);
}

/* mkdir -p path (mode for the last part), then its absolute form. */
static int make_dir(const char *path, mode_t mode, char **abs)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -1;
	*abs = realpath(buf, NULL);
	return *abs ? 0 : -1;
}

static int make_dirs(struct sup *s)
{
	const struct lc_cfg_sys_freqtrade *ft = &sup_cfg(s)->system.freqtrade;
	char *strat = NULL, *data = NULL;
	int rv = make_dir(ft->config_directory, 0700, &s->dir_config);
	rv |= make_dir(ft->logs_directory, 0700, &s->dir_logs);
	rv |= make_dir(ft->user_data_directory, 0700, &s->dir_userdata);
	rv |= make_dir(ft->strategies_directory, 0755, &strat);
	rv |= make_dir(ft->data_directory, 0755, &data);
	free(strat);
	free(data);
	return rv;
}

static void random_boot_id(char *out, size_t n)
{
	uint64_t x = (uint64_t)lc_clock_wall_ms() ^
		     ((uint64_t)getpid() << 40) ^ (uint64_t)lc_clock_mono_ms();
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	snprintf(out, n, "%06llx", (unsigned long long)(x & 0xffffff));
}

static struct event *add_timer(struct sup *s, event_callback_fn fn,
			       bool persist, int64_t ms)
{
	struct event *ev = event_new(s->base, -1, persist ? EV_PERSIST : 0,
				     fn, s);
	if (ev && ms >= 0) {
		struct timeval tv;
		lc_clock_tv(&tv, ms);
		event_add(ev, &tv);
	}
	return ev;
}

int sup_init(struct sup *s, struct lc_svc *svc)
{
	memset(s, 0, sizeof(*s));
	s->svc = svc;
	s->base = svc->d.base;
	const struct lc_config *cfg = svc->cfg;
	char err[256];
	if (make_dirs(s) != 0) {
		log_error("supervisor.dirs_failed", LF_S("error",
							strerror(errno)));
		return -1;
	}
	if (ports_init(&s->pool, (int)cfg->system.ports.base_port,
		       (int)cfg->system.ports.port_range_end) != 0)
		return -1;
	s->pool.probe = ports_probe_bind;
	s->curl = lc_curl_new(s->base, err, sizeof(err));
	if (!s->curl) {
		log_error("supervisor.curl_failed", LF_S("error", err));
		return -1;
	}
	if (proc_boot_id(s->kernel_boot_id, sizeof(s->kernel_boot_id)) != 0)
		snprintf(s->kernel_boot_id, sizeof(s->kernel_boot_id),
			 "00000000-0000-0000-0000-000000000000");
	random_boot_id(s->boot_id, sizeof(s->boot_id));
	sup_set_command(s, &cfg->system.freqtrade.command,
			cfg->system.freqtrade.version);
	register_metrics(s);
	s->ev_chld = evsignal_new(s->base, SIGCHLD, on_sigchld, s);
	if (!s->ev_chld || event_add(s->ev_chld, NULL) != 0)
		return -1;
	s->ev_flush = add_timer(s, on_flush, false, -1);
	s->ev_tick = add_timer(s, on_tick, true, TICK_MS);
	svc->on_shutdown = on_shutdown;
	svc->on_reload = on_reload;
	svc->arg = s;
	svc->d.shutdown_ms = cfg->system.freqtrade.shutdown_timeout * 1000 +
			     DRAIN_MARGIN_MS;
	sup_update_gauges(s);
	if (rpc_register(s) != 0 || upgrade_register(s) != 0)
		return -1;
	reconcile_start(s);
	return 0;
}

/* Answer what still waits, so no request is orphaned. */
static void cancel_pending(struct sup *s)
{
	for (size_t i = 0; i < s->nbots; i++) {
		struct bot *b = s->bots[i];
		if (b->http) {
			lc_curl_cancel(b->http);
			b->http = NULL;
		}
		if (b->pending_delete) {
			lc_bus_reply_err(b->pending_delete, "cancelled",
					 "the supervisor is shutting down");
			b->pending_delete = NULL;
		}
	}
}

void sup_teardown(struct sup *s)
{
	s->dying = true;
	cancel_pending(s);
	/* The pool's pending callbacks (a flush) run now, while s lives. */
	lc_db_free(s->svc->db);
	s->svc->db = NULL;
	lc_curl_free(s->curl);
	lc_bus_client_free(s->backup);
	upgrade_free(s->up);
	for (size_t i = 0; i < s->nbots; i++)
		bot_free(s->bots[i]);
	free(s->bots);
	ports_release(&s->pool);
	for (size_t i = 0; i < s->ncmd; i++)
		free(s->cmd[i]);
	free(s->cmd);
	if (s->ev_chld)
		event_free(s->ev_chld);
	if (s->ev_flush)
		event_free(s->ev_flush);
	if (s->ev_tick)
		event_free(s->ev_tick);
	if (s->ev_boot)
		event_free(s->ev_boot);
	free(s->dir_config);
	free(s->dir_logs);
	free(s->dir_userdata);
}
