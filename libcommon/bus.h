#ifndef LC_BUS_H
#define LC_BUS_H
/*
 * The message bus: request/reply RPC and publish/subscribe over nng 1.5,
 * driven by the daemon's one libevent loop. Messages carry the JSON
 * envelope of libcommon/envelope.h.
 *
 *   server   lc_bus_server_new + lc_bus_server_handle("x.y", fn, arg);
 *            fn(req, params, arg) answers once, now or later, with
 *            lc_bus_reply_ok / lc_bus_reply_err.
 *   client   lc_bus_client_new + lc_bus_call(cli, "x.y", params,
 *            timeout_ms, cb, arg); cb runs exactly once.
 *   events   lc_bus_pub_new + lc_bus_publish(pub, "signal.new", data);
 *            lc_bus_sub_new + lc_bus_sub_dial (one or more publishers)
 *            + lc_bus_subscribe(sub, "signal.new", cb, arg).
 *
 * An operator needs only nngcat (nng-utils) to watch a topic or call a
 * method; tests/unit/test_bus.c runs both commands against this code:
 *
 *   nngcat --sub --dial tcp://127.0.0.1:7001 --subscribe 'signal.new ' \
 *          --ascii
 *   nngcat --req --dial tcp://127.0.0.1:7000 \
 *   --data '{"v":1,"id":1,"method":"supervisor.start","params":{"id":3}}' \
 *   --ascii
 *
 * The subscription ends with a space so that 'signal.new' does not also
 * match 'signal.newer'; --count N stops after N events, --recv-timeout S
 * after S seconds without one. nngcat 1.5.2's
 * --ascii prints each message with no newline after it (events run on
 * one line) and shows non-ASCII bytes as '.'; for one event per line use
 * --quoted instead of --ascii. Messages carry no trailing newline
 * (--ascii would show it as '.'), but the parser accepts one.
 *
 * Threads. Every callback (handlers, call results, events) runs on the
 * loop thread, and every function here must be called from it. No nng
 * aio callback is used: each socket's NNG_OPT_RECVFD (and, while
 * something waits to be sent, NNG_OPT_SENDFD) is watched by libevent,
 * and messages move with nng_recvmsg/nng_sendmsg(NNG_FLAG_NONBLOCK),
 * at most 64 per wake-up so one busy socket cannot starve the loop (the
 * fds are level-triggered: the loop comes back for the rest). A send that
 * would block (NNG_EAGAIN) waits in our own queue until SENDFD is
 * readable, in order.
 *
 * Raw mode (checked in nng 1.5's src/sp/protocol/reqrep0/xrep.c, xreq.c,
 * src/core/msgqueue.c, and by a probe against Debian's libnng 1.5.2):
 *  - The server's socket is a raw rep0 socket. A received message's
 *    header is the receiving pipe's id (u32) followed by the request's
 *    backtrace (4-byte words, the last with its high bit set). Sending a
 *    message whose header is that same byte string routes it back: the
 *    socket strips the pipe id and writes the rest before the body. A
 *    reply to a pipe that has gone away is silently dropped by nng.
 *    Because nothing in nng waits for the reply, one server has any
 *    number of requests in flight and may answer them in any order,
 *    e.g. after a database query, without threads or contexts.
 *    The server raises nng's send buffer to 128 messages so that a burst
 *    of replies seldom needs our queue.
 *  - The client's socket is a raw req0 socket: it puts its own request
 *    id (u32, high bit set) in the header; the reply comes back with
 *    exactly that 4-byte header. Calls are matched by it in a table of
 *    pending calls, each with its own timer on the loop. Replies with an
 *    unknown or expired id are dropped and counted.
 *  - A raw req0 socket keeps its send buffer at nng's default of 0, so a
 *    non-blocking send succeeds only when a connected pipe is ready to
 *    take the message; otherwise the request waits in our queue. This
 *    gives "unavailable" an exact meaning: at the deadline, a request
 *    that never left our queue (no server connected) fails with
 *    unavailable and is then never sent; one that was sent fails with
 *    timeout. A sent request whose connection is lost before its reply
 *    (the server crashed or closed) can never be answered, since a raw
 *    req0 reply comes back on the pipe that took the request: nng's pipe
 *    notification (its thread) counts the loss and wakes the loop
 *    through an eventfd, and the loop fails those calls with unavailable
 *    at once rather than at their deadline. nng dials with reconnect, so
 *    a client (or subscriber) started before its server (publisher)
 *    works once it comes up.
 *
 * Sizes. opts.max_message_bytes is the application limit, checked here:
 * a larger request is answered too_large, a larger reply or event is
 * replaced by a too_large error (reply) or refused (publish, call). nng's
 * NNG_OPT_RECVMAXSZ would drop an oversized message silently (and the tcp
 * transport closes the connection), so it is set above the application
 * limit, to 2 * max_message_bytes + 4096: anything between the two gets a
 * proper too_large reply; only a message past twice the limit is dropped
 * by the transport (the caller then sees a timeout). The inproc transport
 * ignores NNG_OPT_RECVMAXSZ in nng 1.5; the application check still
 * holds there.
 *
 * Known nng 1.5.2 issue: a message that is in flight inside nng when its
 * socket (or its peer) closes can be leaked (fixed in nng 1.6, PR #1643
 * and related). It costs a few hundred bytes at shutdown; the tests avoid
 * closing sockets with messages in flight so LeakSanitizer stays quiet.
 *
 * Errors. Constructors and dial take an error buffer (errlen >= 128 is
 * plenty) and return NULL / -1; the other calls log what failed and
 * return -1. Nothing here exits the process.
 *
 * Lifetime. *_free(NULL) does nothing. A *_free called from inside one
 * of the object's own callbacks is safe: the object is torn down when
 * that callback returns (pgbouncer's justfree). The event_base must
 * outlive every object made on it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "libcommon/envelope.h"

struct event_base;

#define LC_BUS_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define LC_BUS_DEFAULT_TIMEOUT_MS 5000
#define LC_BUS_DEFAULT_MAX_INFLIGHT 1024
#define LC_BUS_DEFAULT_RECONNECT_MIN_MS 100
#define LC_BUS_DEFAULT_RECONNECT_MAX_MS 1000

/* Per-socket settings; a zero field (or a NULL opts) means the default. */
struct lc_bus_opts {
	size_t max_message_bytes; /* application limit on one message */
	int timeout_ms;           /* client: default call deadline */
	int max_inflight;         /* server: requests not yet answered, and
				     replies waiting to be sent; client:
				     calls pending */
	int reconnect_min_ms;     /* client, sub: first redial delay */
	int reconnect_max_ms;     /* client, sub: redial backoff cap (nng
				     waits a random time up to the current
				     backoff, doubling to this cap) */
	const char *service;      /* pub: event ids are
				     "<service>-<boot id>-<seq>"; borrowed
				     during lc_bus_pub_new; NULL: no prefix */
};

