/* Redis client on the event loop, with reconnects (see redis.h). */
#include "libcommon/redis.h"

#include "libcommon/backoff.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TICK_MS 100 /* janitor period: reconnects and timeouts */
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000

enum rstate {
	R_DOWN,       /* no context; maybe a reconnect scheduled */
	R_CONNECTING, /* context made, handshake (AUTH/SELECT/PING) out */
	R_READY,      /* PING answered: commands go through */
};

enum hs_step { HS_NONE, HS_AUTH, HS_SELECT, HS_PING };

/* One command: in r->pending once hiredis has it, or in r->failed while
 * its error waits for on_kick. */
struct rcmd {
	struct rcmd *prev, *next;
	struct lc_redis *r;
	lc_redis_cb cb;     /* may be NULL */
	void *arg;
	int64_t sent_at;    /* monotonic ms */
	enum hs_step step;  /* handshake commands: no caller callback */
	char *err;          /* owned: the error for a failed command */
};

struct cmd_list {
	struct rcmd *head, *tail;
};

struct lc_redis {
	struct event_base *base;  /* borrowed */
	char *host;               /* owned */
	int port;
	char *username;           /* owned, may be NULL */
	char *password;           /* owned, may be NULL; never logged */
	int db;
	int64_t connect_timeout_ms;
	int64_t command_timeout_ms;
	int max_pending;
	void (*on_state)(bool ready, void *arg);
	void *state_arg;
	redisAsyncContext *ac;    /* owned by hiredis; NULL when none */
	void (*ev_cleanup)(void *); /* the adapter's cleanup, which we wrap */
	enum rstate state;
	int64_t connect_deadline; /* R_CONNECTING: give up then */
	int64_t retry_at;         /* R_DOWN: reconnect then; 0 = not yet */
	const char *drop_reason;  /* static or last_err: why ac is dropped */
	char last_err[256];       /* why the last connection failed */
	struct lc_backoff backoff;
	bool ever_ready;
	struct cmd_list pending;  /* given to hiredis, oldest first */
	int npending;
	struct cmd_list failed;   /* errors waiting for on_kick */
	struct event *kick;       /* runs the callbacks in failed */
	struct event *tick;       /* the janitor */
	bool reported_ready;      /* what on_state was last told */
	bool free_pending;        /* lc_redis_free was called */
	int depth;                /* our frames on the stack */
	struct lc_redis_stats st;
};

