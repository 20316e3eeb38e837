/* The message bus: nng req/rep and pub/sub on the libevent loop. The
 * design (raw sockets, poll fds, queues) is explained in bus.h. */
#include "libcommon/bus.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "libcommon/clock.h"
#include "libcommon/log.h"

#define DRAIN_BATCH 64         /* messages moved per wake-up */
#define TRANSPORT_SLACK 4096   /* RECVMAXSZ = 2 * limit + this */
#define SERVER_SENDBUF 128     /* nng's own reply buffer (server) */
#define BACKTRACE_MAX 64       /* pipe id + 15 hops (nng's max ttl) */
#define REQ_ID_BIT 0x80000000u /* set in every request id */
#define CALL_BUCKETS 256       /* pending-call hash table size */

/* Resolved settings of one socket. */
struct bus_cfg {
	size_t max_msg;    /* application limit */
	int timeout_ms;    /* client default deadline */
	unsigned max_inflight;
	int reconn_min_ms;
	int reconn_max_ms;
};

static void cfg_resolve(struct bus_cfg *c, const struct lc_bus_opts *o)
{
	c->max_msg = o && o->max_message_bytes ? o->max_message_bytes
					       : LC_BUS_DEFAULT_MAX_MESSAGE;
	c->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms
					       : LC_BUS_DEFAULT_TIMEOUT_MS;
	c->max_inflight = o && o->max_inflight > 0
				  ? (unsigned)o->max_inflight
				  : LC_BUS_DEFAULT_MAX_INFLIGHT;
	c->reconn_min_ms = o && o->reconnect_min_ms > 0
				   ? o->reconnect_min_ms
				   : LC_BUS_DEFAULT_RECONNECT_MIN_MS;
	c->reconn_max_ms = o && o->reconnect_max_ms > 0
				   ? o->reconnect_max_ms
				   : LC_BUS_DEFAULT_RECONNECT_MAX_MS;
	if (c->reconn_max_ms < c->reconn_min_ms)
		c->reconn_max_ms = c->reconn_min_ms;
}

/* The transport limit: above the application limit so that a message
 * that is only somewhat too big still reaches us and gets too_large. */
static size_t transport_max(size_t app)
{
	if (app > (SIZE_MAX - TRANSPORT_SLACK) / 2)
		return 0; /* nng: no limit */
	return 2 * app + TRANSPORT_SLACK;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Apply the size limit (and, for dialers, the redial timing) to s. */
static int sock_setup(nng_socket s, const struct bus_cfg *cfg, bool dialer,
		      char *err, size_t errlen)
{
	int rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ,
				     transport_max(cfg->max_msg));
	if (rv == 0 && dialer)
		rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT,
				       cfg->reconn_min_ms);
	if (rv == 0 && dialer)
		rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT,
				       cfg->reconn_max_ms);
	if (rv != 0)
		set_err(err, errlen, "cannot set socket options: %s",
			nng_strerror(rv));
	return rv == 0 ? 0 : -1;
}

/* A persistent read event on the poll fd that nng exposes as opt. */
static struct event *poll_event(struct event_base *base, nng_socket s,
				const char *opt, event_callback_fn cb,
				void *arg, char *err, size_t errlen)
{
	struct event *ev;
	int fd;
	int rv = nng_socket_get_int(s, opt, &fd);

	if (rv != 0) {
		set_err(err, errlen, "cannot get '%s': %s", opt,
			nng_strerror(rv));
		return NULL;
	}
	ev = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg);
	if (!ev)
		set_err(err, errlen, "cannot create event for '%s'", opt);
	return ev;
}

/* A message with the given header and body, or NULL on ENOMEM. */
static nng_msg *msg_build(const void *hdr, size_t hlen, const void *body,
			  size_t blen)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, 0) != 0)
		return NULL;
	if ((hlen && nng_msg_header_append(m, hdr, hlen) != 0) ||
	    nng_msg_append(m, body, blen) != 0) {
		nng_msg_free(m);
		return NULL;
	}
	return m;
}

/* ---- send queue: messages waiting for SENDFD ---- */

struct call;

struct outmsg {
	TAILQ_ENTRY(outmsg) link;
	nng_msg *msg;      /* owned while queued */
	struct call *call; /* client request: its call; server reply: NULL */
};

TAILQ_HEAD(outmsg_list, outmsg);

