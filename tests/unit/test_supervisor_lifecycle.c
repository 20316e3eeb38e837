/* ft-supervisor's lifecycle: the state x event table, driven with its
 * side effects stubbed out and recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ft-supervisor/lifecycle.c"

/* ---- stubs: every effect is appended to a trace ---- */

static char trace[4096];
static int spawn_fails;   /* botops_spawn: 0 ok, else start_err */
static int outcomes[2];   /* upgrade_bot_outcome: [failed, ok] */
static int deletes, alerts_p0, alerts_p1;
static struct lc_config cfg;

static void note(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(trace);
	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
}

const struct lc_config *sup_cfg(const struct sup *s)
{
	(void)s;
	return &cfg;
}

int botops_spawn(struct bot *b)
{
	note("spawn;");
	if (spawn_fails) {
		b->start_err = (enum start_err)spawn_fails;
		snprintf(b->last_error, sizeof(b->last_error), "no luck");
		return -1;
	}
	b->pid = 4242;
	b->port = 8082;
	return 0;
}

void botops_kill(struct bot *b, int sig)
{
	(void)b;
	note("kill(%d);", sig);
}

void botops_arm_deadline(struct bot *b, int64_t ms)
{
	(void)b;
	note("arm(%lld);", (long long)ms);
}

void botops_cancel(struct bot *b)
{
	(void)b;
}

void botops_start_ping(struct bot *b)
{
	(void)b;
	note("ping;");
}

void botops_send_stop(struct bot *b)
{
	(void)b;
	note("post_stop;");
}

void botops_release(struct bot *b)
{
	b->pid = 0;
	b->port = 0;
	note("release;");
}

int64_t botops_backoff_delay(struct bot *b)
{
	(void)b;
	return 1000;
}

void botops_exit_reason(const struct bot *b, char *out, unsigned n)
{
	snprintf(out, n, "exited with code %d", b->exit_code);
}

void bot_set_status(struct bot *b, enum bot_status st)
{
	b->status = st;
}

void bot_mark_dirty(struct bot *b)
{
	b->dirty = true;
}

const char *bot_name(const struct bot *b)
{
	(void)b;
	return "t";
}

const char *status_name(enum bot_status st)
{
	static const char *const n[] = { "created", "starting", "running",
					 "stopping", "stopped", "failed",
					 "deleted" };
	return n[st];
}

void ev_state(struct sup *s, const struct bot *b, enum bot_status prev,
	      const char *cause, const char *reason)
{
	(void)s;
	(void)prev;
	(void)reason;
	note("state(%s,%s);", status_name(b->status), cause);
}

void ev_route(struct sup *s, const struct bot *b, bool add)
{
	(void)s;
	(void)b;
	note("route(%s);", add ? "add" : "remove");
}

void ev_alert(struct sup *s, const struct bot *b, const char *kind,
	      const char *priority, const char *title, cJSON *details,
	      const char *fmt, ...)
{
	(void)s;
	(void)b;
	(void)title;
	(void)fmt;
	cJSON_Delete(details);
	if (strcmp(priority, "P0") == 0)
		alerts_p0++;
	else
		alerts_p1++;
	note("alert(%s);", kind);
}

void ev_alert_resolved(struct sup *s, const struct bot *b, const char *kind,
		       int64_t raised_ms, const char *message)
{
	(void)s;
	(void)b;
	(void)raised_ms;
	(void)message;
	note("resolved(%s);", kind);
}

bool upgrade_active(const struct sup *s)
{
	(void)s;
	return false;
}

void upgrade_bot_outcome(struct sup *s, struct bot *b, bool ok)
{
	(void)s;
	(void)b;
	outcomes[ok]++;
}

void upgrade_bot_idle(struct sup *s, struct bot *b)
{
	(void)s;
	(void)b;
}

void rpc_delete_stopped(struct bot *b)
{
	(void)b;
	deletes++;
}

void sup_check_drained(struct sup *s)
{
	(void)s;
}

void sup_update_gauges(struct sup *s)
{
	(void)s;
}

/* ---- fixtures ---- */

static struct sup sup;
static struct bot bot;