/* Counters, for /metrics. */
struct lc_bus_stats {
	uint64_t received;  /* messages received */
	uint64_t sent;      /* messages handed to nng */
	uint64_t dropped;   /* malformed events, replies with an unknown
			       or expired id, and messages nng refused to
			       send (or that found the send queue full) */
	uint64_t errors;    /* server: error replies sent; client: calls
			       that ended in an error */
	uint64_t timeouts;  /* client: calls that ended in timeout or
			       unavailable at their deadline */
	unsigned inflight;  /* server: requests not yet answered;
			       client: calls pending */
	unsigned queued;    /* messages waiting for the socket */
};

/* ---- server ---- */

struct lc_bus_server;
struct lc_bus_req; /* one request being handled; opaque */

/*
 * A method handler. req is the handle to answer with (exactly once, now
 * or later from the loop). params (borrowed from req) is an object, {}
 * when the request had none; it stays valid until the reply and the
 * handler may modify it or detach parts of it. arg is the handler's.
 */
typedef void (*lc_bus_handler)(struct lc_bus_req *req, cJSON *params,
			       void *arg);

/*
 * Listen on url ("tcp://0.0.0.0:7000", "ipc:///run/x.sock",
 * "inproc://x") with a raw rep0 socket watched by base (borrowed).
 * opts (borrowed, may be NULL) is copied. Returns the server (free with
 * lc_bus_server_free()) or NULL with the reason in err.
 */