struct outq {
	struct outmsg_list head;
	unsigned len;
	struct event *ev; /* SENDFD; added only while head is non-empty, as
			     the fd stays readable whenever nng could take
			     a message and would otherwise spin the loop */
	nng_socket sock;
	uint64_t *sent;   /* the owner's stats.sent */
	uint64_t *dropped; /* the owner's stats.dropped */
};

enum outq_rv {
	OUTQ_SENT,   /* nng has the message */
	OUTQ_QUEUED, /* waiting in q; sent by outq_flush() */
	OUTQ_FAILED, /* nng refused it; om->msg is still the caller's */
};

static void outq_init(struct outq *q, nng_socket s, struct lc_bus_stats *st)
{
	TAILQ_INIT(&q->head);
	q->len = 0;
	q->ev = NULL;
	q->sock = s;
	q->sent = &st->sent;
	q->dropped = &st->dropped;
}

/* Send om->msg now if nothing is ahead of it, else queue it. On
 * OUTQ_FAILED *nrv is nng's error. */
static enum outq_rv outq_push(struct outq *q, struct outmsg *om, int *nrv)
{
	*nrv = 0;
	if (TAILQ_EMPTY(&q->head)) {
		*nrv = nng_sendmsg(q->sock, om->msg, NNG_FLAG_NONBLOCK);
		if (*nrv == 0) {
			om->msg = NULL;
			(*q->sent)++;
			return OUTQ_SENT;
		}
		if (*nrv != NNG_EAGAIN)
			return OUTQ_FAILED;
		*nrv = 0;
		event_add(q->ev, NULL);
	}
	TAILQ_INSERT_TAIL(&q->head, om, link);
	q->len++;
	return OUTQ_QUEUED;
}

/* Take om out of q (it was queued); frees its message. */
static void outq_remove(struct outq *q, struct outmsg *om)
{
	TAILQ_REMOVE(&q->head, om, link);
	q->len--;
	nng_msg_free(om->msg);
	om->msg = NULL;
	if (TAILQ_EMPTY(&q->head))
		event_del(q->ev);
}

/*
 * Hand queued messages to nng until it would block. done(om, rv) is
 * called for each message that left the queue: rv 0 sent (om->msg is
 * NULL), else nng's error (om->msg freed). done may run user callbacks.
 */
