#ifndef LC_REDIS_H
#define LC_REDIS_H
/*
 * Redis on the daemon's event loop: one hiredis async connection attached
 * to the loop with redisLibeventAttach, kept up with reconnects.
 *
 *  - lc_redis_new() connects at once and, on every (re)connection, sends
 *    AUTH (when a password is set) and SELECT (when db > 0), then PING;
 *    the client is ready (lc_redis_ready) when the PING answers.
 *  - Commands (printf style like redisAsyncCommand, or argv for binary
 *    data) get their callback exactly once, always on the loop, never
 *    from inside the call that submitted them.
 *  - Fail fast: a command submitted while the client is not ready gets an
 *    error callback ("redis not connected"); so does one past
 *    `max_pending` commands in flight. Nothing is queued while down.
 *  - When the connection drops or cannot be made, every command in flight
 *    gets an error callback, and the client reconnects with exponential
 *    backoff (lc_backoff). hiredis frees its context itself on a
 *    disconnect; this module learns of it through the context's cleanup
 *    hook, which hiredis calls last on every path, and only then makes a
 *    new context, so no pointer to a freed one is ever kept.
 *  - hiredis 0.14 has no timeouts: this module adds a connect timeout
 *    (TCP + handshake) and a command timeout. A command not answered in
 *    `command_timeout_ms` means the server or the path is stuck: the
 *    connection is dropped (every command in flight fails with "timed
 *    out") and remade.
 *  - The password is sent with AUTH and registered with lc_log_redact();
 *    it is never logged.
 *  - hiredis writes with write(2): the process must ignore SIGPIPE (as
 *    every daemon does, STYLE habit 7) or a write to a connection the
 *    server just closed kills it. libpq protects itself; hiredis does not.
 *
 * Not for SUBSCRIBE/MONITOR (their replies do not pair with commands).
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lc_redis;

#define LC_REDIS_CONNECT_TIMEOUT_MS 5000  /* default: TCP + handshake */
#define LC_REDIS_COMMAND_TIMEOUT_MS 10000 /* default: reply to a command */
#define LC_REDIS_MAX_PENDING 10000        /* default: commands in flight */

/* Settings for lc_redis_new(). Zero in a field means its default. */
struct lc_redis_config {
	const char *host;      /* IP address (hiredis resolves names with a
				* blocking getaddrinfo); copied; required */
	int port;              /* required */
	const char *username;  /* ACL user for AUTH (Redis 6+); copied */
	const char *password;  /* AUTH when set; copied, never logged */
	int db;                /* SELECT this database when > 0 */
	int64_t connect_timeout_ms;
	int64_t command_timeout_ms;
	int max_pending;       /* commands in flight */
	int64_t backoff_base_ms; /* first reconnect delay (100) */
	int64_t backoff_max_ms;  /* longest reconnect delay (5000) */
	/* Called on the loop when lc_redis_ready() changes (may be NULL). */
	void (*on_state)(bool ready, void *arg);
	void *state_arg;       /* passed to on_state */
};

/* Counters for /metrics. The first four only grow. */
struct lc_redis_stats {
	uint64_t commands;   /* commands accepted */
	uint64_t errors;     /* callbacks that got an error (incl. replies
			      * of type REDIS_REPLY_ERROR) */
	uint64_t reconnects; /* successful connections after the first */
	uint64_t disconnects; /* ready connections lost */
	int pending;         /* commands in flight now */
};

/*
 * A command's outcome, on the loop. Exactly one of:
 *  - success: err is NULL and reply is the server's reply;
 *  - the server answered with an error: reply (type REDIS_REPLY_ERROR)
 *    and err == reply->str, e.g. "WRONGTYPE ...";
 *  - no reply: reply is NULL and err says why ("redis not connected",
 *    "too many pending commands", "connection lost: ...", "timed out",
 *    "cancelled").
 * reply and err are borrowed: hiredis frees the reply when the callback
 * returns. The callback may submit commands and call lc_redis_free().
 */
typedef void (*lc_redis_cb)(const redisReply *reply, const char *err,
			    void *arg);

/*
 * Create a client on `base` (borrowed; must outlive the client) and start
 * connecting; nothing blocks. Returns the client (free with
 * lc_redis_free) or NULL with a message in err on bad settings or ENOMEM.
 * It is not ready yet when this returns: wait for on_state(true) or
 * lc_redis_ready().
 */
struct lc_redis *lc_redis_new(struct event_base *base,
			      const struct lc_redis_config *cfg, char *err,
			      size_t errlen);

/*
 * Disconnect and free. Every command not yet answered gets its callback
 * now, with reply NULL and err "cancelled"; commands submitted from those
 * callbacks are refused (-1). May be called from inside one of the
 * client's callbacks: the memory is then released once hiredis and this
 * module have unwound (still before control returns to the loop's next
 * event). lc_redis_free(NULL) does nothing.
 */
void lc_redis_free(struct lc_redis *r);

/* True when connected, authenticated, the database selected and PING
 * answered, and not being freed. */
bool lc_redis_ready(const struct lc_redis *r)
	__attribute__((warn_unused_result));

/* Copy the counters into *out. */
void lc_redis_get_stats(const struct lc_redis *r, struct lc_redis_stats *out);

/*
 * Submit a command in hiredis' printf style ("SET %s %s", or %b with a
 * pointer and a size_t length for binary data). Arguments are formatted
 * (copied) before this returns. cb may be NULL (reply discarded).
 * Returns 0 when the command was taken: cb runs exactly once, later, on
 * the loop — with an error when not connected. Returns -1 when it was not
 * taken (bad format, out of memory, client being freed): cb will not run.
 */
int lc_redis_command(struct lc_redis *r, lc_redis_cb cb, void *arg,
		     const char *fmt, ...) __attribute__((warn_unused_result));

/* lc_redis_command() with a va_list. */
int lc_redis_vcommand(struct lc_redis *r, lc_redis_cb cb, void *arg,
		      const char *fmt, va_list ap)
	__attribute__((warn_unused_result));

/*
 * Submit argc arguments, each argv[i] of argvlen[i] bytes (binary safe;
 * argvlen NULL means strlen of each). Copied before this returns.
 * Return value and callback as lc_redis_command().
 */
int lc_redis_command_argv(struct lc_redis *r, lc_redis_cb cb, void *arg,
			  int argc, const char *const *argv,
			  const size_t *argvlen)
	__attribute__((warn_unused_result));

#endif