static void list_push(struct cmd_list *l, struct rcmd *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void list_remove(struct cmd_list *l, struct rcmd *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

static struct rcmd *list_pop(struct cmd_list *l)
{
	struct rcmd *c = l->head;
	if (c)
		list_remove(l, c);
	return c;
}

static void final_free(struct lc_redis *r);

/* Release r once it was asked for, hiredis no longer has a context that
 * points at it, and none of our frames is on the stack. The caller must
 * not touch r afterwards. */
static void maybe_finalize(struct lc_redis *r)
{
	if (r->free_pending && !r->ac && r->depth == 0)
		final_free(r);
}

/* Ask on_kick to tell on_state if readiness changed. */
static void note_state(struct lc_redis *r)
{
	if ((r->state == R_READY) != r->reported_ready)
		event_active(r->kick, EV_TIMEOUT, 0);
}

/* Answer c with an error from the loop, not from the caller's frame. */
static void fail_later(struct lc_redis *r, struct rcmd *c, const char *why,
		       const char *detail)
{
	size_t len = strlen(why) + (detail ? strlen(detail) : 0) + 3;
	c->err = malloc(len);
	if (c->err)
		snprintf(c->err, len, "%s%s%s", why,
			 detail && *detail ? ": " : "", detail ? detail : "");
	list_push(&r->failed, c);
	event_active(r->kick, EV_TIMEOUT, 0);
}

static void run_failed(struct lc_redis *r, struct rcmd *c, const char *err)
{
	r->st.errors++;
	if (c->cb)
		c->cb(NULL, err, c->arg);
	free(c->err);
	free(c);
}

/* No connection: reconnect after a backoff delay. why may be last_err. */
static void schedule_retry(struct lc_redis *r, const char *why, bool lost)
{
	int64_t d = lc_backoff_next(&r->backoff);
	r->state = R_DOWN;
	r->retry_at = lc_clock_mono_ms() + d;
	if (why != r->last_err)
		snprintf(r->last_err, sizeof(r->last_err), "%s", why);
	if (lost) {
		r->st.disconnects++;
		log_warn("redis.disconnected", LF_S("host", r->host),
			 LF_I("port", r->port), LF_S("reason", why),
			 LF_I("retry_in_ms", d));
	} else {
		log_warn("redis.connect_failed", LF_S("host", r->host),
			 LF_I("port", r->port), LF_S("reason", why),
			 LF_I("retry_in_ms", d));
	}
	note_state(r);
}

/* Drop the current context: every command in flight fails with `why`
 * and on_ac_cleanup schedules the reconnect. Inside a hiredis callback
 * hiredis defers the free until the callback returns. */
static void drop(struct lc_redis *r, const char *why)
{
	if (!r->ac)
		return;
	if (!r->drop_reason)
		r->drop_reason = why;
	redisAsyncFree(r->ac);
}

/* ---- hiredis callbacks ------------------------------------------------- */

static void handshake_reply(struct lc_redis *r, enum hs_step step,
			    const redisReply *reply)
{
	static const char *const names[] = { "", "AUTH", "SELECT", "PING" };
	if (!reply)
		return; /* the context is going away; the cleanup says why */
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(r->last_err, sizeof(r->last_err), "%s failed: %s",
			 names[step], reply->str);
		log_error("redis.handshake_failed", LF_S("host", r->host),
			  LF_I("port", r->port), LF_S("command", names[step]),
			  LF_S("error", reply->str));
		drop(r, r->last_err);
		return;
	}
	if (step != HS_PING)
		return;
	if (r->ever_ready)
		r->st.reconnects++;
	r->ever_ready = true;
	r->state = R_READY;
	r->last_err[0] = '\0';
	lc_backoff_reset(&r->backoff);
	log_info("redis.connected", LF_S("host", r->host),
		 LF_I("port", r->port), LF_I("db", r->db));
	note_state(r);
}

/* Every reply, or NULL for every command in flight when the context is
 * freed (connection lost, dropped by us, or lc_redis_free). */
static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
	struct rcmd *c = privdata;
	struct lc_redis *r = c->r;
	const redisReply *reply = reply_;
	list_remove(&r->pending, c);
	r->npending--;
	if (c->step != HS_NONE) {
		handshake_reply(r, c->step, reply);
		free(c);
		return;
	}
	char buf[300];
	const char *err = NULL;
	if (!reply) {
		if (r->free_pending) {
			err = "cancelled";
		} else if (r->drop_reason) {
			err = r->drop_reason;
		} else {
			snprintf(buf, sizeof(buf), "connection lost: %s",
				 ac->err ? ac->errstr : "closed");
			err = buf;
		}
	} else if (reply->type == REDIS_REPLY_ERROR) {
		err = reply->str;
	}
	if (err)
		r->st.errors++;
	if (c->cb)
		c->cb(reply, err, c->arg);
	free(c);
}

/*
 * Wraps the libevent adapter's cleanup hook. hiredis calls it on every
 * path that frees a context (connect failure, connection lost, our own
 * redisAsyncFree), after the last reply callback; we register no
 * disconnect callback, so after this nothing of hiredis touches r.
 */
static void on_ac_cleanup(void *privdata)
{
	redisLibeventEvents *e = privdata;
	redisAsyncContext *ac = e->context;
	struct lc_redis *r = ac->data;
	r->ev_cleanup(privdata);
	bool was_ready = r->state == R_READY;
	const char *why = r->drop_reason ? r->drop_reason
			  : ac->err      ? ac->errstr
					 : "connection closed";
	r->ac = NULL;
	r->state = R_DOWN;
	if (!r->free_pending)
		schedule_retry(r, why, was_ready);
	r->drop_reason = NULL;
	maybe_finalize(r);
}

/* ---- connecting -------------------------------------------------------- */

static int send_cmd(struct lc_redis *r, struct rcmd *c, int argc,
		    const char **argv, const size_t *argvlen)
{
	if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, argvlen) !=
	    REDIS_OK)
		return -1;
	c->sent_at = lc_clock_mono_ms();
	list_push(&r->pending, c);
	r->npending++;
	return 0;
}

static int send_handshake(struct lc_redis *r, enum hs_step step, int argc,
			  const char **argv)
{
	struct rcmd *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->r = r;
	c->step = step;
	if (send_cmd(r, c, argc, argv, NULL) != 0) {
		free(c);
		return -1;
	}
	return 0;
}

