#ifndef LC_BUS_INTERNAL_H
#define LC_BUS_INTERNAL_H
/*
 * Private to the message bus, not part of the public API (that is
 * libcommon/bus.h, which also explains the design): what more than one
 * of libcommon/bus_*.c needs. Only those files include this header.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <nng/nng.h>

#include "libcommon/bus.h"

#define DRAIN_BATCH 64 /* messages moved per wake-up */

/* Resolved settings of one socket. */
struct bus_cfg {
	size_t max_msg;    /* application limit */
	int timeout_ms;    /* client default deadline */
	unsigned max_inflight;
	int reconn_min_ms;
	int reconn_max_ms;
};

void bus_cfg_resolve(struct bus_cfg *c, const struct lc_bus_opts *o);

void bus_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Apply the size limit (and, for dialers, the redial timing) to s. */
int bus_sock_setup(nng_socket s, const struct bus_cfg *cfg, bool dialer,
		   char *err, size_t errlen);

/* A persistent read event on the poll fd that nng exposes as opt. */
struct event *bus_poll_event(struct event_base *base, nng_socket s,
			     const char *opt, event_callback_fn cb,
			     void *arg, char *err, size_t errlen);

/* A message with the given header and body, or NULL on ENOMEM. */
nng_msg *bus_msg_build(const void *hdr, size_t hlen, const void *body,
		       size_t blen);

/* A random 32-bit value, so that a restarted client does not reuse the
 * ids its predecessor's late replies carry. */
uint32_t bus_random_u32(void);

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
	OUTQ_QUEUED, /* waiting in q; sent by bus_outq_flush() */
	OUTQ_FAILED, /* nng refused it; om->msg is still the caller's */
};

void bus_outq_init(struct outq *q, nng_socket s, struct lc_bus_stats *st);

/* Send om->msg now if nothing is ahead of it, else queue it. On
 * OUTQ_FAILED *nrv is nng's error. */
enum outq_rv bus_outq_push(struct outq *q, struct outmsg *om, int *nrv);

/* Take om out of q (it was queued); frees its message. */
void bus_outq_remove(struct outq *q, struct outmsg *om);

/*
 * Hand queued messages to nng until it would block. done(om, rv) is
 * called for each message that left the queue: rv 0 sent (om->msg is
 * NULL), else nng's error (om->msg freed). done may run user callbacks.
 */
void bus_outq_flush(struct outq *q, void (*done)(struct outmsg *, int),
		    const bool *closing);

/* Free every message still queued (teardown). */
void bus_outq_release(struct outq *q, void (*drop)(struct outmsg *));

#endif
