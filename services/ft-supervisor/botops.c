/* Side effects of the lifecycle actions (botops.h). */
#include "services/ft-supervisor/botops.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/curl.h"
#include "libcommon/log.h"
#include "services/ft-supervisor/botapi.h"
#include "services/ft-supervisor/ftconfig.h"
#include "services/ft-supervisor/proc.h"
#include "services/ft-supervisor/sup.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define PING_FIRST_MS 100   /* first /ping after the spawn */
#define PING_MAX_MS 1000    /* ping interval grows to this */
#define PING_TIMEOUT_MS 2000
#define STOP_CALL_MAX_MS 5000 /* POST /stop before SIGTERM, at most */
#define MIN_RESTART_MS 1000 /* s6: at least a second between restarts */
#define HEALTH_TIMEOUT_MS 5000
#define HEALTH_MAX_FAILURES 3

static void random_hex(char *out, size_t bytes)
{
	unsigned char r[64];
	if (bytes > sizeof(r))
		bytes = sizeof(r);
	size_t got = 0;
	while (got < bytes) {
		ssize_t n = getrandom(r + got, bytes - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* the kernel's CSPRNG failing is fatal */
		got += (size_t)n;
	}
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

int botops_write_config(struct bot *b, int port, char *err, size_t n)
{
	struct sup *s = b->sup;
	char path[4096], db[4096], jwt[65];
	if (sup_path(s, b->id, "config", path, sizeof(path)) != 0 ||
	    sup_path(s, b->id, "sqlite", db, sizeof(db)) != 0) {
		snprintf(err, n, "path too long");
		return -1;
	}
	random_hex(jwt, 32);
	struct ftconfig_in in = {
		.id = b->id, .port = port, .spec = b->spec,
		.api_user = b->api_user, .api_pass = b->api_pass,
		.jwt_secret = jwt, .token = b->token, .db_path = db,
		.cfg = sup_cfg(s),
	};
	cJSON *c = ftconfig_build(&in, err, n);
	if (!c)
		return -1;
	int rv = ftconfig_write(path, c, err, n);
	cJSON_Delete(c);
	return rv;
}

/* argv = the command in force + trade --config F --logfile L. */
static char **bot_argv(const struct bot *b)
{
	const struct sup *s = b->sup;
	char **argv = calloc(s->ncmd + 6, sizeof(char *));
	char cfg[4096], log[4096];
	if (!argv || sup_path(s, b->id, "config", cfg, sizeof(cfg)) ||
	    sup_path(s, b->id, "log", log, sizeof(log))) {
		free(argv);
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < s->ncmd; i++)
		argv[k++] = strdup(s->cmd[i]);
	argv[k++] = strdup("trade");
	argv[k++] = strdup("--config");
	argv[k++] = strdup(cfg);
	argv[k++] = strdup("--logfile");
	argv[k++] = strdup(log);
	for (size_t i = 0; i < k; i++)
		if (!argv[i]) {
			proc_env_free(argv);
			return NULL;
		}
	return argv;
}

static int spawn_process(struct bot *b, char *err, size_t n)
{
	const struct lc_config *cfg = sup_cfg(b->sup);
	char out[4096];
	char **argv = bot_argv(b);
	char **env = proc_bot_env();
	int rv = -1;
	if (!argv || !env || sup_path(b->sup, b->id, "stderr", out,
				       sizeof(out)) != 0) {
		snprintf(err, n, "out of memory");
		goto done;
	}
	pid_t pid;
	rv = proc_spawn(argv, env,
			cfg->system.freqtrade.user_data_directory, out, &pid,
			err, n);
	if (rv == 0) {
		b->pid = pid;
		b->child = true;
		struct proc_stat st;
		b->starttime = proc_read_stat(pid, &st) == 0 ? st.starttime
							      : 0;
	}
done:
	proc_env_free(argv);
	proc_env_free(env);
	return rv;
}

int botops_spawn(struct bot *b)
{
	struct sup *s = b->sup;
	const struct lc_config *cfg = sup_cfg(s);
	char err[512];
	int port = ports_alloc(&s->pool, (int)cfg->system.ports.base_port +
						 b->id);
	if (port < 0) {
		b->start_err = START_LIMIT;
		snprintf(b->last_error, sizeof(b->last_error),
			 "no free port in %lld-%lld",
			 (long long)cfg->system.ports.base_port,
			 (long long)cfg->system.ports.port_range_end);
		return -1;
	}
	if (botops_write_config(b, port, err, sizeof(err)) != 0 ||
	    spawn_process(b, err, sizeof(err)) != 0) {
		ports_free(&s->pool, port);
		b->start_err = START_SPAWN;
		snprintf(b->last_error, sizeof(b->last_error), "%s", err);
		return -1;
	}
	b->port = port;
	b->start_err = START_OK;
	b->spawn_mono = lc_clock_mono_ms();
	b->adopting = false;
	log_info("bot.spawned", LF_I("id", b->id), LF_I("pid", b->pid),
		 LF_I("port", port));
	return 0;
}

void botops_kill(struct bot *b, int sig)
{
	if (b->pid <= 0)
		return;
	if (proc_kill_group(b->pid, sig) != 0 && errno != ESRCH)
		log_warn("bot.kill_failed", LF_I("id", b->id),
			 LF_I("pid", b->pid), LF_S("error", strerror(errno)));
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bot_dispatch(arg, EV_DEADLINE);
}

void botops_arm_deadline(struct bot *b, int64_t ms)
{
	if (!b->ev_timer)
		b->ev_timer = evtimer_new(b->sup->base, on_deadline, b);
	struct timeval tv;
	lc_clock_tv(&tv, ms);
	evtimer_add(b->ev_timer, &tv);
}

void botops_cancel(struct bot *b)
{
	if (b->ev_timer)
		evtimer_del(b->ev_timer);
	if (b->ev_poll)
		evtimer_del(b->ev_poll);
	if (b->http) {
		lc_curl_cancel(b->http);
		b->http = NULL;
	}
}

static void schedule_ping(struct bot *b, int64_t ms);

static void on_ping(const struct lc_curl_response *r, void *arg)
{
	struct bot *b = arg;
	b->http = NULL;
	if (b->sup->dying || b->state != BOT_STARTING)
		return;
	if (botapi_is_pong(r)) {
		b->ready_mono = lc_clock_mono_ms();
		bot_dispatch(b, EV_READY);
		return;
	}
	b->ping_delay_ms = b->ping_delay_ms * 2 > PING_MAX_MS
				   ? PING_MAX_MS : b->ping_delay_ms * 2;
	schedule_ping(b, b->ping_delay_ms);
}

static void ping_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bot *b = arg;
	struct botapi_target t;
	botapi_target_of(b, &t);
	b->http = botapi_call(b->sup->curl, &t, "GET", "ping",
			      PING_TIMEOUT_MS, on_ping, b);
	if (!b->http)
		schedule_ping(b, PING_MAX_MS);
}

static void schedule_ping(struct bot *b, int64_t ms)
{
	if (!b->ev_poll)
		b->ev_poll = evtimer_new(b->sup->base, ping_now, b);
	struct timeval tv;
	lc_clock_tv(&tv, ms);
	evtimer_add(b->ev_poll, &tv);
}

void botops_start_ping(struct bot *b)
{
	b->ping_delay_ms = PING_FIRST_MS;
	schedule_ping(b, b->adopting ? 0 : PING_FIRST_MS);
}

static void on_stop_reply(const struct lc_curl_response *r, void *arg)
{
	struct bot *b = arg;
	b->http = NULL;
	if (b->sup->dying || b->state != BOT_STOPPING)
		return;
	if (r->error || r->status != 200)
		log_info("bot.stop_call_failed", LF_I("id", b->id),
			 LF_S("error", r->error ? r->error : "http status"),
			 LF_I("status", r->status));
	botops_kill(b, SIGTERM);
}

void botops_send_stop(struct bot *b)
{
	int64_t t = sup_cfg(b->sup)->system.freqtrade.shutdown_timeout * 1000;
	struct botapi_target tg;
	botapi_target_of(b, &tg);
	b->http = botapi_call(b->sup->curl, &tg, "POST", "stop",
			      t < STOP_CALL_MAX_MS ? t : STOP_CALL_MAX_MS,
			      on_stop_reply, b);
	if (!b->http)
		botops_kill(b, SIGTERM);
}

void botops_release(struct bot *b)
{
	if (b->ev_pidfd) {
		event_free(b->ev_pidfd);
		b->ev_pidfd = NULL;
	}
	if (b->pidfd >= 0) {
		close(b->pidfd);
		b->pidfd = -1;
	}
	b->pid = 0;
	b->starttime = 0;
	b->child = false;
	b->health_next = 0;
	b->health_failures = 0;
	b->killed_silent = false;
	if (b->port > 0)
		ports_free(&b->sup->pool, b->port);
	b->port = 0;
}

static void on_health(const struct lc_curl_response *r, void *arg)
{
	struct bot *b = arg;
	b->http = NULL;
	if (b->sup->dying || b->state != BOT_RUNNING)
		return;
	if (botapi_is_pong(r)) {
		b->health_failures = 0;
		return;
	}
	log_warn("bot.health_failed", LF_I("id", b->id),
		 LF_I("failures", b->health_failures + 1),
		 LF_S("error", r->error ? r->error : "bad answer"));
	if (++b->health_failures < HEALTH_MAX_FAILURES)
		return;
	/* Alive but deaf (FreqTrade's API thread can die on its own):
	 * only a restart brings it back. */
	b->health_failures = 0;
	b->killed_silent = true;
	botops_kill(b, SIGKILL);
}

void botops_health_tick(struct bot *b, int64_t now)
{
	int64_t iv = sup_cfg(b->sup)->system.freqtrade.health_check_interval
		     * 1000;
	if (b->state != BOT_RUNNING || b->http)
		return;
	if (b->health_next == 0) /* spread the bots over the interval */
		b->health_next = now + iv + (b->id * 7919) % (iv + 1);
	if (now < b->health_next)
		return;
	b->health_next = now + iv;
	struct botapi_target t;
	botapi_target_of(b, &t);
	b->http = botapi_call(b->sup->curl, &t, "GET", "ping",
			      iv < HEALTH_TIMEOUT_MS ? iv : HEALTH_TIMEOUT_MS,
			      on_health, b);
}

int64_t botops_backoff_delay(struct bot *b)
{
	const struct lc_cfg_sys_restart *r =
		&sup_cfg(b->sup)->system.freqtrade.restart;
	/* The policy may have been reloaded since the bot was made. */
	b->backoff.base_ms = r->backoff_base_ms;
	b->backoff.max_ms = r->backoff_max_ms;
	int64_t d = lc_backoff_next(&b->backoff);
	return d < MIN_RESTART_MS ? MIN_RESTART_MS : d;
}

void botops_exit_reason(const struct bot *b, char *out, unsigned n)
{
	char what[64], line[256], path[4096];
	if (b->term_signal > 0)
		snprintf(what, sizeof(what), "killed by signal %d (%s)",
			 b->term_signal, strsignal(b->term_signal));
	else if (b->exit_code >= 0)
		snprintf(what, sizeof(what), "exited with code %d",
			 b->exit_code);
	else
		snprintf(what, sizeof(what), "exited");
	if (b->killed_silent)
		snprintf(what, sizeof(what), "killed: /api/v1/ping silent %d "
			 "times", HEALTH_MAX_FAILURES);
	line[0] = '\0';
	if (sup_path(b->sup, b->id, "stderr", path, sizeof(path)) == 0)
		proc_last_line(path, line, sizeof(line));
	snprintf(out, n, "%s%s%s", what, line[0] ? ": " : "", line);
}
