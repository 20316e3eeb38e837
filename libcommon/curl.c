/* Outbound HTTP: one libcurl multi handle on the libevent loop (curl's
 * docs/examples/hiperfifo.c pattern). */
#include "libcommon/curl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "libcommon/buf.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"

#define DEF_TIMEOUT_MS 30000
#define DEF_CONNECT_TIMEOUT_MS 10000
#define DEF_MAX_RESPONSE (1u << 20)
#define MAX_HEADER_BYTES (64u << 10) /* all response headers together */
/* Idle connections kept for reuse. The monitor polls up to 999 bots,
 * three endpoints each; curl's default (4 x added handles) shrinks as
 * transfers finish, which would drop the keep-alive connections. */
#define MAX_CACHED_CONNS 1024L
#define USER_AGENT "btc-watcher/" BTCW_VERSION

/* One socket curl asked us to watch: one event on the loop. */
struct sock {
	struct lc_curl *c;          /* owner */
	curl_socket_t fd;
	struct event *ev;           /* owned; persistent, read and/or write */
	struct sock *prev, *next;   /* in c->socks */
};

struct lc_curl {
	struct event_base *base;    /* borrowed */
	CURLM *multi;               /* owned */
	struct event *timer;        /* owned; curl's one timeout */
	struct lc_curl_req *reqs;   /* in flight (doubly linked) */
	struct sock *socks;         /* watched sockets */
	int pending;                /* length of reqs */
	int busy;                   /* depth of our event callbacks */
	bool dying;                 /* lc_curl_free ran while busy */
};

struct lc_curl_req {
	struct lc_curl *c;          /* owner */
	CURL *easy;                 /* owned */
	lc_curl_cb cb;
	void *arg;                  /* borrowed, passed to cb */
	struct curl_slist *headers; /* owned; request headers */
	struct lc_buf body;         /* response body, max max_response */
	struct lc_buf hdrs;         /* response headers: "name\0value\0"… */
	bool body_too_big;          /* the write callback refused data */
	bool hdrs_too_big;          /* the header callback refused data */
	bool in_cb;                 /* the callback is running */
	int64_t start_ms;           /* monotonic */
	char errbuf[CURL_ERROR_SIZE]; /* curl's detail of a failure */
	char error[CURL_ERROR_SIZE + 64]; /* what the callback is told */
	struct lc_curl_req *prev, *next; /* in c->reqs */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- lists ---- */

static void req_link(struct lc_curl *c, struct lc_curl_req *r)
{
	r->prev = NULL;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->pending++;
}

static void req_unlink(struct lc_curl *c, struct lc_curl_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	c->pending--;
}

/* Free a request that is no longer in the multi handle nor the list. */
static void req_free(struct lc_curl_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	lc_buf_release(&r->body);
	lc_buf_release(&r->hdrs);
	free(r);
}

/* ---- curl's callbacks: no user code and no curl calls run in here ---- */

static void on_socket_event(evutil_socket_t fd, short what, void *arg);

static void sock_free(struct sock *s)
{
	struct lc_curl *c = s->c;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *socketp)
{
	(void)easy;
	struct lc_curl *c = userp;
	struct sock *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(s);
		return 0;
	}
	short kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->c = c;
		s->fd = fd;
		s->ev = event_new(c->base, fd, kind, on_socket_event, s);
		if (!s->ev) {
			free(s);
			return -1;
		}
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	} else {
		/* not pending after event_del, so it may be re-assigned */
		event_del(s->ev);
		event_assign(s->ev, c->base, fd, kind, on_socket_event, s);
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: one timer; curl is called when it fires, never
 * from in here (curl forbids calling it back from its callbacks). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct lc_curl *c = userp;
	if (timeout_ms < 0)
		return event_del(c->timer) == 0 ? 0 : -1;
	struct timeval tv;
	lc_clock_tv(&tv, timeout_ms);
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

/* CURLOPT_WRITEFUNCTION: keep the body, bounded. */
static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct lc_curl_req *r = arg;
	size_t len = size * n;
	if (lc_buf_append(&r->body, p, len) != 0) {
		r->body_too_big = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	return len;
}

static size_t trim_len(const char *p, size_t n)
{
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' ||
		     p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return n;
}

/* CURLOPT_HEADERFUNCTION: keep "name\0value\0" pairs of the last
 * response (a new status line, after a 100 Continue or a proxy's CONNECT
 * answer, starts over). */
static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct lc_curl_req *r = arg;
	size_t len = size * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		lc_buf_reset(&r->hdrs);
		return len;
	}
	const char *colon = memchr(p, ':', len);
	if (!colon || colon == p)
		return len; /* the blank line ending the headers, or junk */
	size_t nlen = trim_len(p, (size_t)(colon - p));
	const char *v = colon + 1;
	size_t vlen = len - (size_t)(v - p);
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	vlen = trim_len(v, vlen);
	if (lc_buf_append(&r->hdrs, p, nlen) != 0 ||
	    lc_buf_append(&r->hdrs, "", 1) != 0 ||
	    lc_buf_append(&r->hdrs, v, vlen) != 0 ||
	    lc_buf_append(&r->hdrs, "", 1) != 0) {
		r->hdrs_too_big = true;
		return 0;
	}
	return len;
}

