/* The message bus: events, from a pub0 publisher to sub0 subscribers.
 * The design (raw sockets, poll fds, queues) is explained in bus.h. */
#include "libcommon/bus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "libcommon/bus_internal.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

/* Queue depth, in messages, on both sides of an event's way: each
 * subscriber's pipe in the publisher, and the subscriber's socket before
 * the loop reads it. nng drops an event when either is full (pub/sub
 * has no back-pressure), and its defaults (16 and 128) overflow in the
 * bursts a busy loop meets: a gateway writing a million WebSocket frames
 * a second let 0.5 % of 1,000 signal.new/s fall there (bench/gateway).
 * 8192 is nng's maximum; the queues hold pointers to the messages, which
 * exist only while they wait. */
#define EVENT_QUEUE 8192

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
		bus_set_err(err, errlen, "out of memory");
		free(pub);
		return NULL;
	}
	bus_cfg_resolve(&pub->cfg, opts);
	snprintf(pub->idprefix, sizeof(pub->idprefix), "%.32s%s%08x%08x",
		 opts && opts->service ? opts->service : "",
		 opts && opts->service && opts->service[0] ? "-" : "",
		 bus_random_u32(), bus_random_u32());
	rv = nng_pub0_open(&pub->sock);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot open pub socket: %s",
			    nng_strerror(rv));
		free(pub->url);
		free(pub);
		return NULL;
	}
	rv = nng_socket_set_int(pub->sock, NNG_OPT_SENDBUF, EVENT_QUEUE);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot set send-buffer: %s",
			    nng_strerror(rv));
		lc_bus_pub_free(pub);
		return NULL;
	}
	rv = nng_listen(pub->sock, url, NULL, 0);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot listen on '%s': %s", url,
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
	msg = bus_msg_build(NULL, 0, text, len);
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
		bus_set_err(err, errlen, "out of memory");
		return NULL;
	}
	sub->base = base;
	bus_cfg_resolve(&sub->cfg, opts);
	rv = nng_sub0_open(&sub->sock);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot open sub socket: %s",
			    nng_strerror(rv));
		free(sub);
		return NULL;
	}
	if (bus_sock_setup(sub->sock, &sub->cfg, true, err, errlen) != 0)
		goto fail;
	rv = nng_socket_set_int(sub->sock, NNG_OPT_RECVBUF, EVENT_QUEUE);
	if (rv != 0) {
		bus_set_err(err, errlen, "cannot set recv-buffer: %s",
			    nng_strerror(rv));
		goto fail;
	}
	sub->recv_ev = bus_poll_event(base, sub->sock, NNG_OPT_RECVFD,
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
		bus_set_err(err, errlen, "cannot dial '%s': %s", url,
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