static void outq_flush(struct outq *q, void (*done)(struct outmsg *, int),
		       const bool *closing)
{
	struct outmsg *om;
	int n = 0;

	while (!*closing && n++ < DRAIN_BATCH &&
	       (om = TAILQ_FIRST(&q->head)) != NULL) {
		int rv = nng_sendmsg(q->sock, om->msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			break;
		TAILQ_REMOVE(&q->head, om, link);
		q->len--;
		if (rv == 0) {
			(*q->sent)++;
		} else {
			(*q->dropped)++;
			nng_msg_free(om->msg);
		}
		om->msg = NULL;
		done(om, rv);
	}
	if (!*closing && TAILQ_EMPTY(&q->head))
		event_del(q->ev);
}

/* Free every message still queued (teardown). */
static void outq_release(struct outq *q, void (*drop)(struct outmsg *))
{
	struct outmsg *om;

	while ((om = TAILQ_FIRST(&q->head)) != NULL) {
		TAILQ_REMOVE(&q->head, om, link);
		nng_msg_free(om->msg);
		om->msg = NULL;
		drop(om);
	}
	q->len = 0;
	if (q->ev)
		event_free(q->ev);
	q->ev = NULL;
}

/* ---- server ---- */

struct handler {
	char *method; /* owned */
	lc_bus_handler fn;
	void *arg;
};

struct lc_bus_req {
	TAILQ_ENTRY(lc_bus_req) link; /* in srv->reqs while srv lives */
	struct lc_bus_server *srv;    /* NULL once orphaned */
	struct lc_env_request env;    /* owned: the parsed request */
	uint8_t bt[BACKTRACE_MAX];    /* the received header, for the reply */
	size_t btlen;
};

TAILQ_HEAD(req_list, lc_bus_req);

struct lc_bus_server {
	struct event_base *base;
	nng_socket sock;
	struct event *recv_ev;    /* RECVFD */
	struct outq q;            /* replies nng could not take yet */
	struct bus_cfg cfg;
	struct handler *handlers; /* owned array */
	size_t nhandlers;
	struct req_list reqs;     /* requests not yet answered */
	struct lc_bus_stats st;
	char *url;                /* owned, for logs */
	bool draining;            /* new requests get unavailable */
	int busy;                 /* callbacks running (justfree) */
	bool closing;             /* lc_bus_server_free was called */
};

static void srv_destroy(struct lc_bus_server *srv);

static void srv_enter(struct lc_bus_server *srv)
{
	srv->busy++;
}

static void srv_leave(struct lc_bus_server *srv)
{
	if (--srv->busy == 0 && srv->closing)
		srv_destroy(srv);
}

static void srv_reply_done(struct outmsg *om, int rv)
{
	if (rv != 0)
		log_warn("bus.reply.dropped", LF_S("error", nng_strerror(rv)));
	free(om);
}

static void srv_reply_drop(struct outmsg *om)
{
	free(om);
}

/* Send body back along the backtrace bt. Logs and counts failures. */
static void srv_send(struct lc_bus_server *srv, const void *bt, size_t btlen,
		     const char *body, size_t blen)
{
	struct outmsg *om;
	int rv = 0;

	if (srv->q.len >= srv->cfg.max_inflight) {
		log_warn("bus.reply.dropped", LF_S("url", srv->url),
			 LF_S("reason", "send queue full"));
		srv->st.dropped++;
		return;
	}
	om = calloc(1, sizeof(*om));
	if (om)
		om->msg = msg_build(bt, btlen, body, blen);
	if (!om || !om->msg) {
		log_error("bus.reply.dropped", LF_S("url", srv->url),
			  LF_S("reason", "out of memory"));
		srv->st.dropped++;
		free(om);
		return;
	}
	switch (outq_push(&srv->q, om, &rv)) {
	case OUTQ_SENT:
		free(om);
		break;
	case OUTQ_QUEUED:
		break;
	case OUTQ_FAILED:
		log_error("bus.reply.dropped", LF_S("url", srv->url),
			  LF_S("error", nng_strerror(rv)));
		srv->st.dropped++;
		nng_msg_free(om->msg);
		free(om);
		break;
	}
}

/* Send an error reply; id and details (borrowed) may be NULL. */
static void srv_send_err_details(struct lc_bus_server *srv, const void *bt,
				 size_t btlen, const cJSON *id,
				 const char *code, const char *message,
				 const cJSON *details)
{
	size_t len;
	char *text = lc_env_format_reply_err(id, code, message, details, &len);

	srv->st.errors++;
	if (!text) {
		log_error("bus.reply.dropped", LF_S("url", srv->url),
			  LF_S("reason", "out of memory"));
		srv->st.dropped++;
		return;
	}
	srv_send(srv, bt, btlen, text, len);
	cJSON_free(text);
}

static void srv_send_err(struct lc_bus_server *srv, const void *bt,
			 size_t btlen, const cJSON *id, const char *code,
			 const char *message)
{
	srv_send_err_details(srv, bt, btlen, id, code, message, NULL);
}

static const struct handler *srv_find(const struct lc_bus_server *srv,
				      const char *method)
{
	for (size_t i = 0; i < srv->nhandlers; i++)
		if (strcmp(srv->handlers[i].method, method) == 0)
			return &srv->handlers[i];
	return NULL;
}

/*
 * Reject the request in env if it cannot be dispatched: server draining,
 * too many in flight, unknown method. Returns the handler, or NULL after
 * sending the error reply.
 */
static const struct handler *srv_admit(struct lc_bus_server *srv,
				       const struct lc_env_request *env,
				       const void *bt, size_t btlen)
{
	char msg[LC_ENV_MSG_MAX];
	const struct handler *h;

	if (srv->draining) {
		srv_send_err(srv, bt, btlen, env->id, LC_ENV_E_UNAVAILABLE,
			     "server is shutting down");
		return NULL;
	}
	if (srv->st.inflight >= srv->cfg.max_inflight) {
		snprintf(msg, sizeof(msg),
			 "server busy: %u requests in flight",
			 srv->st.inflight);
		srv_send_err(srv, bt, btlen, env->id, LC_ENV_E_UNAVAILABLE,
			     msg);
		return NULL;
	}
	h = srv_find(srv, env->method);
	if (!h) {
		snprintf(msg, sizeof(msg), "unknown method '%.200s'",
			 env->method);
		srv_send_err(srv, bt, btlen, env->id,
			     LC_ENV_E_UNKNOWN_METHOD, msg);
	}
	return h;
}

/* Handle one received request message (consumed). */
static void srv_handle(struct lc_bus_server *srv, nng_msg *msg)
{
	const void *bt = nng_msg_header(msg);
	size_t btlen = nng_msg_header_len(msg);
	size_t len = nng_msg_len(msg);
	struct lc_env_request env;
	struct lc_env_error perr;
	const struct handler *h;
	struct lc_bus_req *req;

	srv->st.received++;
	if (btlen < 8 || btlen > BACKTRACE_MAX) {
		/* nng always adds the pipe id and one hop. */
		srv->st.dropped++;
		nng_msg_free(msg);
		return;
	}
	if (len > srv->cfg.max_msg) {
		char m[LC_ENV_MSG_MAX];
		snprintf(m, sizeof(m),
			 "request of %zu bytes exceeds the limit of %zu", len,
			 srv->cfg.max_msg);
		log_warn("bus.request.rejected", LF_S("url", srv->url),
			 LF_S("code", LC_ENV_E_TOO_LARGE), LF_S("reason", m));
		srv_send_err(srv, bt, btlen, NULL, LC_ENV_E_TOO_LARGE, m);
		nng_msg_free(msg);
		return;
	}
	if (lc_env_parse_request(nng_msg_body(msg), len, &env, &perr) != 0) {
		log_warn("bus.request.rejected", LF_S("url", srv->url),
			 LF_S("code", perr.code),
			 LF_S("reason", perr.message));
		srv_send_err(srv, bt, btlen, env.id, perr.code, perr.message);
		lc_env_request_release(&env);
		nng_msg_free(msg);
		return;
	}
	h = srv_admit(srv, &env, bt, btlen);
	req = h ? calloc(1, sizeof(*req)) : NULL;
	if (h && !req)
		srv_send_err(srv, bt, btlen, env.id, LC_ENV_E_INTERNAL,
			     "out of memory");
	if (!req) {
		lc_env_request_release(&env);
		nng_msg_free(msg);
		return;
	}
	req->srv = srv;
	req->env = env;
	memcpy(req->bt, bt, btlen);
	req->btlen = btlen;
	nng_msg_free(msg);
	TAILQ_INSERT_TAIL(&srv->reqs, req, link);
	srv->st.inflight++;
	/* The handler may answer (freeing req) before it returns. */
	h->fn(req, req->env.params, h->arg);
}

static void srv_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_bus_server *srv = arg;
	(void)fd;
	(void)what;

	srv_enter(srv);
	for (int n = 0; n < DRAIN_BATCH && !srv->closing; n++) {
		nng_msg *msg;
		int rv = nng_recvmsg(srv->sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			break;
		if (rv != 0) {
			log_error("bus.recv.failed", LF_S("url", srv->url),
				  LF_S("error", nng_strerror(rv)));
			break;
		}
		srv_handle(srv, msg);
	}
	srv_leave(srv);
}

static void srv_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_bus_server *srv = arg;
	(void)fd;
	(void)what;

	srv_enter(srv);
	outq_flush(&srv->q, srv_reply_done, &srv->closing);
	srv_leave(srv);
}