/* ---- completion ---- */

/* The text the callback gets for a failed transfer. */
static void describe_error(struct lc_curl_req *r, CURLcode rc,
			   bool *timed_out)
{
	long os_errno = 0;
	const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
	*timed_out = false;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		*timed_out = true;
		snprintf(r->error, sizeof(r->error), "timeout");
		return;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ECONNREFUSED) {
			snprintf(r->error, sizeof(r->error),
				 "connection refused");
			return;
		}
		break;
	case CURLE_FILESIZE_EXCEEDED:
		snprintf(r->error, sizeof(r->error), "response too large");
		return;
	case CURLE_WRITE_ERROR:
		if (r->body_too_big || r->hdrs_too_big) {
			snprintf(r->error, sizeof(r->error), "%s",
				 r->body_too_big
					 ? "response too large"
					 : "response headers too large");
			return;
		}
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(r->error, sizeof(r->error), "cannot resolve host");
		return;
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(r->error, sizeof(r->error), "cannot resolve proxy");
		return;
	case CURLE_GOT_NOTHING:
		snprintf(r->error, sizeof(r->error), "empty reply");
		return;
	default:
		break;
	}
	snprintf(r->error, sizeof(r->error), "%s", detail);
}

/* Take r out of the multi handle and the list, run its callback with
 * error (NULL: the outcome rc) and free it. */
static void finish(struct lc_curl_req *r, CURLcode rc, const char *error)
{
	struct lc_curl *c = r->c;
	curl_multi_remove_handle(c->multi, r->easy);
	req_unlink(c, r);
	struct lc_curl_response res = {
		.body = r->body.data ? r->body.data : "",
		.body_len = r->body.len,
		.elapsed_ms = lc_clock_mono_ms() - r->start_ms,
		.req = r,
	};
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	if (error) {
		snprintf(r->error, sizeof(r->error), "%s", error);
		res.error = r->error;
	} else if (rc != CURLE_OK) {
		describe_error(r, rc, &res.timed_out);
		res.error = r->error;
	}
	r->in_cb = true;
	r->cb(&res, r->arg);
	req_free(r);
}

/* Hand every finished transfer to its callback. A callback may start,
 * cancel or free (c->dying) anything, so the queue is read afresh. */
static void deliver(struct lc_curl *c)
{
	CURLMsg *m;
	int left;
	while (!c->dying) {
		m = curl_multi_info_read(c->multi, &left);
		if (!m)
			break;
		if (m->msg != CURLMSG_DONE)
			continue;
		struct lc_curl_req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &r);
		finish(r, m->data.result, NULL);
	}
}

static void destroy(struct lc_curl *c)
{
	/* closing the cached connections may report sockets as removed;
	 * whatever curl did not report is freed after it */
	curl_multi_cleanup(c->multi);
	while (c->socks)
		sock_free(c->socks);
	event_free(c->timer);
	free(c);
	curl_global_cleanup();
}

/* Run curl for fd (or its timeout), then the callbacks of what finished.
 * busy makes an lc_curl_free from inside a callback wait for us. */
static void drive(struct lc_curl *c, curl_socket_t fd, int action)
{
	int running;
	c->busy++;
	CURLMcode mc = curl_multi_socket_action(c->multi, fd, action,
						&running);
	if (mc != CURLM_OK)
		log_error("curl.socket_action_failed",
			  LF_S("error", curl_multi_strerror(mc)));
	deliver(c);
	if (--c->busy == 0 && c->dying)
		destroy(c);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct sock *s = arg; /* may be freed inside drive() */
	int action = 0;
	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	drive(s->c, fd, action);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* ---- API ---- */

struct lc_curl *lc_curl_new(struct event_base *base, char *err,
			    size_t errlen)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		set_err(err, errlen, "cannot initialise libcurl: %s",
			curl_easy_strerror(rc));
		return NULL;
	}
	struct lc_curl *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->base = base;
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timer, c);
	if (!c->multi || !c->timer)
		goto fail;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, MAX_CACHED_CONNS);
	/* no cap per host or in total: a cap queues transfers, and curl's
	 * timeout does not run while one waits in its queue */
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
	return c;
fail:
	set_err(err, errlen, "cannot create the curl multi handle: %s",
		strerror(ENOMEM));
	if (c) {
		if (c->multi)
			curl_multi_cleanup(c->multi);
		if (c->timer)
			event_free(c->timer);
		free(c);
	}
	curl_global_cleanup();
	return NULL;
}

