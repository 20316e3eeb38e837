/* The message bus: the server, a raw rep0 socket that answers requests
 * in any order. The design (raw sockets, poll fds, queues) is explained
 * in bus.h. */
#include "libcommon/bus.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "libcommon/bus_internal.h"
#include "libcommon/log.h"

#define SERVER_SENDBUF 128 /* nng's own reply buffer (server) */
#define BACKTRACE_MAX 64   /* pipe id + 15 hops (nng's max ttl) */

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
		om->msg = bus_msg_build(bt, btlen, body, blen);
	if (!om || !om->msg) {
		log_error("bus.reply.dropped", LF_S("url", srv->url),
			  LF_S("reason", "out of memory"));
		srv->st.dropped++;
		free(om);
		return;
	}
	switch (bus_outq_push(&srv->q, om, &rv)) {
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
	bus_outq_flush(&srv->q, srv_reply_done, &srv->closing);
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
		bus_set_err(err, errlen, "out of memory");
		free(srv);
		return NULL;
	}
	srv->base = base;
	bus_cfg_resolve(&srv->cfg, opts);
	TAILQ_INIT(&srv->reqs);
	rv = nng_rep0_open_raw(&srv->sock);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot open rep socket: %s",
			    nng_strerror(rv));
		free(srv->url);
		free(srv);
		return NULL;
	}
	bus_outq_init(&srv->q, srv->sock, &srv->st);
	if (bus_sock_setup(srv->sock, &srv->cfg, false, err, errlen) != 0)
		goto fail;
	rv = nng_socket_set_int(srv->sock, NNG_OPT_SENDBUF, SERVER_SENDBUF);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot set send buffer: %s",
			    nng_strerror(rv));
		goto fail;
	}
	srv->recv_ev = bus_poll_event(base, srv->sock, NNG_OPT_RECVFD,
				      srv_recv_cb, srv, err, errlen);
	srv->q.ev = srv->recv_ev ? bus_poll_event(base, srv->sock,
						  NNG_OPT_SENDFD, srv_send_cb,
						  srv, err, errlen)
				 : NULL;
	if (!srv->q.ev)
		goto fail;
	rv = nng_listen(srv->sock, url, NULL, 0);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot listen on '%s': %s", url,
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
	bus_outq_release(&srv->q, srv_reply_drop);
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