struct lc_bus_server *lc_bus_server_new(struct event_base *base,
					const char *url,
					const struct lc_bus_opts *opts,
					char *err, size_t errlen)
{
	struct lc_bus_server *srv = calloc(1, sizeof(*srv));
	int rv;

	if (srv)
		srv->url = strdup(url);
	if (!srv || !srv->url) {
		set_err(err, errlen, "out of memory");
		free(srv);
		return NULL;
	}
	srv->base = base;
	cfg_resolve(&srv->cfg, opts);
	TAILQ_INIT(&srv->reqs);
	rv = nng_rep0_open_raw(&srv->sock);
	if (rv != 0) {
		set_err(err, errlen, "cannot open rep socket: %s",
			nng_strerror(rv));
		free(srv->url);
		free(srv);
		return NULL;
	}
	outq_init(&srv->q, srv->sock, &srv->st);
	if (sock_setup(srv->sock, &srv->cfg, false, err, errlen) != 0)
		goto fail;
	rv = nng_socket_set_int(srv->sock, NNG_OPT_SENDBUF, SERVER_SENDBUF);
	if (rv != 0) {
		set_err(err, errlen, "cannot set send buffer: %s",
			nng_strerror(rv));
		goto fail;
	}
	srv->recv_ev = poll_event(base, srv->sock, NNG_OPT_RECVFD,
				  srv_recv_cb, srv, err, errlen);
	srv->q.ev = srv->recv_ev ? poll_event(base, srv->sock, NNG_OPT_SENDFD,
					      srv_send_cb, srv, err, errlen)
				 : NULL;
	if (!srv->q.ev)
		goto fail;
	rv = nng_listen(srv->sock, url, NULL, 0);
	if (rv != 0) {
		set_err(err, errlen, "cannot listen on '%s': %s", url,
			nng_strerror(rv));
		goto fail;
	}
	event_add(srv->recv_ev, NULL);
	log_info("bus.listen", LF_S("url", url), LF_S("role", "rep"));
	return srv;
fail:
	srv_destroy(srv);
	return NULL;
}

