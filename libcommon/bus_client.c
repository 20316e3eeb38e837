/* The message bus: the client, a raw req0 socket whose calls are
 * matched to replies by request id. The design (raw sockets, poll fds,
 * queues) is explained in bus.h. */
#include "libcommon/bus.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "libcommon/bus_internal.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#define REQ_ID_BIT 0x80000000u /* set in every request id */
#define CALL_BUCKETS 256       /* pending-call hash table size */

struct call {
	struct outmsg om;           /* the request while queued */
	struct call *hnext;         /* pending-call hash chain */
	struct lc_bus_client *cli;
	uint32_t id;                /* header request id, REQ_ID_BIT set */
	bool queued;                /* om is in cli->q */
	bool sent;                  /* nng took the request */
	int timeout_ms;
	struct event *timer;        /* deadline, or an early failure */
	const char *early_code;     /* fail with this when timer fires */
	char early_msg[LC_ENV_MSG_MAX];
	lc_bus_call_cb cb;
	void *arg;
	char *method;               /* owned, for logs */
	unsigned gen;               /* cli->lost when it was sent */
};

struct lc_bus_client {
	struct event_base *base;
	nng_socket sock;
	struct event *recv_ev;      /* RECVFD */
	struct outq q;              /* requests no pipe could take yet */
	struct bus_cfg cfg;
	struct call *calls[CALL_BUCKETS]; /* pending calls by id */
	uint32_t next_id;
	struct lc_bus_stats st;
	char *url;                  /* owned, for logs */
	int busy;                   /* callbacks running (justfree) */
	bool closing;               /* lc_bus_client_free was called */
	atomic_uint lost;           /* pipes removed (nng's thread) */
	unsigned lost_seen;         /* lost, as the loop last handled it */
	unsigned send_gen;          /* lost, read just before a send */
	int lost_fd;                /* eventfd: nng's thread wakes the loop */
	struct event *lost_ev;
};

static void cli_destroy(struct lc_bus_client *cli);

static void cli_enter(struct lc_bus_client *cli)
{
	cli->busy++;
}

static void cli_leave(struct lc_bus_client *cli)
{
	if (--cli->busy == 0 && cli->closing)
		cli_destroy(cli);
}