static int setup(void **state)
{
	(void)state;
	memset(&sup, 0, sizeof(sup));
	memset(&bot, 0, sizeof(bot));
	memset(&cfg, 0, sizeof(cfg));
	trace[0] = '\0';
	spawn_fails = 0;
	deletes = alerts_p0 = alerts_p1 = 0;
	outcomes[0] = outcomes[1] = 0;
	cfg.system.capacity.max_strategies = 2;
	cfg.system.freqtrade.startup_timeout = 60;
	cfg.system.freqtrade.shutdown_timeout = 30;
	cfg.system.freqtrade.restart.crash_loop_max_restarts = 2;
	cfg.system.freqtrade.restart.crash_loop_window = 300;
	sup.pool.n = 10;
	bot.sup = &sup;
	bot.id = 3;
	bot.pidfd = -1;
	lc_backoff_init(&bot.backoff, 1000, 8000, 1);
	return 0;
}

static void expect(const char *want)
{
	if (strcmp(trace, want) != 0)
		fail_msg("trace\n  got:  %s\n  want: %s", trace, want);
	trace[0] = '\0';
}

static void start_ok(void)
{
	const char *code;
	char msg[256];
	assert_int_equal(bot_request_start(&bot, &code, msg, sizeof(msg)), 0);
}

static void exit_with(int code)
{
	bot_exited(&bot, (code & 0xff) << 8, true);
}

/* ---- tests ---- */

static void table_shape(void **state)
{
	(void)state;
	/* a stop request applies everywhere; an exit wherever a process
	 * may exist; READY only while starting */
	for (int st = 0; st < BOT_NSTATES; st++) {
		assert_non_null(table[st][EV_STOP]);
		bool process = st == BOT_STARTING || st == BOT_RUNNING ||
			       st == BOT_STOPPING;
		assert_true((table[st][EV_EXIT] != NULL) == process);
		assert_true((table[st][EV_READY] != NULL) ==
			    (st == BOT_STARTING));
	}
	assert_null(table[BOT_IDLE][EV_DEADLINE]);
	assert_null(table[BOT_RUNNING][EV_START]);
	assert_non_null(table[BOT_BACKOFF][EV_DEADLINE]);
	assert_non_null(table[BOT_STOPPING][EV_DEADLINE]);
}

static void start_ready_stop(void **state)
{
	(void)state;
	start_ok();
	expect("spawn;state(starting,start_requested);arm(60000);ping;");
	assert_int_equal(bot.state, BOT_STARTING);
	assert_int_equal(sup.slots_used, 1);
	assert_true(bot.want_run);
	bot_dispatch(&bot, EV_READY);
	expect("state(running,ready);route(add);");
	assert_int_equal(bot.state, BOT_RUNNING);
	bot_dispatch(&bot, EV_READY); /* a late answer: ignored */
	expect("");
	bot_request_stop(&bot, STOP_USER);
	expect("route(remove);state(stopping,stop_requested);arm(30000);"
	       "post_stop;");
	assert_false(bot.want_run);
	bot_dispatch(&bot, EV_DEADLINE);
	expect("kill(9);arm(5000);");
	exit_with(0);
	expect("release;state(stopped,exited);");
	assert_int_equal(bot.state, BOT_IDLE);
	assert_int_equal(sup.slots_used, 0);
}

static void spawn_failure(void **state)
{
	(void)state;
	spawn_fails = START_SPAWN;
	start_ok(); /* the request was taken; the start failed */
	expect("spawn;state(failed,start_failed);"
	       "alert(strategy_start_failed);");
	assert_int_equal(bot.state, BOT_IDLE);
	assert_false(bot.want_run);
	spawn_fails = START_LIMIT;
	const char *code;
	char msg[256];
	assert_int_equal(bot_request_start(&bot, &code, msg, sizeof(msg)),
			 -1);
	assert_string_equal(code, "limit_reached");
}

static void never_ready(void **state)
{
	(void)state;
	start_ok();
	expect("spawn;state(starting,start_requested);arm(60000);ping;");
	bot_dispatch(&bot, EV_DEADLINE);
	expect("kill(9);arm(5000);");
	assert_int_equal(bot.state, BOT_STOPPING);
	exit_with(137);
	expect("release;state(failed,start_failed);"
	       "alert(strategy_start_failed);");
	assert_int_equal(bot.state, BOT_IDLE);
	assert_false(bot.want_run);
	assert_non_null(strstr(bot.last_error, "within 60 s"));
}

