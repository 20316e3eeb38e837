/*
 * The lifecycle of one bot: a state x event table (s6-supervise's
 * model). Every event is dispatched through the table; a cell names the
 * action, and the action returns the next state. An empty cell means
 * the event does not apply in that state and is ignored (logged at
 * debug): a late /ping answer after a stop, a start while running.
 *
 *              START         STOP          READY     DEADLINE      EXIT
 *  IDLE        spawn         note          -         -             -
 *  STARTING    -             terminate     running   start failed  crashed
 *  RUNNING     -             stop          -         -             crashed
 *  STOPPING    start after   note          -         SIGKILL       stopped
 *  BACKOFF     spawn now     cancel        -         restart       -
 *
 * Crashes (an exit nobody asked for) restart after an exponential
 * backoff with jitter, at least a second apart; crash_loop_max_restarts
 * restarts within crash_loop_window seconds is a crash loop: the bot
 * stays failed, its desired state becomes stopped and a P0 alert goes
 * out. A bot that does not answer /ping within startup_timeout is
 * killed and marked failed (never retried on its own: a bot whose port
 * is taken would hang again).
 */
#include "services/ft-supervisor/sup.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/ft-supervisor/botops.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define KILL_RECHECK_MS 5000 /* after SIGKILL, complain this often */

typedef enum bot_state (*bot_action)(struct bot *b);

static const char *const state_names[BOT_NSTATES] = {
	[BOT_IDLE] = "idle", [BOT_STARTING] = "starting",
	[BOT_RUNNING] = "running", [BOT_STOPPING] = "stopping",
	[BOT_BACKOFF] = "backoff",
};

const char *bot_state_name(enum bot_state st)
{
	return (unsigned)st < BOT_NSTATES ? state_names[st] : "?";
}

static const struct lc_cfg_sys_freqtrade *ft_cfg(const struct bot *b)
{
	return &sup_cfg(b->sup)->system.freqtrade;
}

/* Change the API status, publish strategy.state, schedule the write. */
static void publish_status(struct bot *b, enum bot_status st,
			   const char *cause, const char *reason)
{
	enum bot_status prev = b->status;
	bot_set_status(b, st);
	ev_state(b->sup, b, prev, cause, reason);
	bot_mark_dirty(b);
}

/* The start did not happen or did not finish: failed, not retried. */
static enum bot_state start_failed(struct bot *b)
{
	/* The upgrade restarts its bots itself (or rolls back): they stay
	 * desired running. */
	if (!b->upgrading)
		b->want_run = false;
	b->failed_ms = lc_clock_wall_ms();
	lc_series_inc(b->sup->m.start_failures);
	publish_status(b, ST_FAILED, "start_failed", b->last_error);
	ev_alert(b->sup, b, BTCW_ALERT_STRATEGY_START_FAILED, "P1",
		 "strategy failed to start", NULL,
		 "strategy %d (%s) did not start: %s", b->id, bot_name(b),
		 b->last_error);
	if (b->upgrading) {
		b->upgrading = false;
		upgrade_bot_outcome(b->sup, b, false);
	}
	return BOT_IDLE;
}

/* Spawn and enter STARTING, or fail the start. */
static enum bot_state spawn(struct bot *b, const char *cause)
{
	if (botops_spawn(b) != 0)
		return start_failed(b);
	lc_series_inc(b->sup->m.starts);
	publish_status(b, ST_STARTING, cause, NULL);
	botops_arm_deadline(b, ft_cfg(b)->startup_timeout * 1000);
	botops_start_ping(b);
	return BOT_STARTING;
}

/* ---- the actions ---- */

static enum bot_state idle_start(struct bot *b)
{
	return spawn(b, "start_requested");
}

static enum bot_state note_stop(struct bot *b)
{
	bot_mark_dirty(b); /* desired_state may have changed */
	return b->state;
}

static enum bot_state do_stop(struct bot *b)
{
	bool api_up = b->state == BOT_RUNNING;
	botops_cancel(b);
	if (api_up)
		ev_route(b->sup, b, false);
	publish_status(b, ST_STOPPING, "stop_requested", NULL);
	botops_arm_deadline(b, ft_cfg(b)->shutdown_timeout * 1000);
	if (api_up)
		botops_send_stop(b); /* then SIGTERM */
	else
		botops_kill(b, SIGTERM);
	return BOT_STOPPING;
}