static void r_connect(struct lc_redis *r)
{
	r->retry_at = 0;
	redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
	if (!ac) {
		schedule_retry(r, "out of memory", false);
		return;
	}
	if (ac->err) {
		char why[256];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac); /* nothing attached yet: freed at once */
		schedule_retry(r, why, false);
		return;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redisAsyncFree(ac);
		schedule_retry(r, "cannot attach to the event loop", false);
		return;
	}
	r->ev_cleanup = ac->ev.cleanup;
	ac->ev.cleanup = on_ac_cleanup;
	r->ac = ac;
	r->state = R_CONNECTING;
	r->connect_deadline = lc_clock_mono_ms() + r->connect_timeout_ms;
	/* queued now, sent by hiredis as soon as the socket connects */
	char dbs[16];
	snprintf(dbs, sizeof(dbs), "%d", r->db);
	const char *auth[] = { "AUTH", r->username ? r->username : r->password,
			       r->password };
	const char *sel[] = { "SELECT", dbs };
	const char *ping[] = { "PING" };
	int rv = 0;
	if (r->password)
		rv |= send_handshake(r, HS_AUTH, r->username ? 3 : 2, auth);
	if (r->db > 0)
		rv |= send_handshake(r, HS_SELECT, 2, sel);
	rv |= send_handshake(r, HS_PING, 1, ping);
	if (rv != 0)
		drop(r, "cannot queue the handshake");
}

/* ---- the loop's side --------------------------------------------------- */

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_redis *r = arg;
	r->depth++;
	struct rcmd *c;
	while (!r->free_pending && (c = list_pop(&r->failed)) != NULL)
		run_failed(r, c, c->err ? c->err : "out of memory");
	bool ready = r->state == R_READY;
	if (!r->free_pending && ready != r->reported_ready) {
		r->reported_ready = ready;
		if (r->on_state)
			r->on_state(ready, r->state_arg);
	}
	r->depth--;
	maybe_finalize(r);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_redis *r = arg;
	int64_t now = lc_clock_mono_ms();
	r->depth++;
	if (r->state == R_DOWN && r->retry_at && now >= r->retry_at)
		r_connect(r);
	else if (r->state == R_CONNECTING && now >= r->connect_deadline)
		drop(r, "connect timed out");
	else if (r->state == R_READY && r->pending.head &&
		 now - r->pending.head->sent_at >= r->command_timeout_ms)
		/* hiredis 0.14 cannot abandon one reply: drop them all */
		drop(r, "timed out (connection dropped)");
	r->depth--;
	maybe_finalize(r);
}

/* ---- public ------------------------------------------------------------ */

static void final_free(struct lc_redis *r)
{
	struct rcmd *c;
	while ((c = list_pop(&r->failed)) != NULL)
		run_failed(r, c, "cancelled");
	if (r->kick)
		event_free(r->kick);
	if (r->tick)
		event_free(r->tick);
	free(r->host);
	free(r->username);
	free(r->password);
	free(r);
}

struct lc_redis *lc_redis_new(struct event_base *base,
			      const struct lc_redis_config *cfg, char *err,
			      size_t errlen)
{
	if (!base || !cfg || !cfg->host || cfg->port <= 0 ||
	    cfg->port > 65535 || cfg->db < 0 || cfg->max_pending < 0) {
		snprintf(err, errlen, "redis: host, port 1..65535 and db >= 0 "
				      "required");
		return NULL;
	}
	struct lc_redis *r = calloc(1, sizeof(*r));
	if (!r)
		goto nomem;
	r->base = base;
	r->port = cfg->port;
	r->db = cfg->db;
	r->connect_timeout_ms = cfg->connect_timeout_ms > 0
					? cfg->connect_timeout_ms
					: LC_REDIS_CONNECT_TIMEOUT_MS;
	r->command_timeout_ms = cfg->command_timeout_ms > 0
					? cfg->command_timeout_ms
					: LC_REDIS_COMMAND_TIMEOUT_MS;
	r->max_pending = cfg->max_pending ? cfg->max_pending
					  : LC_REDIS_MAX_PENDING;
	r->on_state = cfg->on_state;
	r->state_arg = cfg->state_arg;
	lc_backoff_init(&r->backoff,
			cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms
						 : BACKOFF_BASE_MS,
			cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms
						: BACKOFF_MAX_MS,
			0);
	r->host = strdup(cfg->host);
	if (!r->host)
		goto nomem;
	if (cfg->username && !(r->username = strdup(cfg->username)))
		goto nomem;
	if (cfg->password && cfg->password[0]) {
		if (!(r->password = strdup(cfg->password)))
			goto nomem;
		lc_log_redact(r->password);
	}
	r->kick = event_new(base, -1, 0, on_kick, r);
	r->tick = event_new(base, -1, EV_PERSIST, on_tick, r);
	struct timeval tv;
	lc_clock_tv(&tv, TICK_MS);
	if (!r->kick || !r->tick || event_add(r->tick, &tv) != 0)
		goto nomem;
	r_connect(r);
	return r;
nomem:
	snprintf(err, errlen, "redis: out of memory");
	if (r)
		final_free(r);
	return NULL;
}