static void crash_restart_then_loop(void **state)
{
	(void)state;
	start_ok();
	bot_dispatch(&bot, EV_READY);
	expect("spawn;state(starting,start_requested);arm(60000);ping;"
	       "state(running,ready);route(add);");
	exit_with(1);
	expect("route(remove);release;state(failed,crashed);"
	       "alert(strategy_crashed);arm(1000);");
	assert_int_equal(bot.state, BOT_BACKOFF);
	assert_int_equal(sup.slots_used, 1); /* keeps its slot */
	bot_dispatch(&bot, EV_DEADLINE);
	expect("spawn;state(starting,restarting);arm(60000);ping;");
	assert_int_equal(bot.restart_count, 1);
	exit_with(1); /* before ready: still a crash */
	expect("release;state(failed,crashed);alert(strategy_crashed);"
	       "arm(1000);");
	bot_dispatch(&bot, EV_DEADLINE);
	expect("spawn;state(starting,restarting);arm(60000);ping;");
	assert_int_equal(bot.recent_restarts, 2);
	exit_with(3);
	expect("release;state(failed,crash_loop);"
	       "alert(strategy_crash_loop);");
	assert_int_equal(bot.state, BOT_IDLE);
	assert_false(bot.want_run);
	assert_int_equal(alerts_p0, 1);
	assert_true(bot.loop_alert);
	/* a requested start forgets it; ready resolves the alert */
	start_ok();
	assert_int_equal(bot.restart_count, 0);
	bot_dispatch(&bot, EV_READY);
	expect("spawn;state(starting,start_requested);arm(60000);ping;"
	       "state(running,ready);route(add);"
	       "resolved(strategy_crash_loop);");
}

static void start_while_stopping(void **state)
{
	(void)state;
	start_ok();
	bot_dispatch(&bot, EV_READY);
	bot_request_stop(&bot, STOP_USER);
	trace[0] = '\0';
	start_ok();
	expect("");
	assert_int_equal(bot.state, BOT_STOPPING);
	exit_with(0);
	expect("release;state(stopped,exited);spawn;"
	       "state(starting,start_requested);arm(60000);ping;");
	assert_int_equal(bot.state, BOT_STARTING);
}

static void stop_during_backoff(void **state)
{
	(void)state;
	start_ok();
	exit_with(2);
	assert_int_equal(bot.state, BOT_BACKOFF);
	trace[0] = '\0';
	bot_request_stop(&bot, STOP_USER);
	expect("state(stopped,stop_requested);");
	assert_int_equal(bot.state, BOT_IDLE);
	assert_int_equal(sup.slots_used, 0);
	bot_dispatch(&bot, EV_DEADLINE); /* a stale timer: ignored */
	expect("");
}

static void capacity_limit(void **state)
{
	(void)state;
	const char *code;
	char msg[256];
	sup.slots_used = 2;
	assert_int_equal(bot_request_start(&bot, &code, msg, sizeof(msg)),
			 -1);
	assert_string_equal(code, "limit_reached");
	assert_non_null(strstr(msg, "max_strategies (2)"));
	expect("");
	sup.slots_used = 0;
	sup.pool.used = 10;
	assert_int_equal(bot_request_start(&bot, &code, msg, sizeof(msg)),
			 -1);
	assert_non_null(strstr(msg, "exhausted"));
}

static void delete_and_shutdown(void **state)
{
	(void)state;
	start_ok();
	bot_dispatch(&bot, EV_READY);
	bot.pending_delete = (struct lc_bus_req *)&bot; /* any non-NULL */
	bot_request_stop(&bot, STOP_DELETE);
	exit_with(0);
	assert_int_equal(deletes, 1);
	/* a shutdown stop keeps the desired state */
	bot.pending_delete = NULL;
	bot.want_run = false;
	start_ok();
	bot_request_stop(&bot, STOP_SHUTDOWN);
	assert_true(bot.want_run);
}

static void upgrade_start_outcomes(void **state)
{
	(void)state;
	bot.upgrading = true;
	start_ok();
	exit_with(1); /* before ready during an upgrade: a failure */
	assert_int_equal(bot.state, BOT_IDLE);
	assert_int_equal(bot.status, ST_FAILED);
	assert_true(bot.want_run); /* the upgrade restarts it */
	assert_int_equal(outcomes[0], 1);
	bot.upgrading = true;
	start_ok();
	bot_dispatch(&bot, EV_READY);
	assert_int_equal(outcomes[1], 1);
	assert_false(bot.upgrading);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(table_shape, setup),
		cmocka_unit_test_setup(start_ready_stop, setup),
		cmocka_unit_test_setup(spawn_failure, setup),
		cmocka_unit_test_setup(never_ready, setup),
		cmocka_unit_test_setup(crash_restart_then_loop, setup),
		cmocka_unit_test_setup(start_while_stopping, setup),
		cmocka_unit_test_setup(stop_during_backoff, setup),
		cmocka_unit_test_setup(capacity_limit, setup),
		cmocka_unit_test_setup(delete_and_shutdown, setup),
		cmocka_unit_test_setup(upgrade_start_outcomes, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