static enum bot_state starting_ready(struct bot *b)
{
	botops_cancel(b);
	const char *cause = b->adopting ? "adopted" : "ready";
	if (!b->adopting) {
		b->started_ms = lc_clock_wall_ms();
		lc_series_observe(b->sup->m.start_latency,
				  (double)(lc_clock_mono_ms() - b->spawn_mono)
					  / 1000.0);
	} else {
		lc_series_inc(b->sup->m.adopted);
		if (b->started_ms <= 0)
			b->started_ms = lc_clock_wall_ms();
	}
	b->adopting = false;
	publish_status(b, ST_RUNNING, cause, NULL);
	ev_route(b->sup, b, true);
	if (b->loop_alert) {
		b->loop_alert = false;
		ev_alert_resolved(b->sup, b, BTCW_ALERT_STRATEGY_CRASH_LOOP,
				  b->loop_alert_ms,
				  "strategy is running again");
	}
	if (b->upgrading) {
		b->upgrading = false;
		upgrade_bot_outcome(b->sup, b, true);
	}
	return BOT_RUNNING;
}

static enum bot_state starting_deadline(struct bot *b)
{
	botops_cancel(b);
	if (b->adopting) {
		snprintf(b->last_error, sizeof(b->last_error),
			 "adopted process %d did not answer /api/v1/ping",
			 (int)b->pid);
		b->stop_why = STOP_UNHEALTHY;
	} else {
		snprintf(b->last_error, sizeof(b->last_error),
			 "no answer on /api/v1/ping within %lld s",
			 (long long)ft_cfg(b)->startup_timeout);
		b->stop_why = STOP_START_FAILED;
	}
	log_warn("bot.not_ready", LF_I("id", b->id), LF_I("pid", b->pid),
		 LF_I("port", b->port), LF_S("reason", b->last_error));
	/* Wedged before serving anything: nothing to save, no SIGTERM. */
	botops_kill(b, SIGKILL);
	botops_arm_deadline(b, KILL_RECHECK_MS);
	return BOT_STOPPING;
}

/* A crash inside the window counts; a long healthy run starts afresh. */
static bool crash_loop(struct bot *b, int64_t now, bool was_running)
{
	const struct lc_cfg_sys_restart *r = &ft_cfg(b)->restart;
	int64_t window = r->crash_loop_window * 1000;
	if (was_running && lc_clock_mono_ms() - b->ready_mono > window) {
		lc_backoff_reset(&b->backoff);
		b->recent_since = 0;
	}
	if (b->recent_since <= 0 || now - b->recent_since > window) {
		b->recent_since = now;
		b->recent_restarts = 0;
	}
	return b->recent_restarts >= r->crash_loop_max_restarts;
}

static enum bot_state give_up(struct bot *b, const char *reason)
{
	const struct lc_cfg_sys_restart *r = &ft_cfg(b)->restart;
	snprintf(b->last_error, sizeof(b->last_error),
		 "%d restarts in %lld s; not retrying (last: %.300s)",
		 b->recent_restarts, (long long)r->crash_loop_window, reason);
	b->want_run = false;
	b->loop_alert = true;
	b->loop_alert_ms = lc_clock_wall_ms();
	lc_series_inc(b->sup->m.crash_loops);
	publish_status(b, ST_FAILED, "crash_loop", b->last_error);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "restarts", b->recent_restarts);
	cJSON_AddNumberToObject(d, "window_seconds",
				(double)r->crash_loop_window);
	if (b->exit_code >= 0)
		cJSON_AddNumberToObject(d, "last_exit_code", b->exit_code);
	ev_alert(b->sup, b, BTCW_ALERT_STRATEGY_CRASH_LOOP, "P0",
		 "strategy keeps crashing", d,
		 "strategy %d (%s) crashed %d times in %lld s; restarts "
		 "stopped: %s", b->id, bot_name(b), b->recent_restarts + 1,
		 (long long)r->crash_loop_window, reason);
	return BOT_IDLE;
}

