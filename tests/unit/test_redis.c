/* lc_redis against the real Redis of the test run (BTCW_TEST_REDIS_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/redis.h"

static const char *g_host;    /* BTCW_TEST_REDIS_HOST */
static int g_port;            /* BTCW_TEST_REDIS_PORT */
static char g_root[PATH_MAX]; /* the repository, for scripts/lib */

/* ---- helpers ------------------------------------------------------------ */

struct rep {
	int calls;         /* must end at exactly 1 */
	bool ok;
	bool had_reply;
	int type;          /* REDIS_REPLY_* */
	long long integer;
	char str[256];     /* string/status/error reply */
	size_t len;
	char err[300];
	size_t elements;
	char elems[8][32]; /* first elements of an array reply */
	int64_t at;
	int order;
};

static int g_seq;

static void on_rep(const redisReply *reply, const char *err, void *arg)
{
	struct rep *r = arg;
	r->calls++;
	r->at = lc_clock_mono_ms();
	r->order = ++g_seq;
	r->ok = err == NULL;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	r->had_reply = reply != NULL;
	if (!reply)
		return;
	r->type = reply->type;
	r->integer = reply->integer;
	if (reply->str) {
		r->len = reply->len;
		memcpy(r->str, reply->str,
		       reply->len < sizeof(r->str) ? reply->len
						   : sizeof(r->str) - 1);
	}
	r->elements = reply->elements;
	for (size_t i = 0; i < reply->elements && i < 8; i++)
		if (reply->element[i]->str)
			snprintf(r->elems[i], sizeof(r->elems[i]), "%s",
				 reply->element[i]->str);
}