void lc_redis_free(struct lc_redis *r)
{
	if (!r || r->free_pending)
		return;
	r->free_pending = true;
	r->depth++;
	struct rcmd *c;
	while ((c = list_pop(&r->failed)) != NULL)
		run_failed(r, c, "cancelled");
	/* in flight: hiredis answers each with NULL (now, or when the
	 * hiredis callback we are in returns), then calls on_ac_cleanup */
	if (r->ac)
		redisAsyncFree(r->ac);
	r->depth--;
	maybe_finalize(r);
}

bool lc_redis_ready(const struct lc_redis *r)
{
	return r && !r->free_pending && r->state == R_READY;
}

void lc_redis_get_stats(const struct lc_redis *r, struct lc_redis_stats *out)
{
	*out = r->st;
	out->pending = r->npending;
}

/* A command record, or NULL when the command cannot be taken at all. */
static struct rcmd *cmd_new(struct lc_redis *r, lc_redis_cb cb, void *arg)
{
	if (!r || r->free_pending)
		return NULL;
	struct rcmd *c = calloc(1, sizeof(*c));
	if (c) {
		c->r = r;
		c->cb = cb;
		c->arg = arg;
	}
	return c;
}

/* Not connected or too busy: answer c with an error later. true if so. */
static bool refuse(struct lc_redis *r, struct rcmd *c)
{
	if (r->state != R_READY) {
		r->st.commands++;
		fail_later(r, c, "redis not connected", r->last_err);
		return true;
	}
	if (r->npending >= r->max_pending) {
		r->st.commands++;
		fail_later(r, c, "too many pending commands", NULL);
		return true;
	}
	return false;
}

/* hiredis refused: the context is closing (answer later) or the command
 * could not be formatted (not taken). */
static int refused_by_hiredis(struct lc_redis *r, struct rcmd *c)
{
	if (r->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) {
		r->st.commands++;
		fail_later(r, c, "redis not connected", "connection closing");
		return 0;
	}
	free(c);
	return -1;
}

int lc_redis_vcommand(struct lc_redis *r, lc_redis_cb cb, void *arg,
		      const char *fmt, va_list ap)
{
	if (!fmt)
		return -1;
	struct rcmd *c = cmd_new(r, cb, arg);
	if (!c)
		return -1;
	if (refuse(r, c))
		return 0;
	if (redisvAsyncCommand(r->ac, on_reply, c, fmt, ap) != REDIS_OK)
		return refused_by_hiredis(r, c);
	c->sent_at = lc_clock_mono_ms();
	list_push(&r->pending, c);
	r->npending++;
	r->st.commands++;
	return 0;
}

int lc_redis_command(struct lc_redis *r, lc_redis_cb cb, void *arg,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rv = lc_redis_vcommand(r, cb, arg, fmt, ap);
	va_end(ap);
	return rv;
}

int lc_redis_command_argv(struct lc_redis *r, lc_redis_cb cb, void *arg,
			  int argc, const char *const *argv,
			  const size_t *argvlen)
{
	if (argc < 1 || !argv)
		return -1;
	struct rcmd *c = cmd_new(r, cb, arg);
	if (!c)
		return -1;
	if (refuse(r, c))
		return 0;
	/* hiredis 0.14 takes a non-const array but only reads it */
	if (send_cmd(r, c, argc, (const char **)argv, argvlen) != 0)
		return refused_by_hiredis(r, c);
	r->st.commands++;
	return 0;
}