static enum bot_state crashed(struct bot *b)
{
	bool was_running = b->state == BOT_RUNNING;
	char reason[400];
	botops_cancel(b);
	if (was_running)
		ev_route(b->sup, b, false);
	botops_exit_reason(b, reason, sizeof(reason));
	botops_release(b);
	int64_t now = lc_clock_wall_ms();
	snprintf(b->last_error, sizeof(b->last_error), "%s", reason);
	b->failed_ms = now;
	b->stopped_ms = now;
	lc_series_inc(b->sup->m.crashes);
	if (b->upgrading) /* the upgrade decides what happens next */
		return start_failed(b);
	if (b->sup->shutting_down) {
		publish_status(b, ST_STOPPED, "exited", reason);
		return BOT_IDLE;
	}
	if (crash_loop(b, now, was_running))
		return give_up(b, reason);
	publish_status(b, ST_FAILED, "crashed", reason);
	ev_alert(b->sup, b, BTCW_ALERT_STRATEGY_CRASHED, "P1",
		 "strategy crashed", NULL,
		 "strategy %d (%s) %s; restarting", b->id, bot_name(b),
		 reason);
	botops_arm_deadline(b, botops_backoff_delay(b));
	return BOT_BACKOFF;
}

static enum bot_state stopping_start(struct bot *b)
{
	b->start_after_stop = true;
	return BOT_STOPPING;
}

static enum bot_state stopping_kill(struct bot *b)
{
	log_warn("bot.kill", LF_I("id", b->id), LF_I("pid", b->pid),
		 LF_S("why", "still alive after the stop deadline"));
	botops_kill(b, SIGKILL);
	botops_arm_deadline(b, KILL_RECHECK_MS);
	return BOT_STOPPING;
}

static enum bot_state stopping_exit(struct bot *b)
{
	botops_cancel(b);
	botops_release(b);
	b->stopped_ms = lc_clock_wall_ms();
	switch (b->stop_why) {
	case STOP_START_FAILED:
		return start_failed(b);
	case STOP_UNHEALTHY:
		publish_status(b, ST_FAILED, "exited", b->last_error);
		if (b->want_run && !b->sup->shutting_down)
			return spawn(b, "restarting");
		return BOT_IDLE;
	default:
		break;
	}
	publish_status(b, ST_STOPPED, "exited", NULL);
	if (b->start_after_stop && !b->sup->shutting_down &&
	    b->stop_why != STOP_DELETE) {
		b->start_after_stop = false;
		return spawn(b, "start_requested");
	}
	b->start_after_stop = false;
	return BOT_IDLE;
}

static enum bot_state backoff_restart(struct bot *b)
{
	b->recent_restarts++;
	b->restart_count++;
	lc_series_inc(b->sup->m.restarts);
	return spawn(b, "restarting");
}

static enum bot_state backoff_start(struct bot *b)
{
	botops_cancel(b);
	return spawn(b, "start_requested");
}

static enum bot_state backoff_stop(struct bot *b)
{
	botops_cancel(b);
	publish_status(b, ST_STOPPED, "stop_requested", NULL);
	return BOT_IDLE;
}

/* The table. NULL: the event is ignored in that state. */
static const bot_action table[BOT_NSTATES][BOT_NEVENTS] = {
	[BOT_IDLE] = {
		[EV_START] = idle_start,
		[EV_STOP] = note_stop,
	},
	[BOT_STARTING] = {
		[EV_STOP] = do_stop,
		[EV_READY] = starting_ready,
		[EV_DEADLINE] = starting_deadline,
		[EV_EXIT] = crashed,
	},
	[BOT_RUNNING] = {
		[EV_STOP] = do_stop,
		[EV_EXIT] = crashed,
	},
	[BOT_STOPPING] = {
		[EV_START] = stopping_start,
		[EV_STOP] = note_stop,
		[EV_DEADLINE] = stopping_kill,
		[EV_EXIT] = stopping_exit,
	},
	[BOT_BACKOFF] = {
		[EV_START] = backoff_start,
		[EV_STOP] = backoff_stop,
		[EV_DEADLINE] = backoff_restart,
	},
};

static const char *const event_names[BOT_NEVENTS] = {
	"start", "stop", "ready", "deadline", "exit",
};

/* Enter a state; what depends on idleness runs last (it may start other
 * bots or finish a delete). */
static void enter(struct bot *b, enum bot_state to)
{
	struct sup *s = b->sup;
	enum bot_state from = b->state;
	b->state = to;
	if ((from == BOT_IDLE) != (to == BOT_IDLE)) {
		s->slots_used += to == BOT_IDLE ? -1 : 1;
		sup_update_gauges(s);
	}
	if (to != BOT_IDLE || from == BOT_IDLE)
		return;
	if (b->pending_delete)
		rpc_delete_stopped(b);
	else if (upgrade_active(s))
		upgrade_bot_idle(s, b);
	if (s->shutting_down)
		sup_check_drained(s);
}