static void srv_destroy(struct lc_bus_server *srv)
{
	if (srv->recv_ev)
		event_free(srv->recv_ev);
	outq_release(&srv->q, srv_reply_drop);
	nng_close(srv->sock);
	for (size_t i = 0; i < srv->nhandlers; i++)
		free(srv->handlers[i].method);
	free(srv->handlers);
	free(srv->url);
	free(srv);
}

void lc_bus_server_free(struct lc_bus_server *srv)
{
	struct lc_bus_req *req;

	if (!srv || srv->closing)
		return;
	srv->closing = true;
	/* Handlers may still hold requests: orphan them, so that their
	 * eventual answer frees them without touching srv. */
	while ((req = TAILQ_FIRST(&srv->reqs)) != NULL) {
		TAILQ_REMOVE(&srv->reqs, req, link);
		req->srv = NULL;
	}
	srv->st.inflight = 0;
	srv_enter(srv);
	srv_leave(srv);
}

int lc_bus_server_handle(struct lc_bus_server *srv, const char *method,
			 lc_bus_handler fn, void *arg)
{
	struct handler *hs;
	char *m;

	if (!srv || !method || !method[0] || !fn) {
		log_error("bus.handle.invalid", LF_S("method", method));
		return -1;
	}
	if (srv_find(srv, method)) {
		log_error("bus.handle.duplicate", LF_S("method", method));
		return -1;
	}
	m = strdup(method);
	hs = m ? realloc(srv->handlers,
			 (srv->nhandlers + 1) * sizeof(*srv->handlers))
	       : NULL;
	if (!hs) {
		free(m);
		log_error("bus.handle.failed", LF_S("method", method),
			  LF_S("reason", "out of memory"));
		return -1;
	}
	srv->handlers = hs;
	hs[srv->nhandlers++] = (struct handler){ m, fn, arg };
	return 0;
}

void lc_bus_server_drain(struct lc_bus_server *srv)
{
	if (srv)
		srv->draining = true;
}

void lc_bus_server_stats(const struct lc_bus_server *srv,
			 struct lc_bus_stats *out)
{
	*out = srv->st;
	out->queued = srv->q.len;
}

/* Detach req from its server and free it. */
static void req_free(struct lc_bus_req *req)
{
	if (req->srv) {
		TAILQ_REMOVE(&req->srv->reqs, req, link);
		req->srv->st.inflight--;
	}
	lc_env_request_release(&req->env);
	free(req);
}

void lc_bus_reply_ok(struct lc_bus_req *req, cJSON *result)
{
	struct lc_bus_server *srv;
	size_t len = 0;
	char *text;

	if (!req) {
		cJSON_Delete(result);
		return;
	}
	srv = req->srv;
	if (!srv) {
		log_debug("bus.reply.orphan",
			  LF_S("method", req->env.method));
		goto done;
	}
	text = lc_env_format_reply_ok(req->env.id, result, &len);
	if (!text) {
		srv_send_err(srv, req->bt, req->btlen, req->env.id,
			     LC_ENV_E_INTERNAL, "cannot format the reply");
	} else if (len > srv->cfg.max_msg) {
		char m[LC_ENV_MSG_MAX];
		snprintf(m, sizeof(m),
			 "reply of %zu bytes exceeds the limit of %zu", len,
			 srv->cfg.max_msg);
		log_warn("bus.reply.too_large", LF_S("url", srv->url),
			 LF_S("method", req->env.method), LF_I("bytes", len));
		srv_send_err(srv, req->bt, req->btlen, req->env.id,
			     LC_ENV_E_TOO_LARGE, m);
	} else {
		srv_send(srv, req->bt, req->btlen, text, len);
	}
	cJSON_free(text);
done:
	cJSON_Delete(result);
	req_free(req);
}