static bool run_until(struct event_base *base, bool (*cond)(void *),
		      void *arg, int64_t timeout_ms)
{
	int64_t end = lc_clock_mono_ms() + timeout_ms;
	while (!cond(arg)) {
		if (lc_clock_mono_ms() >= end)
			return false;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return true;
}

static void spin(struct event_base *base, int64_t ms)
{
	int64_t end = lc_clock_mono_ms() + ms;
	while (lc_clock_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

static bool called(void *arg)
{
	return ((struct rep *)arg)->calls > 0;
}

static bool is_ready(void *arg)
{
	return lc_redis_ready(arg);
}

static struct lc_redis *open_client(struct event_base *base,
				    struct lc_redis_config *cfg)
{
	char err[256] = "";
	cfg->host = cfg->host ? cfg->host : g_host;
	cfg->port = cfg->port ? cfg->port : g_port;
	struct lc_redis *r = lc_redis_new(base, cfg, err, sizeof(err));
	if (!r)
		fail_msg("lc_redis_new: %s", err);
	assert_true(run_until(base, is_ready, r, 5000));
	return r;
}

/* Submit (printf style) and wait for the reply. */
static void cmd_wait(struct event_base *base, struct lc_redis *r,
		     struct rep *out, const char *fmt, ...)
{
	memset(out, 0, sizeof(*out));
	va_list ap;
	va_start(ap, fmt);
	int rv = lc_redis_vcommand(r, on_rep, out, fmt, ap);
	va_end(ap);
	assert_int_equal(rv, 0);
	assert_int_equal(out->calls, 0); /* never from inside the call */
	assert_true(run_until(base, called, out, 5000));
	assert_int_equal(out->calls, 1);
}

/* A blocking side connection for what the test does behind the client's
 * back. Returns the reply's integer, and its string in out. */
static long long side(const char *cmd, char *out, size_t outlen)
{
	redisContext *c = redisConnect(g_host, g_port);
	if (!c || c->err)
		fail_msg("side connection: %s", c ? c->errstr : "ENOMEM");
	redisReply *rep = redisCommand(c, cmd);
	if (!rep)
		fail_msg("side '%s': %s", cmd, c->errstr);
	if (rep->type == REDIS_REPLY_ERROR)
		fail_msg("side '%s': %s", cmd, rep->str);
	long long n = rep->integer;
	if (out)
		snprintf(out, outlen, "%s", rep->str ? rep->str : "");
	freeReplyObject(rep);
	redisFree(c);
	return n;
}

static int shell(const char *fn, const char *args)
{
	char cmd[PATH_MAX + 512];
	snprintf(cmd, sizeof(cmd),
		 "bash -c '. \"%s/scripts/lib/servers.sh\" && "
		 "%s \"$BTCW_TEST_DIR\" %s' >&2",
		 g_root, fn, args);
	return system(cmd);
}

/* Same port and options as tests/harness/servers.sh. */
static int redis_start(void)
{
	return shell("srv_redis_start",
		     "\"$BTCW_TEST_REDIS_PORT\" --save \"\" --appendonly no");
}

static int ensure_redis_running(void **state)
{
	(void)state;
	if (shell("srv_redis_running", "") != 0)
		return redis_start() == 0 ? 0 : -1;
	return 0;
}

struct states {
	int ups, downs;
};

static void on_state(bool ready, void *arg)
{
	struct states *s = arg;
	if (ready)
		s->ups++;
	else
		s->downs++;
}

static bool went_down(void *arg)
{
	return ((struct states *)arg)->downs > 0;
}

static bool up_twice(void *arg)
{
	return ((struct states *)arg)->ups > 1;
}

/* ---- tests -------------------------------------------------------------- */

static void set_get_expire_ttl(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { 0 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p;
	cmd_wait(base, r, &p, "SET %s %s", "t:redis:k", "hello world");
	assert_true(p.ok);
	assert_string_equal(p.str, "OK");
	cmd_wait(base, r, &p, "GET %s", "t:redis:k");
	assert_int_equal(p.type, REDIS_REPLY_STRING);
	assert_string_equal(p.str, "hello world");
	cmd_wait(base, r, &p, "EXPIRE %s %d", "t:redis:k", 30);
	assert_int_equal(p.integer, 1);
	cmd_wait(base, r, &p, "TTL %s", "t:redis:k");
	assert_in_range(p.integer, 1, 30);
	cmd_wait(base, r, &p, "DEL %s", "t:redis:k");
	assert_int_equal(p.integer, 1);
	cmd_wait(base, r, &p, "GET %s", "t:redis:k");
	assert_int_equal(p.type, REDIS_REPLY_NIL);
	struct lc_redis_stats st;
	lc_redis_get_stats(r, &st);
	assert_int_equal(st.commands, 6);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.pending, 0);
	lc_redis_free(r);
	event_base_free(base);
}

static void sorted_set_window(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { 0 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p;
	cmd_wait(base, r, &p, "DEL t:redis:z");
	cmd_wait(base, r, &p, "ZADD t:redis:z 100 a 200 b 300 c");
	assert_int_equal(p.integer, 3);
	cmd_wait(base, r, &p, "ZRANGEBYSCORE t:redis:z %d +inf WITHSCORES",
		 200);
	assert_int_equal(p.type, REDIS_REPLY_ARRAY);
	assert_int_equal(p.elements, 4);
	assert_string_equal(p.elems[0], "b");
	assert_string_equal(p.elems[1], "200");
	assert_string_equal(p.elems[2], "c");
	cmd_wait(base, r, &p, "ZREMRANGEBYSCORE t:redis:z -inf %d", 150);
	assert_int_equal(p.integer, 1);
	cmd_wait(base, r, &p, "ZCARD t:redis:z");
	assert_int_equal(p.integer, 2);
	cmd_wait(base, r, &p, "DEL t:redis:z");
	lc_redis_free(r);
	event_base_free(base);
}

static void argv_and_b_are_binary_safe(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { 0 };
	struct lc_redis *r = open_client(base, &cfg);
	const char val[] = { 'a', '\0', 'b', '\r', '\n', ' ', 'c' };
	const char *argv[] = { "SET", "t:redis:bin", val };
	const size_t lens[] = { 3, 11, sizeof(val) };
	struct rep p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(lc_redis_command_argv(r, on_rep, &p, 3, argv, lens),
			 0);
	assert_true(run_until(base, called, &p, 5000));
	assert_true(p.ok);
	cmd_wait(base, r, &p, "GET %s", "t:redis:bin");
	assert_int_equal(p.len, sizeof(val));
	assert_memory_equal(p.str, val, sizeof(val));
	cmd_wait(base, r, &p, "SET t:redis:bin2 %b", val, sizeof(val));
	cmd_wait(base, r, &p, "STRLEN t:redis:bin2");
	assert_int_equal(p.integer, sizeof(val));
	/* argvlen NULL: strlen of each */
	const char *del[] = { "DEL", "t:redis:bin", "t:redis:bin2" };
	memset(&p, 0, sizeof(p));
	assert_int_equal(lc_redis_command_argv(r, on_rep, &p, 3, del, NULL),
			 0);
	assert_true(run_until(base, called, &p, 5000));
	assert_int_equal(p.integer, 2);
	assert_int_equal(lc_redis_command_argv(r, on_rep, &p, 0, del, NULL),
			 -1);
	lc_redis_free(r);
	event_base_free(base);
}

static void error_reply_comes_with_err(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { 0 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p;
	cmd_wait(base, r, &p, "SET t:redis:s notanumber");
	cmd_wait(base, r, &p, "INCR t:redis:s");
	assert_false(p.ok);
	assert_true(p.had_reply);
	assert_int_equal(p.type, REDIS_REPLY_ERROR);
	assert_non_null(strstr(p.err, "not an integer"));
	cmd_wait(base, r, &p, "DEL t:redis:s");
	assert_true(p.ok);
	struct lc_redis_stats st;
	lc_redis_get_stats(r, &st);
	assert_int_equal(st.errors, 1);
	lc_redis_free(r);
	event_base_free(base);
}

static void command_while_disconnected_fails_fast(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	/* nothing listens on port 1 */
	struct lc_redis_config cfg = { .host = "127.0.0.1", .port = 1 };
	char err[256];
	struct lc_redis *r = lc_redis_new(base, &cfg, err, sizeof(err));
	assert_non_null(r);
	spin(base, 150);
	assert_false(lc_redis_ready(r));
	struct rep p;
	int64_t t0 = lc_clock_mono_ms();
	cmd_wait(base, r, &p, "GET %s", "x");
	assert_false(p.ok);
	assert_false(p.had_reply);
	assert_non_null(strstr(p.err, "not connected"));
	assert_non_null(strstr(p.err, "refused"));
	assert_true(p.at - t0 < 100);
	lc_redis_free(r);
	event_base_free(base);
}

static void reconnects_after_client_kill(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct states s = { 0 };
	struct lc_redis_config cfg = { .on_state = on_state, .state_arg = &s };
	struct lc_redis *r = open_client(base, &cfg);
	spin(base, 50);
	assert_int_equal(s.ups, 1);
	/* a command in flight when the connection dies */
	struct rep blocked;
	memset(&blocked, 0, sizeof(blocked));
	assert_int_equal(lc_redis_command(r, on_rep, &blocked,
					  "BLPOP t:redis:nothing 5"),
			 0);
	spin(base, 100);
	assert_true(side("CLIENT KILL TYPE normal", NULL, 0) >= 1);
	assert_true(run_until(base, called, &blocked, 3000));
	assert_false(blocked.ok);
	assert_non_null(strstr(blocked.err, "connection lost"));
	assert_true(run_until(base, went_down, &s, 3000));
	assert_true(run_until(base, up_twice, &s, 5000));
	struct rep p;
	cmd_wait(base, r, &p, "PING");
	assert_string_equal(p.str, "PONG");
	spin(base, 100);
	assert_int_equal(blocked.calls, 1);
	struct lc_redis_stats st;
	lc_redis_get_stats(r, &st);
	assert_int_equal(st.disconnects, 1);
	assert_int_equal(st.reconnects, 1);
	lc_redis_free(r);
	event_base_free(base);
}

/* The one test that stops the shared server (teardown restarts it even
 * when an assertion fails). */
static void reconnects_after_server_restart(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct states s = { 0 };
	struct lc_redis_config cfg = { .on_state = on_state,
				       .state_arg = &s,
				       .backoff_max_ms = 300 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p;
	cmd_wait(base, r, &p, "SET t:redis:restart 1");
	assert_int_equal(shell("srv_redis_stop", ""), 0);
	assert_true(run_until(base, went_down, &s, 5000));
	cmd_wait(base, r, &p, "GET t:redis:restart");
	assert_false(p.ok);
	assert_non_null(strstr(p.err, "not connected"));
	spin(base, 400); /* some failed attempts */
	assert_int_equal(redis_start(), 0);
	assert_true(run_until(base, up_twice, &s, 5000));
	cmd_wait(base, r, &p, "PING");
	assert_true(p.ok);
	lc_redis_free(r);
	event_base_free(base);
}

static void stuck_command_times_out(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { .command_timeout_ms = 300 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep stuck, behind;
	memset(&stuck, 0, sizeof(stuck));
	memset(&behind, 0, sizeof(behind));
	int64_t t0 = lc_clock_mono_ms();
	/* blocks this connection until a push that never comes */
	assert_int_equal(lc_redis_command(r, on_rep, &stuck,
					  "BLPOP t:redis:never 0"),
			 0);
	assert_int_equal(lc_redis_command(r, on_rep, &behind, "PING"), 0);
	assert_true(run_until(base, called, &behind, 3000));
	assert_non_null(strstr(stuck.err, "timed out"));
	assert_non_null(strstr(behind.err, "timed out"));
	assert_true(stuck.order < behind.order);
	assert_in_range(stuck.at - t0, 290, 800);
	assert_true(run_until(base, is_ready, r, 3000));
	struct rep p;
	cmd_wait(base, r, &p, "PING");
	assert_true(p.ok);
	lc_redis_free(r);
	event_base_free(base);
}

static void pending_is_bounded(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { .max_pending = 2 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p[3];
	memset(p, 0, sizeof(p));
	for (int i = 0; i < 3; i++)
		assert_int_equal(lc_redis_command(r, on_rep, &p[i],
						  "BLPOP t:redis:b%d 0.3", i),
				 0);
	assert_true(run_until(base, called, &p[1], 3000));
	assert_true(p[0].ok && p[1].ok);
	assert_non_null(strstr(p[2].err, "too many pending"));
	assert_true(p[2].order < p[0].order);
	lc_redis_free(r);
	event_base_free(base);
}

static int g_logfd = -1;

static bool log_contains(const char *needle)
{
	char buf[65536];
	ssize_t n = pread(g_logfd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, needle) != NULL;
}

static void auth_user_and_select_db(void **state)
{
	(void)state;
	char user[64], cmd[256];
	snprintf(user, sizeof(user), "btcw_test_%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ACL SETUSER %s on >s3cret-pass-xyz ~* &* +@all", user);
	side(cmd, NULL, 0);
	char logpath[] = "/tmp/test_redis_log.XXXXXX";
	g_logfd = mkstemp(logpath);
	assert_true(g_logfd >= 0);
	unlink(logpath);
	lc_log_set_fd(g_logfd);

	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { .username = user,
				       .password = "s3cret-pass-xyz",
				       .db = 3 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p;
	cmd_wait(base, r, &p, "SET t:redis:indb3 yes");
	cmd_wait(base, r, &p, "ACL WHOAMI");
	assert_string_equal(p.str, user);
	lc_redis_free(r);
	char out[32];
	redisContext *c = redisConnect(g_host, g_port);
	assert_non_null(c);
	redisReply *rep = redisCommand(c, "SELECT 3");
	freeReplyObject(rep);
	rep = redisCommand(c, "GET t:redis:indb3");
	snprintf(out, sizeof(out), "%s", rep->str ? rep->str : "");
	freeReplyObject(rep);
	rep = redisCommand(c, "DEL t:redis:indb3");
	freeReplyObject(rep);
	redisFree(c);
	assert_string_equal(out, "yes");

	/* a wrong password: never ready, and says why */
	cfg = (struct lc_redis_config){ .host = g_host,
					.port = g_port,
					.username = user,
					.password = "wrong-pass-abc" };
	char err[256];
	r = lc_redis_new(base, &cfg, err, sizeof(err));
	assert_non_null(r);
	spin(base, 300);
	assert_false(lc_redis_ready(r));
	cmd_wait(base, r, &p, "PING");
	assert_non_null(strstr(p.err, "AUTH failed"));
	lc_redis_free(r);

	/* a password alone for a server that has none */
	cfg.username = NULL;
	r = lc_redis_new(base, &cfg, err, sizeof(err));
	spin(base, 300);
	assert_false(lc_redis_ready(r));
	lc_redis_free(r);
	event_base_free(base);

	snprintf(cmd, sizeof(cmd), "ACL DELUSER %s", user);
	side(cmd, NULL, 0);
	lc_log_set_fd(-1);
	assert_true(log_contains("redis.handshake_failed"));
	assert_false(log_contains("s3cret-pass-xyz"));
	assert_false(log_contains("wrong-pass-abc"));
	close(g_logfd);
}

static void free_cancels_pending_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { 0 };
	struct lc_redis *r = open_client(base, &cfg);
	struct rep p[4];
	memset(p, 0, sizeof(p));
	assert_int_equal(lc_redis_command(r, on_rep, &p[0], "PING"), 0);
	assert_int_equal(lc_redis_command(r, on_rep, &p[1],
					  "BLPOP t:redis:never 0"),
			 0);
	assert_int_equal(lc_redis_command(r, on_rep, &p[2], "PING"), 0);
	assert_int_equal(lc_redis_command(r, NULL, NULL, "PING"), 0);
	lc_redis_free(r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p[i].calls, 1);
		assert_string_equal(p[i].err, "cancelled");
	}
	/* and one that waited to fail (not connected) */
	struct lc_redis_config down = { .host = "127.0.0.1", .port = 1 };
	char err[256];
	r = lc_redis_new(base, &down, err, sizeof(err));
	assert_int_equal(lc_redis_command(r, on_rep, &p[3], "PING"), 0);
	lc_redis_free(r);
	assert_int_equal(p[3].calls, 1);
	assert_string_equal(p[3].err, "cancelled");
	spin(base, 150);
	for (int i = 0; i < 4; i++)
		assert_int_equal(p[i].calls, 1);
	event_base_free(base);
}

struct freer {
	struct lc_redis *r;
	struct rep first, second;
	int refused;
};

static void free_in_callback(const redisReply *reply, const char *err,
			     void *arg)
{
	struct freer *f = arg;
	on_rep(reply, err, &f->first);
	lc_redis_free(f->r);
	/* refused once freeing has begun */
	f->refused = lc_redis_command(f->r, NULL, NULL, "PING") == -1;
}

static void second_cb(const redisReply *reply, const char *err, void *arg)
{
	struct freer *f = arg;
	on_rep(reply, err, &f->second);
}

static void free_from_inside_a_reply_callback(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct lc_redis_config cfg = { 0 };
	struct freer f;
	memset(&f, 0, sizeof(f));
	f.r = open_client(base, &cfg);
	assert_int_equal(lc_redis_command(f.r, free_in_callback, &f, "PING"),
			 0);
	assert_int_equal(lc_redis_command(f.r, second_cb, &f,
					  "BLPOP t:redis:never 0"),
			 0);
	assert_true(run_until(base, called, &f.first, 3000));
	assert_true(f.first.ok);
	assert_true(f.refused);
	assert_int_equal(f.second.calls, 1);
	assert_string_equal(f.second.err, "cancelled");
	spin(base, 150);
	event_base_free(base);
}

struct state_freer {
	struct lc_redis *r;
	struct rep pending;
	bool freed;
};

static void free_on_ready(bool ready, void *arg)
{
	struct state_freer *s = arg;
	if (!ready || s->freed)
		return;
	assert_int_equal(lc_redis_command(s->r, on_rep, &s->pending,
					  "BLPOP t:redis:never 0"),
			 0);
	s->freed = true;
	lc_redis_free(s->r);
}

static bool freed(void *arg)
{
	return ((struct state_freer *)arg)->freed;
}

static void free_from_inside_on_state(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct state_freer s;
	memset(&s, 0, sizeof(s));
	struct lc_redis_config cfg = { .host = g_host,
				       .port = g_port,
				       .on_state = free_on_ready,
				       .state_arg = &s };
	char err[256];
	s.r = lc_redis_new(base, &cfg, err, sizeof(err));
	assert_non_null(s.r);
	assert_true(run_until(base, freed, &s, 3000));
	assert_int_equal(s.pending.calls, 1);
	assert_string_equal(s.pending.err, "cancelled");
	spin(base, 150);
	event_base_free(base);
}

static void bad_settings_are_refused(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	char err[256] = "";
	struct lc_redis_config cfg = { .port = 6379 };
	assert_null(lc_redis_new(base, &cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "host"));
	cfg = (struct lc_redis_config){ .host = "127.0.0.1", .port = 70000 };
	assert_null(lc_redis_new(base, &cfg, err, sizeof(err)));
	lc_redis_free(NULL);
	event_base_free(base);
}

/* ---- main --------------------------------------------------------------- */

static int find_root(void)
{
	char path[PATH_MAX + 32];
	if (getcwd(g_root, sizeof(g_root))) {
		snprintf(path, sizeof(path), "%s/scripts/lib/servers.sh",
			 g_root);
		if (access(path, R_OK) == 0)
			return 0;
	}
	ssize_t n = readlink("/proc/self/exe", g_root, sizeof(g_root) - 1);
	if (n <= 0)
		return -1;
	g_root[n] = '\0';
	char *slash;
	while ((slash = strrchr(g_root, '/')) != NULL) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/scripts/lib/servers.sh",
			 g_root);
		if (access(path, R_OK) == 0)
			return 0;
	}
	return -1;
}

int main(void)
{
	g_host = getenv("BTCW_TEST_REDIS_HOST");
	const char *port = getenv("BTCW_TEST_REDIS_PORT");
	if (!g_host || !port || !getenv("BTCW_TEST_DIR")) {
		fprintf(stderr, "test_redis: BTCW_TEST_REDIS_HOST, "
				"BTCW_TEST_REDIS_PORT and BTCW_TEST_DIR must "
				"be set (tests/harness/servers.sh start)\n");
		return 1;
	}
	g_port = (int)strtol(port, NULL, 10);
	if (find_root() != 0) {
		fprintf(stderr, "test_redis: cannot find scripts/lib\n");
		return 1;
	}
	lc_log_init("test_redis", LC_LOG_WARN);
	signal(SIGPIPE, SIG_IGN); /* as the daemons do (see redis.h) */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_get_expire_ttl),
		cmocka_unit_test(sorted_set_window),
		cmocka_unit_test(argv_and_b_are_binary_safe),
		cmocka_unit_test(error_reply_comes_with_err),
		cmocka_unit_test(command_while_disconnected_fails_fast),
		cmocka_unit_test(reconnects_after_client_kill),
		cmocka_unit_test_teardown(reconnects_after_server_restart,
					  ensure_redis_running),
		cmocka_unit_test(stuck_command_times_out),
		cmocka_unit_test(pending_is_bounded),
		cmocka_unit_test(auth_user_and_select_db),
		cmocka_unit_test(free_cancels_pending_once),
		cmocka_unit_test(free_from_inside_a_reply_callback),
		cmocka_unit_test(free_from_inside_on_state),
		cmocka_unit_test(bad_settings_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