void bot_dispatch(struct bot *b, enum bot_event ev)
{
	enum bot_state from = b->state;
	bot_action fn = table[from][ev];
	if (!fn) {
		log_debug("bot.event_ignored", LF_I("id", b->id),
			  LF_S("state", state_names[from]),
			  LF_S("event", event_names[ev]));
		return;
	}
	enum bot_state to = fn(b);
	log_debug("bot.transition", LF_I("id", b->id),
		  LF_S("from", state_names[from]),
		  LF_S("event", event_names[ev]),
		  LF_S("to", state_names[to]));
	enter(b, to);
}

/* ---- requests ---- */

static int refuse(const char **code, char *msg, size_t n, const char *c,
		  const char *text)
{
	*code = c;
	snprintf(msg, n, "%s", text);
	return -1;
}

static int check_capacity(struct bot *b, const char **code, char *msg,
			  size_t n)
{
	const struct lc_config *cfg = sup_cfg(b->sup);
	int64_t max = cfg->system.capacity.max_strategies;
	if (b->sup->slots_used >= max) {
		snprintf(msg, n, "max_strategies (%lld) reached: %d "
			 "strategies are running or starting",
			 (long long)max, b->sup->slots_used);
		*code = BTCW_ERR_LIMIT_REACHED;
		return -1;
	}
	if (ports_available(&b->sup->pool) == 0) {
		snprintf(msg, n, "port pool %lld-%lld is exhausted",
			 (long long)cfg->system.ports.base_port,
			 (long long)cfg->system.ports.port_range_end);
		*code = BTCW_ERR_LIMIT_REACHED;
		return -1;
	}
	return 0;
}

int bot_request_start(struct bot *b, const char **code, char *msg,
		      size_t n)
{
	if (b->pending_delete)
		return refuse(code, msg, n, BTCW_ERR_CONFLICT,
			      "the strategy is being deleted");
	if (b->state == BOT_STARTING || b->state == BOT_RUNNING) {
		b->want_run = true;
		bot_mark_dirty(b);
		return 0;
	}
	if (b->state == BOT_IDLE && check_capacity(b, code, msg, n) != 0)
		return -1;
	/* A requested start forgets earlier crashes. */
	b->want_run = true;
	b->restart_count = 0;
	b->recent_restarts = 0;
	b->recent_since = 0;
	lc_backoff_reset(&b->backoff);
	bot_dispatch(b, EV_START);
	if (b->state == BOT_IDLE && b->start_err == START_LIMIT)
		return refuse(code, msg, n, BTCW_ERR_LIMIT_REACHED,
			      b->last_error);
	return 0;
}

void bot_request_stop(struct bot *b, enum stop_why why)
{
	if (why == STOP_USER || why == STOP_DELETE) {
		b->want_run = false;
		b->start_after_stop = false;
	}
	if (b->state != BOT_STOPPING || why == STOP_DELETE)
		b->stop_why = why;
	bot_dispatch(b, EV_STOP);
}

void bot_exited(struct bot *b, int wstatus, bool known)
{
	b->exit_code = -1;
	b->term_signal = 0;
	if (known && WIFEXITED(wstatus))
		b->exit_code = WEXITSTATUS(wstatus);
	else if (known && WIFSIGNALED(wstatus))
		b->term_signal = WTERMSIG(wstatus);
	log_info("bot.exited", LF_I("id", b->id), LF_I("pid", b->pid),
		 LF_I("exit_code", b->exit_code),
		 LF_I("signal", b->term_signal),
		 LF_S("state", state_names[b->state]));
	bot_dispatch(b, EV_EXIT);
}

void bot_adopt(struct bot *b, pid_t pid, unsigned long long starttime,
	       int pidfd, int port)
{
	b->pid = pid;
	b->starttime = starttime;
	b->child = false;
	b->pidfd = pidfd;
	b->port = port;
	b->adopting = true;
	bot_set_status(b, ST_STARTING);
	enter(b, BOT_STARTING);
	botops_arm_deadline(b, ft_cfg(b)->startup_timeout * 1000);
	botops_start_ping(b);
}

bool sup_all_idle(const struct sup *s)
{
	return s->slots_used == 0;
}