static struct call **call_slot(struct lc_bus_client *cli, uint32_t id)
{
	struct call **pp = &cli->calls[id % CALL_BUCKETS];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

/* Unlink call, run its callback with res, free it. */
static void call_finish(struct call *call, const struct lc_bus_result *res)
{
	struct lc_bus_client *cli = call->cli;
	struct call **pp = call_slot(cli, call->id);

	if (*pp == call)
		*pp = call->hnext;
	cli->st.inflight--;
	if (call->queued)
		bus_outq_remove(&cli->q, &call->om);
	event_free(call->timer);
	if (!res->ok)
		cli->st.errors++;
	call->cb(res, call->arg);
	free(call->method);
	free(call);
}

static void call_fail(struct call *call, const char *code, const char *msg)
{
	struct lc_bus_result res = { false, NULL, code, msg, NULL };
	call_finish(call, &res);
}

/* Make call fail with code on its next loop turn (never from inside
 * lc_bus_call itself, so callers see one calling convention). */
static void call_fail_later(struct call *call, const char *code,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void call_fail_later(struct call *call, const char *code,
			    const char *fmt, ...)
{
	va_list ap;

	call->early_code = code;
	va_start(ap, fmt);
	vsnprintf(call->early_msg, sizeof(call->early_msg), fmt, ap);
	va_end(ap);
	event_del(call->timer);
	event_active(call->timer, EV_TIMEOUT, 1);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *call = arg;
	struct lc_bus_client *cli = call->cli;
	char m[LC_ENV_MSG_MAX];
	(void)fd;
	(void)what;

	cli_enter(cli);
	if (call->early_code) {
		call_fail(call, call->early_code, call->early_msg);
	} else if (!call->sent) {
		cli->st.timeouts++;
		snprintf(m, sizeof(m),
			 "no server took '%.100s' within %d ms (not sent)",
			 call->method, call->timeout_ms);
		log_warn("bus.call.unavailable", LF_S("url", cli->url),
			 LF_S("method", call->method));
		call_fail(call, LC_ENV_E_UNAVAILABLE, m);
	} else {
		cli->st.timeouts++;
		snprintf(m, sizeof(m), "no reply to '%.100s' within %d ms",
			 call->method, call->timeout_ms);
		log_warn("bus.call.timeout", LF_S("url", cli->url),
			 LF_S("method", call->method));
		call_fail(call, LC_ENV_E_TIMEOUT, m);
	}
	cli_leave(cli);
}

static void cli_request_done(struct outmsg *om, int rv)
{
	struct call *call = om->call;

	call->queued = false;
	if (rv == 0) {
		call->sent = true;
		call->gen = call->cli->send_gen;
		return;
	}
	call_fail(call, LC_ENV_E_UNAVAILABLE, nng_strerror(rv));
}

static void cli_request_drop(struct outmsg *om)
{
	om->call->queued = false;
}

/* The sent call a reply header names, or NULL. */
static struct call *cli_match(struct lc_bus_client *cli, nng_msg *msg)
{
	struct call *call;
	uint32_t id = 0;

	if (nng_msg_header_len(msg) != 4 ||
	    nng_msg_header_trim_u32(msg, &id) != 0 || !(id & REQ_ID_BIT))
		call = NULL;
	else
		call = *call_slot(cli, id);
	if (!call || !call->sent) {
		/* Late (after its deadline) or not ours. */
		log_info("bus.reply.unmatched", LF_S("url", cli->url),
			 LF_I("request_id", id));
		cli->st.dropped++;
		return NULL;
	}
	return call;
}

/* Deliver one reply message (consumed) to its call. */
static void cli_handle(struct lc_bus_client *cli, nng_msg *msg)
{
	struct lc_bus_result res;
	struct lc_env_reply rep;
	struct lc_env_error perr;
	char m[LC_ENV_MSG_MAX + 32];
	size_t len = nng_msg_len(msg);
	struct call *call;

	cli->st.received++;
	call = cli_match(cli, msg);
	if (!call)
		goto done;
	if (len > cli->cfg.max_msg) {
		snprintf(m, sizeof(m),
			 "reply of %zu bytes exceeds the limit of %zu", len,
			 cli->cfg.max_msg);
		call_fail(call, LC_ENV_E_TOO_LARGE, m);
		goto done;
	}
	if (lc_env_parse_reply(nng_msg_body(msg), len, &rep, &perr) != 0) {
		log_warn("bus.reply.malformed", LF_S("url", cli->url),
			 LF_S("reason", perr.message));
		snprintf(m, sizeof(m), "malformed reply: %s", perr.message);
		call_fail(call, LC_ENV_E_INTERNAL, m);
		goto done;
	}
	res = (struct lc_bus_result){ rep.ok, rep.ok ? rep.result : NULL,
				      rep.code, rep.message, rep.details };
	call_finish(call, &res);
	lc_env_reply_release(&rep);
done:
	nng_msg_free(msg);
}

static void cli_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_bus_client *cli = arg;
	(void)fd;
	(void)what;

	cli_enter(cli);
	for (int n = 0; n < DRAIN_BATCH && !cli->closing; n++) {
		nng_msg *msg;
		int rv = nng_recvmsg(cli->sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			break;
		if (rv != 0) {
			log_error("bus.recv.failed", LF_S("url", cli->url),
				  LF_S("error", nng_strerror(rv)));
			break;
		}
		cli_handle(cli, msg);
	}
	cli_leave(cli);
}

static void cli_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_bus_client *cli = arg;
	(void)fd;
	(void)what;

	cli_enter(cli);
	cli->send_gen = atomic_load(&cli->lost);
	bus_outq_flush(&cli->q, cli_request_done, &cli->closing);
	cli_leave(cli);
}

/*
 * A connection went away. With sendbuf 0 a sent request sits in the one
 * pipe that took it, and a raw req0 reply can only come back on that
 * pipe, so every call sent before the loss (and not answered by a reply
 * already queued) will never be answered: fail it now as unavailable
 * instead of letting the caller wait for its deadline. The client dials
 * one address, so a new pipe exists only after the old one is removed.
 */
/* Was call sent before loss number `lost` (serial arithmetic)? */
static bool sent_before(const struct call *call, unsigned lost)
{
	return call->sent && (int)(lost - call->gen) > 0;
}

static void cli_lost_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_bus_client *cli = arg;
	unsigned now = atomic_load(&cli->lost);
	uint64_t n;
	char m[LC_ENV_MSG_MAX];
	(void)what;

