/* lc_daemon: flags and exit codes, signals on the loop, graceful and
 * forced shutdown, reload hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libcommon/clock.h"
#include "libcommon/daemon.h"
#include "libcommon/log.h"

/* argv strings are writable char * by C's rules; literals are const. */
#define S(x) ((char *)(x))

/* Run lc_daemon_init with argv in a child; return its exit status and
 * what it printed on stdout. */
static int child_init(char **argv, int argc, char *out, size_t outlen)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		struct lc_daemon d;
		lc_daemon_init(&d, "testd", "1.2.3", argc, argv, NULL);
		printf("config=%s\n", d.config_dir);
		fflush(stdout);
		_exit(42);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(p[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void flags(void **state)
{
	(void)state;
	char out[4096];
	char *v[] = { S("testd"), S("--version"), NULL };
	assert_int_equal(child_init(v, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "testd 1.2.3\n");
	char *h[] = { S("testd"), S("--help"), NULL };
	assert_int_equal(child_init(h, 2, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--config DIR"));
	char *bad[] = { S("testd"), S("--bogus"), NULL };
	assert_int_equal(child_init(bad, 2, out, sizeof(out)), 100);
	assert_non_null(strstr(out, "'--bogus'"));
	char *extra[] = { S("testd"), S("stray"), NULL };
	assert_int_equal(child_init(extra, 2, out, sizeof(out)), 100);
	char *cfg[] = { S("testd"), S("--config"), S("/etc/btcw"), NULL };
	assert_int_equal(child_init(cfg, 3, out, sizeof(out)), 42);
	assert_non_null(strstr(out, "config=/etc/btcw\n"));
}

struct hooks {
	int reloads;
	int shutdowns;
	bool drain;        /* call lc_daemon_drained from a timer */
	struct event *ev;
	struct lc_daemon *d;
};

static void drained_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hooks *h = arg;
	lc_daemon_drained(h->d);
}

static void on_shutdown(struct lc_daemon *d, void *arg)
{
	(void)d;
	struct hooks *h = arg;
	h->shutdowns++;
	if (h->drain) {
		struct timeval tv = { 0, 50000 };
		evtimer_add(h->ev, &tv);
	}
}

static void on_reload(struct lc_daemon *d, void *arg)
{
	(void)d;
	struct hooks *h = arg;
	h->reloads++;
}

static void raise_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	raise((int)(intptr_t)arg);
}

/* A loop with the hooks installed; signals are raised from timers. */
static int run_with(struct hooks *h, const int *sigs, int nsigs,
		    int64_t deadline_ms)
{
	char *argv[] = { S("testd"), NULL };
	struct lc_daemon d;
	lc_daemon_init(&d, "testd", "0", 1, argv, NULL);
	lc_log_set_level(LC_LOG_ERROR);
	d.shutdown_ms = deadline_ms;
	d.on_shutdown = on_shutdown;
	d.on_reload = on_reload;
	d.arg = h;
	h->d = &d;
	h->ev = evtimer_new(d.base, drained_cb, h);
	struct event *evs[4];
	for (int i = 0; i < nsigs; i++) {
		evs[i] = evtimer_new(d.base, raise_cb,
				     (void *)(intptr_t)sigs[i]);
		struct timeval tv = { 0, 10000 * (i + 1) };
		evtimer_add(evs[i], &tv);
	}
	int rc = lc_daemon_run(&d);
	for (int i = 0; i < nsigs; i++)
		event_free(evs[i]);
	event_free(h->ev);
	lc_daemon_release(&d);
	return rc;
}

static void graceful_shutdown_waits_for_drain(void **state)
{
	(void)state;
	struct hooks h = { .drain = true };
	int sigs[] = { SIGHUP, SIGTERM };
	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(run_with(&h, sigs, 2, 5000), 0);
	int64_t took = lc_clock_mono_ms() - t0;
	assert_int_equal(h.reloads, 1);
	assert_int_equal(h.shutdowns, 1);
	assert_in_range(took, 60, 4000); /* waited for the drain timer */
}

static void deadline_stops_a_stuck_drain(void **state)
{
	(void)state;
	struct hooks h = { .drain = false };
	int sigs[] = { SIGINT };
	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(run_with(&h, sigs, 1, 200), 0);
	int64_t took = lc_clock_mono_ms() - t0;
	assert_int_equal(h.shutdowns, 1);
	assert_in_range(took, 200, 4000);
}

static void second_signal_exits_at_once(void **state)
{
	(void)state;
	struct hooks h = { .drain = false };
	int sigs[] = { SIGTERM, SIGTERM };
	int64_t t0 = lc_clock_mono_ms();
	assert_int_equal(run_with(&h, sigs, 2, 10000), 0);
	assert_true(lc_clock_mono_ms() - t0 < 5000);
	assert_int_equal(h.shutdowns, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags),
		cmocka_unit_test(graceful_shutdown_waits_for_drain),
		cmocka_unit_test(deadline_stops_a_stuck_drain),
		cmocka_unit_test(second_signal_exits_at_once),
	};
	return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
