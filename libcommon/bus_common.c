/* The message bus: helpers shared by its sockets, and the send queue.
 * The design (raw sockets, poll fds, queues) is explained in bus.h. */
#include "libcommon/bus_internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>

#include "libcommon/clock.h"

#define TRANSPORT_SLACK 4096 /* RECVMAXSZ = 2 * limit + this */

void bus_cfg_resolve(struct bus_cfg *c, const struct lc_bus_opts *o)
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

void bus_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int bus_sock_setup(nng_socket s, const struct bus_cfg *cfg, bool dialer,
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
		bus_set_err(err, errlen, "cannot set socket options: %s",
			    nng_strerror(rv));
	return rv == 0 ? 0 : -1;
}

struct event *bus_poll_event(struct event_base *base, nng_socket s,
			     const char *opt, event_callback_fn cb,
			     void *arg, char *err, size_t errlen)
{
	struct event *ev;
	int fd;
	int rv = nng_socket_get_int(s, opt, &fd);

	if (rv != 0) {
		bus_set_err(err, errlen, "cannot get '%s': %s", opt,
			    nng_strerror(rv));
		return NULL;
	}
	ev = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg);
	if (!ev)
		bus_set_err(err, errlen, "cannot create event for '%s'", opt);
	return ev;
}

nng_msg *bus_msg_build(const void *hdr, size_t hlen, const void *body,
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

uint32_t bus_random_u32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)lc_clock_wall_ms() ^ (uint32_t)getpid();
	return v;
}

/* ---- send queue: messages waiting for SENDFD ---- */

void bus_outq_init(struct outq *q, nng_socket s, struct lc_bus_stats *st)
{
	TAILQ_INIT(&q->head);
	q->len = 0;
	q->ev = NULL;
	q->sock = s;
	q->sent = &st->sent;
	q->dropped = &st->dropped;
}

enum outq_rv bus_outq_push(struct outq *q, struct outmsg *om, int *nrv)
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

void bus_outq_remove(struct outq *q, struct outmsg *om)
{
	TAILQ_REMOVE(&q->head, om, link);
	q->len--;
	nng_msg_free(om->msg);
	om->msg = NULL;
	if (TAILQ_EMPTY(&q->head))
		event_del(q->ev);
}

void bus_outq_flush(struct outq *q, void (*done)(struct outmsg *, int),
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

void bus_outq_release(struct outq *q, void (*drop)(struct outmsg *))
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