void lc_curl_free(struct lc_curl *c)
{
	if (!c || c->dying)
		return;
	c->dying = true; /* lc_curl_start refuses from now on */
	while (c->reqs)
		finish(c->reqs, CURLE_OK, "cancelled");
	if (c->busy == 0)
		destroy(c);
	/* else drive() destroys c when the callback that called us returns */
}

static bool is_method(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/* Request headers: the caller's, plus an empty "Expect:" so that curl
 * never waits for a "100 Continue" before sending a body. */
static int build_headers(struct lc_curl_req *r, const char *const *h)
{
	bool has_expect = false;
	for (size_t i = 0; h && h[i]; i++) {
		struct curl_slist *l = curl_slist_append(r->headers, h[i]);
		if (!l)
			return -1;
		r->headers = l;
		if (strncasecmp(h[i], "Expect:", 7) == 0)
			has_expect = true;
	}
	if (!has_expect) {
		struct curl_slist *l = curl_slist_append(r->headers,
							 "Expect:");
		if (!l)
			return -1;
		r->headers = l;
	}
	return 0;
}

/* Set every option of r's easy handle from o. -1 on a refused option. */
static int configure(struct lc_curl_req *r, const struct lc_curl_opts *o)
{
	CURL *e = r->easy;
	const char *method = o->method ? o->method : "GET";
	long timeout = o->timeout_ms > 0 ? (long)o->timeout_ms
					 : DEF_TIMEOUT_MS;
	long ctimeout = o->connect_timeout_ms > 0 ? (long)o->connect_timeout_ms
						  : DEF_CONNECT_TIMEOUT_MS;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, o->url);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
				(curl_off_t)r->body.max);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	/* "" rather than NULL: ignore http_proxy and friends too */
	bad |= curl_easy_setopt(e, CURLOPT_PROXY, o->proxy ? o->proxy : "");
	if (o->userpwd) {
		bad |= curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
		bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH,
					(long)CURLAUTH_BASIC);
	}
	if (o->insecure) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/* A body goes as POSTFIELDS (copied); POST, PUT and PATCH without one
	 * send an empty body rather than read stdin. CUSTOMREQUEST changes
	 * only the method name, for everything curl would not pick itself. */
	bool post = is_method(method, "POST");
	bool head = is_method(method, "HEAD");
	bool get = is_method(method, "GET");
	if (o->body || post || is_method(method, "PUT") ||
	    is_method(method, "PATCH")) {
		/* size first: COPYPOSTFIELDS copies that many bytes */
		curl_off_t n = o->body ? (curl_off_t)o->body_len : 0;
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, n);
		bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
					o->body ? o->body : "");
	}
	if (head)
		bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (!post && !(get && !o->body))
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	return bad ? -1 : 0;
}

struct lc_curl_req *lc_curl_start(struct lc_curl *c,
				  const struct lc_curl_opts *o,
				  lc_curl_cb cb, void *arg)
{
	const char *why = "out of memory";
	if (c->dying || !o->url || !cb) {
		log_error("curl.start_failed",
			  LF_S("error", c->dying ? "client is being freed"
						 : "no url or callback"));
		return NULL;
	}
	struct lc_curl_req *r = calloc(1, sizeof(*r));
	if (!r)
		goto fail;
	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->start_ms = lc_clock_mono_ms();
	lc_buf_init(&r->body, o->max_response_bytes ? o->max_response_bytes
						    : DEF_MAX_RESPONSE);
	lc_buf_init(&r->hdrs, MAX_HEADER_BYTES);
	r->easy = curl_easy_init();
	if (!r->easy || build_headers(r, o->headers) != 0)
		goto fail;
	if (configure(r, o) != 0) {
		why = "option refused";
		goto fail;
	}
	CURLMcode mc = curl_multi_add_handle(c->multi, r->easy);
	if (mc != CURLM_OK) {
		why = curl_multi_strerror(mc);
		goto fail;
	}
	/* adding sets a 0 ms timeout (timer_cb): the transfer starts on
	 * the next loop turn, so cb never runs inside this call */
	req_link(c, r);
	return r;
fail:
	log_error("curl.start_failed",
		  LF_S("method", o->method ? o->method : "GET"),
		  LF_S("error", why));
	if (r)
		req_free(r);
	return NULL;
}

void lc_curl_cancel(struct lc_curl_req *r)
{
	if (!r || r->in_cb)
		return; /* cancelling itself from its callback: nothing left */
	struct lc_curl *c = r->c;
	curl_multi_remove_handle(c->multi, r->easy);
	req_unlink(c, r);
	req_free(r);
}

const char *lc_curl_header(const struct lc_curl_req *r, const char *name)
{
	const char *p = r->hdrs.data;
	const char *end = p ? p + r->hdrs.len : NULL;
	while (p && p < end) {
		const char *v = p + strlen(p) + 1;
		if (strcasecmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

int lc_curl_pending(const struct lc_curl *c)
{
	return c->pending;
}