struct lc_bus_server *lc_bus_server_new(struct event_base *base,
					const char *url,
					const struct lc_bus_opts *opts,
					char *err, size_t errlen);

/*
 * Close the socket. Requests still unanswered are orphaned, not freed:
 * their handlers must still answer them, and the answer only frees the
 * request (nothing is sent). To drain first, call lc_bus_server_drain()
 * and wait for stats.inflight and stats.queued to reach 0.
 */
void lc_bus_server_free(struct lc_bus_server *srv);

/*
 * Register fn for method (copied). arg is passed to fn. Returns 0, or -1
 * (logged) if the method is empty or already registered, or on ENOMEM.
 */
int lc_bus_server_handle(struct lc_bus_server *srv, const char *method,
			 lc_bus_handler fn, void *arg)
	__attribute__((warn_unused_result));

/*
 * Stop accepting: from now on every new request is answered
 * unavailable ("shutting down"); requests in flight may still answer.
 */
void lc_bus_server_drain(struct lc_bus_server *srv);

/* Fill *out (caller's) with srv's counters. */
void lc_bus_server_stats(const struct lc_bus_server *srv,
			 struct lc_bus_stats *out);

/*
 * Answer req with success. Takes ownership of req (freed here; do not
 * use it again) and of result (any JSON value; NULL sends null). A reply
 * larger than max_message_bytes is replaced by a too_large error. Never
 * fails from the caller's view: a reply that cannot be sent is logged
 * and counted as dropped.
 */
void lc_bus_reply_ok(struct lc_bus_req *req, cJSON *result);

/*
 * Answer req with an error. Takes ownership of req. code (borrowed) is
 * one of the LC_ENV_E_* strings or the handler's own; the message is
 * printf-style, one lowercase sentence, never a secret, truncated to 255
 * bytes (empty: the code is used).
 */