static void reply_verr(struct lc_bus_req *req, const char *code,
		       cJSON *details, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void reply_verr(struct lc_bus_req *req, const char *code,
		       cJSON *details, const char *fmt, va_list ap)
{
	char m[LC_ENV_MSG_MAX];

	if (!req)
		goto done;
	if (!req->srv) {
		log_debug("bus.reply.orphan",
			  LF_S("method", req->env.method));
		goto done;
	}
	m[0] = '\0';
	if (fmt)
		vsnprintf(m, sizeof(m), fmt, ap);
	if (details && !cJSON_IsObject(details)) {
		log_error("bus.reply.invalid", LF_S("method", req->env.method),
			  LF_S("reason", "details is not an object"));
		cJSON_Delete(details);
		details = NULL;
	}
	srv_send_err_details(req->srv, req->bt, req->btlen, req->env.id,
			     code, m, details);
done:
	cJSON_Delete(details);
	if (req)
		req_free(req);
}

void lc_bus_reply_err(struct lc_bus_req *req, const char *code,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_verr(req, code, NULL, fmt, ap);
	va_end(ap);
}

void lc_bus_reply_err_details(struct lc_bus_req *req, const char *code,
			      cJSON *details, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_verr(req, code, details, fmt, ap);
	va_end(ap);
}

const char *lc_bus_req_method(const struct lc_bus_req *req)
{
	return req->env.method;
}

const cJSON *lc_bus_req_id(const struct lc_bus_req *req)
{
	return req->env.id;
}

/* ---- client ---- */

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
		outq_remove(&cli->q, &call->om);
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
	outq_flush(&cli->q, cli_request_done, &cli->closing);
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

/* A random 32-bit value, so that a restarted client does not reuse the
 * ids its predecessor's late replies carry. */
static uint32_t random_u32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)lc_clock_wall_ms() ^ (uint32_t)getpid();
	return v;
}