	if (read(fd, &n, sizeof(n)) < 0 || now == cli->lost_seen)
		return;
	cli->lost_seen = now;
	cli_enter(cli);
	cli_recv_cb(-1, 0, cli); /* replies that made it first win */
	snprintf(m, sizeof(m), "the connection to %.200s was lost",
		 cli->url);
	for (size_t b = 0; b < CALL_BUCKETS && !cli->closing; b++) {
		struct call *c = cli->calls[b];
		while (c && !cli->closing) {
			if (!sent_before(c, now)) {
				c = c->hnext;
				continue;
			}
			log_warn("bus.call.lost", LF_S("url", cli->url),
				 LF_S("method", c->method));
			call_fail(c, LC_ENV_E_UNAVAILABLE, m);
			c = cli->calls[b]; /* the chain changed */
		}
	}
	cli_leave(cli);
}

/* On nng's thread: count the loss and wake the loop (nothing else). */
static void cli_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct lc_bus_client *cli = arg;
	uint64_t one = 1;
	(void)p;
	(void)ev;

	atomic_fetch_add(&cli->lost, 1);
	if (write(cli->lost_fd, &one, sizeof(one)) < 0) {
		/* the counter only saturates; the loop still sees it */
	}
}


/* The eventfd, its event and the pipe callback of connection losses. */
static int lost_setup(struct lc_bus_client *cli, char *err, size_t errlen)
{
	int rv;

	cli->lost_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cli->lost_fd < 0) {
		bus_set_err(err, errlen, "cannot create an eventfd");
		return -1;
	}
	cli->lost_ev = event_new(cli->base, cli->lost_fd, EV_READ | EV_PERSIST,
				 cli_lost_cb, cli);
	if (!cli->lost_ev || event_add(cli->lost_ev, NULL) != 0) {
		bus_set_err(err, errlen, "cannot watch the eventfd");
		return -1;
	}
	rv = nng_pipe_notify(cli->sock, NNG_PIPE_EV_REM_POST, cli_pipe_cb,
			     cli);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot watch connections: %s",
			    nng_strerror(rv));
		return -1;
	}
	return 0;
}

struct lc_bus_client *lc_bus_client_new(struct event_base *base,
					const char *url,
					const struct lc_bus_opts *opts,
					char *err, size_t errlen)
{
	struct lc_bus_client *cli = calloc(1, sizeof(*cli));
	int rv;

	if (cli)
		cli->url = strdup(url);
	if (!cli || !cli->url) {
		bus_set_err(err, errlen, "out of memory");
		free(cli);
		return NULL;
	}
	cli->base = base;
	cli->lost_fd = -1;
	bus_cfg_resolve(&cli->cfg, opts);
	cli->next_id = bus_random_u32();
	rv = nng_req0_open_raw(&cli->sock);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot open req socket: %s",
			    nng_strerror(rv));
		free(cli->url);
		free(cli);
		return NULL;
	}
	bus_outq_init(&cli->q, cli->sock, &cli->st);
	if (bus_sock_setup(cli->sock, &cli->cfg, true, err, errlen) != 0)
		goto fail;
	cli->recv_ev = bus_poll_event(base, cli->sock, NNG_OPT_RECVFD,
				      cli_recv_cb, cli, err, errlen);
	cli->q.ev = cli->recv_ev ? bus_poll_event(base, cli->sock,
						  NNG_OPT_SENDFD, cli_send_cb,
						  cli, err, errlen)
				 : NULL;
	if (!cli->q.ev || lost_setup(cli, err, errlen) != 0)
		goto fail;
	rv = nng_dial(cli->sock, url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot dial '%s': %s", url,
			    nng_strerror(rv));
		goto fail;
	}
	event_add(cli->recv_ev, NULL);
	return cli;
fail:
	cli_destroy(cli);
	return NULL;
}

static void cli_destroy(struct lc_bus_client *cli)
{
	if (cli->recv_ev)
		event_free(cli->recv_ev);
	bus_outq_release(&cli->q, cli_request_drop);
	nng_close(cli->sock); /* no pipe callback runs after this */
	if (cli->lost_ev)
		event_free(cli->lost_ev);
	if (cli->lost_fd >= 0)
		close(cli->lost_fd);
	free(cli->url);
	free(cli);
}