void lc_bus_reply_err(struct lc_bus_req *req, const char *code,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * lc_bus_reply_err plus error.details: takes ownership of req and of
 * details (an object such as {"field":"timeframe"}, or NULL; anything
 * else is logged and left out).
 */
void lc_bus_reply_err_details(struct lc_bus_req *req, const char *code,
			      cJSON *details, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The request's method name (borrowed from req; valid until the reply). */
const char *lc_bus_req_method(const struct lc_bus_req *req);

/* The request's id, a string or integer (borrowed; valid until the
 * reply). */
const cJSON *lc_bus_req_id(const struct lc_bus_req *req);

/* ---- client ---- */

struct lc_bus_client;

/* The outcome of a call; every pointer is borrowed for the callback. */
struct lc_bus_result {
	bool ok;
	const cJSON *result;  /* ok: never NULL (JSON null if none) */
	const char *code;     /* !ok: LC_ENV_E_* or the handler's code */
	const char *message;  /* !ok: never NULL */
	const cJSON *details; /* !ok: error.details (an object) or NULL */
};

/* Called exactly once per call, on the loop. To keep the result past the
 * callback, cJSON_Duplicate() it. */
typedef void (*lc_bus_call_cb)(const struct lc_bus_result *res, void *arg);

/*
 * Dial url with a raw req0 socket watched by base (borrowed); the dial
 * runs in the background and reconnects forever, so the server may come
 * up later. opts (borrowed, may be NULL) is copied. Returns the client
 * (free with lc_bus_client_free()) or NULL with the reason in err (a
 * malformed url, ENOMEM).
 */
struct lc_bus_client *lc_bus_client_new(struct event_base *base,
					const char *url,
					const struct lc_bus_opts *opts,
					char *err, size_t errlen);

/*
 * Close the client. Every pending call's callback runs now with
 * cancelled (callbacks must not expect to call on this client again:
 * lc_bus_call fails from here on).
 */
void lc_bus_client_free(struct lc_bus_client *cli);

/*
 * Call method (borrowed) with params (an object or NULL for {}). On
 * success (0) takes ownership of params, and cb(res, arg) will run
 * exactly once, later, on the loop: with the server's result or error,
 * or with timeout (sent, no reply within timeout_ms; <= 0 means the
 * client's default), unavailable (no server took it before the deadline,
 * its connection was lost before the reply, or too many calls pending),
 * too_large (the request is over
 * max_message_bytes, or the reply was), internal (a malformed reply) or
 * cancelled (client freed). On -1 (bad arguments, client being freed,
 * ENOMEM; logged) cb never runs and the caller still owns params.
 */
int lc_bus_call(struct lc_bus_client *cli, const char *method, cJSON *params,
		int timeout_ms, lc_bus_call_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Fill *out (caller's) with cli's counters. */
void lc_bus_client_stats(const struct lc_bus_client *cli,
			 struct lc_bus_stats *out);

/* ---- publish / subscribe ---- */

struct lc_bus_pub;
struct lc_bus_sub;

/*
 * Listen on url with a pub0 socket. Publishing never blocks in nng 1.5
 * (a slow subscriber loses messages), so no event loop is needed. opts
 * (borrowed, may be NULL) is copied. Returns the publisher (free with
 * lc_bus_pub_free()) or NULL with the reason in err.
 */
struct lc_bus_pub *lc_bus_pub_new(const char *url,
				  const struct lc_bus_opts *opts, char *err,
				  size_t errlen);

/* Close the publisher; events not yet written to a subscriber are lost
 * (publishing is fire and forget). */
void lc_bus_pub_free(struct lc_bus_pub *pub);

/*
 * Publish "<topic> {"v":1,"id":…,"topic":…,"ts":…,"data":…}" with a
 * fresh unique id and the current time. topic (borrowed) must satisfy
 * lc_env_topic_valid(); data is an object or NULL for {}. On success (0)
 * takes ownership of data; on -1 (bad topic or data, over
 * max_message_bytes, nng error; logged) the caller still owns it.
 * Subscribers not connected at that moment do not get the event.
 */
int lc_bus_publish(struct lc_bus_pub *pub, const char *topic, cJSON *data)
	__attribute__((warn_unused_result));

/* Fill *out (caller's) with pub's counters (sent). */
void lc_bus_pub_stats(const struct lc_bus_pub *pub, struct lc_bus_stats *out);

/*
 * An event for a subscription. topic, data (an object) and envelope (the
 * whole {"v":1,…} object) are borrowed for the callback.
 */
typedef void (*lc_bus_event_cb)(const char *topic, const cJSON *data,
				const cJSON *envelope, void *arg);

/*
 * A sub0 socket watched by base (borrowed), connected to nothing yet.
 * opts (borrowed, may be NULL) is copied. Returns the subscriber (free
 * with lc_bus_sub_free()) or NULL with the reason in err.
 */
struct lc_bus_sub *lc_bus_sub_new(struct event_base *base,
				  const struct lc_bus_opts *opts, char *err,
				  size_t errlen);

/* Close the subscriber and drop its subscriptions; no callback runs
 * after this returns (or, if called from one, after it returns). */
void lc_bus_sub_free(struct lc_bus_sub *sub);

/*
 * Dial one more publisher at url (borrowed). The dial runs in the
 * background and reconnects forever, so the publisher may start later.
 * Returns 0, or -1 with the reason in err (malformed url, ENOMEM).
 */
int lc_bus_sub_dial(struct lc_bus_sub *sub, const char *url, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/*
 * Call cb(topic, data, envelope, arg) for every well-formed event whose
 * topic is exactly topic (copied), or for every event if topic is "".
 * Several subscriptions may match one event; each is called, in the
 * order they were made. Malformed events are logged, counted as dropped
 * and never reach a callback. Returns 0, or -1 (logged) for an invalid
 * topic or ENOMEM.
 */
int lc_bus_subscribe(struct lc_bus_sub *sub, const char *topic,
		     lc_bus_event_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Fill *out (caller's) with sub's counters (received, dropped). */
void lc_bus_sub_stats(const struct lc_bus_sub *sub, struct lc_bus_stats *out);

#endif