/* The eventfd, its event and the pipe callback of connection losses. */
static int lost_setup(struct lc_bus_client *cli, char *err, size_t errlen)
{
	int rv;

	cli->lost_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cli->lost_fd < 0) {
		set_err(err, errlen, "cannot create an eventfd");
		return -1;
	}
	cli->lost_ev = event_new(cli->base, cli->lost_fd, EV_READ | EV_PERSIST,
				 cli_lost_cb, cli);
	if (!cli->lost_ev || event_add(cli->lost_ev, NULL) != 0) {
		set_err(err, errlen, "cannot watch the eventfd");
		return -1;
	}
	rv = nng_pipe_notify(cli->sock, NNG_PIPE_EV_REM_POST, cli_pipe_cb,
			     cli);
	if (rv != 0) {
		set_err(err, errlen, "cannot watch connections: %s",
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
		set_err(err, errlen, "out of memory");
		free(cli);
		return NULL;
	}
	cli->base = base;
	cli->lost_fd = -1;
	cfg_resolve(&cli->cfg, opts);
	cli->next_id = random_u32();
	rv = nng_req0_open_raw(&cli->sock);
	if (rv != 0) {
		set_err(err, errlen, "cannot open req socket: %s",
			nng_strerror(rv));
		free(cli->url);
		free(cli);
		return NULL;
	}
	outq_init(&cli->q, cli->sock, &cli->st);
	if (sock_setup(cli->sock, &cli->cfg, true, err, errlen) != 0)
		goto fail;
	cli->recv_ev = poll_event(base, cli->sock, NNG_OPT_RECVFD,
				  cli_recv_cb, cli, err, errlen);
	cli->q.ev = cli->recv_ev ? poll_event(base, cli->sock, NNG_OPT_SENDFD,
					      cli_send_cb, cli, err, errlen)
				 : NULL;
	if (!cli->q.ev || lost_setup(cli, err, errlen) != 0)
		goto fail;
	rv = nng_dial(cli->sock, url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		set_err(err, errlen, "cannot dial '%s': %s", url,
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
	outq_release(&cli->q, cli_request_drop);
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
	call->om.msg = msg_build(NULL, 0, text, len);
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
	switch (outq_push(&cli->q, &call->om, &rv)) {
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

/* ---- publisher ---- */

struct lc_bus_pub {
	nng_socket sock;
	struct bus_cfg cfg;
	struct lc_bus_stats st;
	char idprefix[64];  /* "<service>-<random boot id>": ids stay
			       unique across publishers and restarts */
	uint64_t seq;       /* event counter */
	char *url;          /* owned, for logs */
};

struct lc_bus_pub *lc_bus_pub_new(const char *url,
				  const struct lc_bus_opts *opts, char *err,
				  size_t errlen)
{
	struct lc_bus_pub *pub = calloc(1, sizeof(*pub));
	int rv;

	if (pub)
		pub->url = strdup(url);
	if (!pub || !pub->url) {
		set_err(err, errlen, "out of memory");
		free(pub);
		return NULL;
	}
	cfg_resolve(&pub->cfg, opts);
	snprintf(pub->idprefix, sizeof(pub->idprefix), "%.32s%s%08x%08x",
		 opts && opts->service ? opts->service : "",
		 opts && opts->service && opts->service[0] ? "-" : "",
		 random_u32(), random_u32());
	rv = nng_pub0_open(&pub->sock);
	if (rv != 0) {
		set_err(err, errlen, "cannot open pub socket: %s",
			nng_strerror(rv));
		free(pub->url);
		free(pub);
		return NULL;
	}
	rv = nng_listen(pub->sock, url, NULL, 0);
	if (rv != 0) {
		set_err(err, errlen, "cannot listen on '%s': %s", url,
			nng_strerror(rv));
		lc_bus_pub_free(pub);
		return NULL;
	}
	log_info("bus.listen", LF_S("url", url), LF_S("role", "pub"));
	return pub;
}

void lc_bus_pub_free(struct lc_bus_pub *pub)
{
	if (!pub)
		return;
	nng_close(pub->sock);
	free(pub->url);
	free(pub);
}

int lc_bus_publish(struct lc_bus_pub *pub, const char *topic, cJSON *data)
{
	char id[96];
	size_t len = 0;
	char *text;
	nng_msg *msg;
	int rv;

	if (!pub || !lc_env_topic_valid(topic) ||
	    (data && !cJSON_IsObject(data))) {
		log_error("bus.publish.invalid", LF_S("topic", topic));
		return -1;
	}
	snprintf(id, sizeof(id), "%s-%llu", pub->idprefix,
		 (unsigned long long)++pub->seq);
	text = lc_env_format_event(topic, id, lc_clock_wall_ms(), data, &len);
	if (!text) {
		log_error("bus.publish.failed", LF_S("topic", topic),
			  LF_S("reason", "out of memory"));
		return -1;
	}
	if (len > pub->cfg.max_msg) {
		log_error("bus.publish.failed", LF_S("topic", topic),
			  LF_S("reason", "event too large"),
			  LF_I("bytes", len));
		cJSON_free(text);
		return -1;
	}
	msg = msg_build(NULL, 0, text, len);
	cJSON_free(text);
	rv = msg ? nng_sendmsg(pub->sock, msg, NNG_FLAG_NONBLOCK) : NNG_ENOMEM;
	if (rv != 0) {
		nng_msg_free(msg);
		log_error("bus.publish.failed", LF_S("topic", topic),
			  LF_S("error", nng_strerror(rv)));
		return -1;
	}
	pub->st.sent++;
	cJSON_Delete(data);
	return 0;
}

void lc_bus_pub_stats(const struct lc_bus_pub *pub, struct lc_bus_stats *out)
{
	*out = pub->st;
}

/* ---- subscriber ---- */

struct subscription {
	char *topic; /* owned; "" matches every topic */
	lc_bus_event_cb cb;
	void *arg;
};

struct lc_bus_sub {
	struct event_base *base;
	nng_socket sock;
	struct event *recv_ev;     /* RECVFD */
	struct bus_cfg cfg;
	struct subscription *subs; /* owned array */
	size_t nsubs;
	struct lc_bus_stats st;
	int busy;                  /* callbacks running (justfree) */
	bool closing;              /* lc_bus_sub_free was called */
};

static void sub_destroy(struct lc_bus_sub *sub)
{
	if (sub->recv_ev)
		event_free(sub->recv_ev);
	nng_close(sub->sock);
	for (size_t i = 0; i < sub->nsubs; i++)
		free(sub->subs[i].topic);
	free(sub->subs);
	free(sub);
}

/* Deliver one event message (consumed) to the matching subscriptions. */
static void sub_handle(struct lc_bus_sub *sub, nng_msg *msg)
{
	struct lc_env_event ev;
	struct lc_env_error perr;
	size_t len = nng_msg_len(msg);

	sub->st.received++;
	if (len > sub->cfg.max_msg) {
		log_warn("bus.event.dropped", LF_S("reason", "too large"),
			 LF_I("bytes", len));
		sub->st.dropped++;
		goto done;
	}
	if (lc_env_parse_event(nng_msg_body(msg), len, &ev, &perr) != 0) {
		log_warn("bus.event.dropped", LF_S("reason", perr.message));
		sub->st.dropped++;
		goto done;
	}
	/* A callback may subscribe (growing subs) or free sub. */
	for (size_t i = 0; i < sub->nsubs && !sub->closing; i++) {
		const struct subscription *s = &sub->subs[i];
		if (!s->topic[0] || strcmp(s->topic, ev.topic) == 0)
			s->cb(ev.topic, ev.data, ev.root, s->arg);
	}
	lc_env_event_release(&ev);
done:
	nng_msg_free(msg);
}

static void sub_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lc_bus_sub *sub = arg;
	(void)fd;
	(void)what;

	sub->busy++;
	for (int n = 0; n < DRAIN_BATCH && !sub->closing; n++) {
		nng_msg *msg;
		int rv = nng_recvmsg(sub->sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			break;
		if (rv != 0) {
			log_error("bus.recv.failed", LF_S("role", "sub"),
				  LF_S("error", nng_strerror(rv)));
			break;
		}
		sub_handle(sub, msg);
	}
	if (--sub->busy == 0 && sub->closing)
		sub_destroy(sub);
}

struct lc_bus_sub *lc_bus_sub_new(struct event_base *base,
				  const struct lc_bus_opts *opts, char *err,
				  size_t errlen)
{
	struct lc_bus_sub *sub = calloc(1, sizeof(*sub));
	int rv;

	if (!sub) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	sub->base = base;
	cfg_resolve(&sub->cfg, opts);
	rv = nng_sub0_open(&sub->sock);
	if (rv != 0) {
		set_err(err, errlen, "cannot open sub socket: %s",
			nng_strerror(rv));
		free(sub);
		return NULL;
	}
	if (sock_setup(sub->sock, &sub->cfg, true, err, errlen) != 0)
		goto fail;
	sub->recv_ev = poll_event(base, sub->sock, NNG_OPT_RECVFD,
				  sub_recv_cb, sub, err, errlen);
	if (!sub->recv_ev)
		goto fail;
	event_add(sub->recv_ev, NULL);
	return sub;
fail:
	sub_destroy(sub);
	return NULL;
}

void lc_bus_sub_free(struct lc_bus_sub *sub)
{
	if (!sub || sub->closing)
		return;
	sub->closing = true;
	if (sub->busy == 0)
		sub_destroy(sub);
}

int lc_bus_sub_dial(struct lc_bus_sub *sub, const char *url, char *err,
		    size_t errlen)
{
	int rv = nng_dial(sub->sock, url, NULL, NNG_FLAG_NONBLOCK);

	if (rv != 0) {
		set_err(err, errlen, "cannot dial '%s': %s", url,
			nng_strerror(rv));
		return -1;
	}
	return 0;
}

int lc_bus_subscribe(struct lc_bus_sub *sub, const char *topic,
		     lc_bus_event_cb cb, void *arg)
{
	char prefix[LC_ENV_TOPIC_MAX + 2];
	struct subscription *ss;
	char *t;
	int rv;

	if (!sub || !topic || !cb ||
	    (topic[0] && !lc_env_topic_valid(topic))) {
		log_error("bus.subscribe.invalid", LF_S("topic", topic));
		return -1;
	}
	/* "topic " so that "signal.new" does not match "signal.newer". */
	snprintf(prefix, sizeof(prefix), "%s%s", topic, topic[0] ? " " : "");
	t = strdup(topic);
	ss = t ? realloc(sub->subs, (sub->nsubs + 1) * sizeof(*sub->subs))
	       : NULL;
	if (!ss) {
		free(t);
		log_error("bus.subscribe.failed", LF_S("topic", topic),
			  LF_S("reason", "out of memory"));
		return -1;
	}
	sub->subs = ss;
	rv = nng_socket_set(sub->sock, NNG_OPT_SUB_SUBSCRIBE, prefix,
			    strlen(prefix));
	if (rv != 0) {
		free(t);
		log_error("bus.subscribe.failed", LF_S("topic", topic),
			  LF_S("error", nng_strerror(rv)));
		return -1;
	}
	ss[sub->nsubs++] = (struct subscription){ t, cb, arg };
	return 0;
}

void lc_bus_sub_stats(const struct lc_bus_sub *sub, struct lc_bus_stats *out)
{
	*out = sub->st;
}