void lc_bus_client_free(struct lc_bus_client *cli)
{
	if (!cli || cli->closing)
		return;
	cli->closing = true;
	cli_enter(cli);
	for (size_t b = 0; b < CALL_BUCKETS; b++)
		while (cli->calls[b])
			call_fail(cli->calls[b], LC_ENV_E_CANCELLED,
				  "client closed");
	cli_leave(cli);
}

/* A new call with a fresh id, in the pending table; NULL on ENOMEM. */
static struct call *call_new(struct lc_bus_client *cli, const char *method,
			     int timeout_ms, lc_bus_call_cb cb, void *arg)
{
	struct call *call = calloc(1, sizeof(*call));
	struct call **pp;

	if (!call)
		return NULL;
	call->method = strdup(method);
	call->timer = evtimer_new(cli->base, call_timer_cb, call);
	if (!call->method || !call->timer) {
		if (call->timer)
			event_free(call->timer);
		free(call->method);
		free(call);
		return NULL;
	}
	/* Pending ids are few, so this finds a free one at once. */
	do {
		call->id = REQ_ID_BIT | cli->next_id++;
		pp = call_slot(cli, call->id);
	} while (*pp);
	*pp = call;
	call->cli = cli;
	call->cb = cb;
	call->arg = arg;
	call->timeout_ms = timeout_ms > 0 ? timeout_ms : cli->cfg.timeout_ms;
	call->om.call = call;
	cli->st.inflight++;
	return call;
}

/* Encode and send (or queue) call's request. Failures fail the call on
 * the next loop turn. */
static void call_start(struct call *call, const cJSON *params)
{
	struct lc_bus_client *cli = call->cli;
	cJSON *id = cJSON_CreateNumber((double)call->id);
	size_t len = 0;
	char *text = id ? lc_env_format_request(id, call->method, params, &len)
			: NULL;
	struct timeval tv;
	int rv = 0;

	cJSON_Delete(id);
	if (!text) {
		call_fail_later(call, LC_ENV_E_INTERNAL,
				"cannot format the request");
		return;
	}
	if (len > cli->cfg.max_msg) {
		call_fail_later(call, LC_ENV_E_TOO_LARGE,
				"request of %zu bytes exceeds the limit "
				"of %zu", len, cli->cfg.max_msg);
		goto done;
	}
	call->om.msg = bus_msg_build(NULL, 0, text, len);
	if (call->om.msg &&
	    nng_msg_header_append_u32(call->om.msg, call->id) != 0) {
		nng_msg_free(call->om.msg);
		call->om.msg = NULL;
	}
	if (!call->om.msg) {
		call_fail_later(call, LC_ENV_E_INTERNAL, "out of memory");
		goto done;
	}
	cli->send_gen = atomic_load(&cli->lost);
	switch (bus_outq_push(&cli->q, &call->om, &rv)) {
	case OUTQ_SENT:
		call->sent = true;
		call->gen = cli->send_gen;
		break;
	case OUTQ_QUEUED:
		call->queued = true;
		break;
	case OUTQ_FAILED:
		nng_msg_free(call->om.msg);
		call->om.msg = NULL;
		call_fail_later(call, LC_ENV_E_UNAVAILABLE, "%s",
				nng_strerror(rv));
		goto done;
	}
	lc_clock_tv(&tv, call->timeout_ms);
	evtimer_add(call->timer, &tv);
done:
	cJSON_free(text);
}

int lc_bus_call(struct lc_bus_client *cli, const char *method, cJSON *params,
		int timeout_ms, lc_bus_call_cb cb, void *arg)
{
	struct call *call;

	if (!cli || cli->closing || !method || !method[0] || !cb ||
	    (params && !cJSON_IsObject(params))) {
		log_error("bus.call.invalid", LF_S("method", method),
			  LF_B("closing", cli && cli->closing));
		return -1;
	}
	call = call_new(cli, method, timeout_ms, cb, arg);
	if (!call) {
		log_error("bus.call.failed", LF_S("method", method),
			  LF_S("reason", "out of memory"));
		return -1;
	}
	if (cli->st.inflight > cli->cfg.max_inflight)
		call_fail_later(call, LC_ENV_E_UNAVAILABLE,
				"too many calls pending (%u)",
				cli->cfg.max_inflight);
	else
		call_start(call, params);
	cJSON_Delete(params);
	return 0;
}

void lc_bus_client_stats(const struct lc_bus_client *cli,
			 struct lc_bus_stats *out)
{
	*out = cli->st;
	out->queued = cli->q.len;
}
