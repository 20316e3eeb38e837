/* Keep-alive HTTP/1.1 connections to one bot, on bufferevents. */
#include "services/gateway/botpool.h"

#include "libcommon/clock.h"
#include "libcommon/log.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum body_mode {
	BODY_NONE,     /* HEAD, 204, 304 */
	BODY_LENGTH,   /* Content-Length */
	BODY_CHUNKED,  /* Transfer-Encoding: chunked */
	BODY_EOF,      /* until the bot closes */
};

enum parse_state {
	P_HEAD,        /* waiting for the status line and headers */
	P_BODY,        /* BODY_LENGTH / BODY_EOF bytes */
	P_CHUNK_SIZE,  /* a chunk-size line */
	P_CHUNK_DATA,  /* chunk bytes */
	P_CHUNK_CRLF,  /* the CRLF after a chunk */
	P_TRAILER,     /* trailer lines up to an empty one */
	P_DONE,
};

struct conn;

struct gw_upreq {
	struct gw_pool *pool;
	struct conn *conn;            /* while sent on a connection */
	struct gw_upreq *next_wait;   /* in the pool's wait queue */
	struct gw_upreq *all_prev, *all_next; /* every live request */
	gw_up_cb cb;
	void *arg;
	char *wire;                   /* owned: the whole request */
	size_t wire_len;
	struct event deadline;        /* embedded */
	int64_t started_ms;
	size_t max_body;
	bool is_head;                 /* method HEAD: no body comes */
	bool idempotent;              /* may be sent twice */
	bool retried;
	bool waiting;                 /* in the wait queue */
	enum gw_up_error fail;        /* a failure to report from the loop */
	/* the response being read */
	enum parse_state st;
	enum body_mode mode;
	uint64_t left;                /* bytes of body / chunk to go */
	bool keep_alive;              /* the bot lets us reuse it */
	size_t got;                   /* response bytes seen */
	int status;
	const char *reason;           /* points into head */
	char *head;                   /* owned: status line + headers */
	struct gw_up_header hdrs[GW_POOL_MAX_HEADERS];
	size_t nhdrs;
	struct evbuffer *body;        /* owned */
};

struct conn {
	struct gw_pool *pool;
	struct bufferevent *bev;      /* owned */
	struct conn *prev, *next;     /* in the idle or the busy list */
	struct gw_upreq *q;           /* the request, when busy */
	bool in_idle;
	bool connected;
	bool reused;                  /* served a response before */
};

struct gw_pool {
	struct event_base *base;      /* borrowed */
	struct evdns_base *dns;       /* owned, only for a host name */
	char host[256];
	int port;
	struct sockaddr_storage sa;   /* when host is numeric */
	int salen;                    /* 0: host is a name */
	struct conn *idle;            /* newest first */
	struct conn *busy;
	unsigned nconns, nidle;
	struct gw_upreq *wait_head, *wait_tail;
	struct gw_upreq *reqs;        /* every live request */
	unsigned nreq;                /* their number */
	bool retired;                 /* free after the last request */
	bool freeing;                 /* inside gw_pool_free */
};

static void conn_close(struct conn *c);
static void dispatch_waiting(struct gw_pool *p);

/* End q with error on a later loop turn (never inside the caller's
 * gw_pool_request): through its deadline event, activated now. */
static void fail_later(struct gw_upreq *q, enum gw_up_error error)
{
	q->fail = error;
	event_active(&q->deadline, EV_TIMEOUT, 1);
}
static void conn_read(struct bufferevent *bev, void *arg);

/* ---- lists ---- */

static void list_add(struct conn **head, struct conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

static void list_del(struct conn **head, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void wait_push(struct gw_pool *p, struct gw_upreq *q)
{
	q->next_wait = NULL;
	q->waiting = true;
	if (p->wait_tail)
		p->wait_tail->next_wait = q;
	else
		p->wait_head = q;
	p->wait_tail = q;
}

static struct gw_upreq *wait_pop(struct gw_pool *p)
{
	struct gw_upreq *q = p->wait_head;

	if (!q)
		return NULL;
	p->wait_head = q->next_wait;
	if (!p->wait_head)
		p->wait_tail = NULL;
	q->waiting = false;
	return q;
}

static void wait_remove(struct gw_pool *p, struct gw_upreq *q)
{
	struct gw_upreq **pp = &p->wait_head, *prev = NULL;

	while (*pp && *pp != q) {
		prev = *pp;
		pp = &(*pp)->next_wait;
	}
	if (!*pp)
		return;
	*pp = q->next_wait;
	if (p->wait_tail == q)
		p->wait_tail = prev;
	q->waiting = false;
}

/* ---- ending a request ---- */

static void pool_destroy(struct gw_pool *p)
{
	while (p->idle)
		conn_close(p->idle);
	while (p->busy)
		conn_close(p->busy);
	if (p->dns)
		evdns_base_free(p->dns, 0);
	free(p);
}

static void pool_maybe_free(struct gw_pool *p)
{
	if (p->retired && !p->freeing && p->nreq == 0)
		pool_destroy(p);
}

static void req_free(struct gw_upreq *q)
{
	struct gw_pool *p = q->pool;

	event_del(&q->deadline);
	if (q->all_prev)
		q->all_prev->all_next = q->all_next;
	else
		p->reqs = q->all_next;
	if (q->all_next)
		q->all_next->all_prev = q->all_prev;
	if (q->body)
		evbuffer_free(q->body);
	free(q->head);
	free(q->wire);
	free(q);
	p->nreq--;
}

/* Detach q from everything, run its callback, free it. */
static void req_end(struct gw_upreq *q, enum gw_up_error error)
{
	struct gw_pool *p = q->pool;
	struct gw_up_res res = {
		.error = error,
		.status = error == GW_UP_OK ? q->status : 0,
		.reason = error == GW_UP_OK && q->reason ? q->reason : "",
		.headers = q->hdrs,
		.nheaders = error == GW_UP_OK ? q->nhdrs : 0,
		.body = q->body,
		.elapsed_ms = lc_clock_mono_ms() - q->started_ms,
	};

	if (q->waiting)
		wait_remove(p, q);
	if (q->conn) {
		q->conn->q = NULL;
		q->conn = NULL;
	}
	event_del(&q->deadline);
	q->cb(&res, q->arg);
	req_free(q);
	pool_maybe_free(p);
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	struct gw_pool *p = c->pool;

	if (c->q)
		c->q->conn = NULL;
	if (c->in_idle) {
		list_del(&p->idle, c);
		p->nidle--;
	} else {
		list_del(&p->busy, c);
	}
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
	p->nconns--;
	if (!p->freeing && p->wait_head)
		dispatch_waiting(p);
}

static void set_idle(struct conn *c)
{
	struct gw_pool *p = c->pool;
	struct timeval tv;

	list_del(&p->busy, c);
	list_add(&p->idle, c);
	c->in_idle = true;
	p->nidle++;
	c->reused = true;
	lc_clock_tv(&tv, GW_POOL_IDLE_MS);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

static void unset_idle(struct conn *c)
{
	struct gw_pool *p = c->pool;

	list_del(&p->idle, c);
	c->in_idle = false;
	p->nidle--;
	list_add(&p->busy, c);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
}

/*
 * Write q's request on c. On an open connection with nothing queued the
 * bytes go out at once with send(): a small request then needs no write
 * event (two epoll_ctl calls and a loop turn saved per request, this
 * path's main cost after the kernel's own); what send() does not take is
 * left to the bufferevent.
 */
static int put_wire(struct conn *c, const struct gw_upreq *q)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t off = 0;

	if (c->connected && evbuffer_get_length(out) == 0) {
		ssize_t n = send(bufferevent_getfd(c->bev), q->wire,
				 q->wire_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			off = (size_t)n;
	}
	if (off == q->wire_len)
		return 0;
	return bufferevent_write(c->bev, q->wire + off, q->wire_len - off);
}

/* Put q's request on c and start reading its response. */
static void conn_send(struct conn *c, struct gw_upreq *q)
{
	c->q = q;
	q->conn = c;
	q->st = P_HEAD;
	q->got = 0;
	free(q->head);
	q->head = NULL;
	q->nhdrs = 0;
	evbuffer_drain(q->body, evbuffer_get_length(q->body));
	if (put_wire(c, q) != 0) {
		c->q = NULL;
		q->conn = NULL;
		conn_close(c);
		fail_later(q, GW_UP_BROKEN);
		return;
	}
	if (!(bufferevent_get_enabled(c->bev) & EV_READ))
		bufferevent_enable(c->bev, EV_READ);
}

/* The response on c is complete. */
static void response_done(struct conn *c)
{
	struct gw_upreq *q = c->q;
	struct gw_pool *p = c->pool;
	bool reuse = q->keep_alive && q->mode != BODY_EOF && !p->retired &&
		     evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;

	c->q = NULL;
	q->conn = NULL;
	if (reuse) {
		set_idle(c);
		dispatch_waiting(p);
	} else {
		conn_close(c);
	}
	req_end(q, GW_UP_OK);
}

/* ---- the response parser ---- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* "HTTP/1.x SSS reason"; false if it is not. */
static bool parse_status(struct gw_upreq *q, char *line, bool *http10)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (line[12] != ' ' && line[12] != '\0'))
		return false;
	*http10 = line[7] == '0';
	q->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
		    (line[11] - '0');
	q->reason = line[12] ? trim(line + 13) : line + 12;
	return true;
}

/* Is token one of the comma-separated items of list? */
static bool has_token(const char *list, const char *token)
{
	size_t n = strlen(token);

	for (const char *s = list; *s;) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		const char *e = s;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - s) == n && strncasecmp(s, token, n) == 0)
			return true;
		s = e;
	}
	return false;
}

static bool parse_length(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (!*v)
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > UINT64_MAX / 10 - 10)
			return false;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return true;
}

struct framing {
	bool chunked, have_len, close, keep;
	uint64_t len;
};

static bool note_header(struct framing *f, const char *name,
			const char *value)
{
	uint64_t n;

	if (strcasecmp(name, "Transfer-Encoding") == 0) {
		f->chunked = has_token(value, "chunked");
	} else if (strcasecmp(name, "Content-Length") == 0) {
		if (!parse_length(value, &n) || (f->have_len && n != f->len))
			return false;
		f->have_len = true;
		f->len = n;
	} else if (strcasecmp(name, "Connection") == 0) {
		f->close |= has_token(value, "close");
		f->keep |= has_token(value, "keep-alive");
	}
	return true;
}

/* Split q->head into the status line and headers; choose the framing. */
static bool parse_head(struct gw_upreq *q)
{
	char *save = NULL, *line = strtok_r(q->head, "\n", &save);
	struct framing f = { 0 };
	bool http10 = false;

	if (!line || !parse_status(q, trim(line), &http10))
		return false;
	q->nhdrs = 0;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		line = trim(line);
		if (!*line)
			continue;
		char *colon = strchr(line, ':');
		if (!colon || colon == line || q->nhdrs >= GW_POOL_MAX_HEADERS)
			return false;
		*colon = '\0';
		if (strpbrk(line, " \t"))
			return false;
		const char *value = trim(colon + 1);
		q->hdrs[q->nhdrs++] = (struct gw_up_header){ line, value };
		if (!note_header(&f, line, value))
			return false;
	}
	q->keep_alive = http10 ? f.keep && !f.close : !f.close;
	if (q->is_head || q->status == 204 || q->status == 304 ||
	    q->status < 200) {
		q->mode = BODY_NONE;
	} else if (f.chunked) {
		q->mode = BODY_CHUNKED;
	} else if (f.have_len) {
		q->mode = BODY_LENGTH;
		q->left = f.len;
	} else {
		q->mode = BODY_EOF;
	}
	return true;
}

/* Read the head if it is all there: -1 protocol error, -2 too big, 0 more
 * data needed, 1 parsed, 2 an interim (1xx) answer was skipped. */
static int read_head(struct gw_upreq *q, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	if (end.pos < 0)
		return evbuffer_get_length(in) > GW_POOL_MAX_HEAD ? -1 : 0;
	size_t n = (size_t)end.pos + 4;
	if (n > GW_POOL_MAX_HEAD)
		return -1;
	free(q->head);
	q->head = malloc(n + 1);
	if (!q->head)
		return -1;
	evbuffer_remove(in, q->head, n);
	q->head[n] = '\0';
	if (!parse_head(q))
		return -1;
	if (q->status >= 100 && q->status < 200) /* 100 Continue & co. */
		return 2;
	switch (q->mode) {
	case BODY_NONE:
		q->st = P_DONE;
		break;
	case BODY_CHUNKED:
		q->st = P_CHUNK_SIZE;
		break;
	case BODY_LENGTH:
		q->st = q->left ? P_BODY : P_DONE;
		if (q->left > q->max_body)
			return -2;
		break;
	case BODY_EOF:
		q->st = P_BODY;
		break;
	}
	return 1;
}

/* Move up to n bytes of body; false past the limit. */
static bool take_body(struct gw_upreq *q, struct evbuffer *in, size_t n)
{
	if (evbuffer_get_length(q->body) + n > q->max_body)
		return false;
	evbuffer_remove_buffer(in, q->body, n);
	return true;
}

static int chunk_size(struct gw_upreq *q, struct evbuffer *in)
{
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	char *end = NULL;

	if (!line)
		return evbuffer_get_length(in) > 1024 ? -1 : 0;
	unsigned long long size = strtoull(line, &end, 16);
	bool ok = end != line && (*end == '\0' || *end == ';' ||
				  *end == ' ' || *end == '\t');
	free(line);
	if (!ok)
		return -1;
	q->left = size;
	q->st = size ? P_CHUNK_DATA : P_TRAILER;
	return 1;
}

/* Parse what is in the input; -1 protocol error, -2 too big, 0 more data
 * needed, 1 the response is complete. */
static int parse_more(struct gw_upreq *q, struct evbuffer *in)
{
	int rv;

	for (;;) {
		size_t avail = evbuffer_get_length(in);
		switch (q->st) {
		case P_HEAD:
			rv = read_head(q, in); /* 2: an interim answer */
			if (rv <= 0)
				return rv;
			break;
		case P_BODY:
			if (q->mode == BODY_EOF) {
				if (!take_body(q, in, avail))
					return -2;
				return 0;
			}
			if (!avail)
				return 0;
			size_t n = avail < q->left ? avail : (size_t)q->left;
			if (!take_body(q, in, n))
				return -2;
			q->left -= n;
			if (q->left == 0)
				q->st = P_DONE;
			break;
		case P_CHUNK_SIZE:
			rv = chunk_size(q, in);
			if (rv <= 0)
				return rv;
			break;
		case P_CHUNK_DATA:
			if (!avail)
				return 0;
			n = avail < q->left ? avail : (size_t)q->left;
			if (!take_body(q, in, n))
				return -2;
			q->left -= n;
			if (q->left == 0)
				q->st = P_CHUNK_CRLF;
			break;
		case P_CHUNK_CRLF:
			if (avail < 2)
				return 0;
			char crlf[2];
			evbuffer_remove(in, crlf, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n')
				return -1;
			q->st = P_CHUNK_SIZE;
			break;
		case P_TRAILER: {
			size_t len;
			char *line = evbuffer_readln(in, &len,
						     EVBUFFER_EOL_CRLF);
			if (!line)
				return avail > GW_POOL_MAX_HEAD ? -1 : 0;
			free(line);
			if (len == 0)
				q->st = P_DONE;
			break;
		}
		case P_DONE:
			return 1;
		}
	}
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct gw_upreq *q = c->q;

	if (!q) { /* an idle connection that talks: close it */
		conn_close(c);
		return;
	}
	q->got += evbuffer_get_length(in);
	int rv = parse_more(q, in);
	if (rv == 1) {
		response_done(c);
	} else if (rv < 0) {
		log_warn("proxy.bad_response", LF_S("host", c->pool->host),
			 LF_I("port", c->pool->port),
			 LF_S("reason", rv == -2 ? "body too large"
					       : "not HTTP/1.1"));
		conn_close(c);
		req_end(q, rv == -2 ? GW_UP_TOO_BIG : GW_UP_BROKEN);
	}
}

static void conn_new(struct gw_pool *p, struct gw_upreq *q);

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct gw_upreq *q = c->q;
	struct gw_pool *p = c->pool;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->connected = true;
		return;
	}
	bool was_connected = c->connected, reused = c->reused;
	if (q && q->st == P_BODY && q->mode == BODY_EOF &&
	    (what & BEV_EVENT_EOF)) {
		q->st = P_DONE;
		c->q = NULL;
		q->conn = NULL;
		conn_close(c);
		req_end(q, GW_UP_OK);
		return;
	}
	conn_close(c);
	if (!q)
		return;
	if (reused && q->got == 0 && q->idempotent && !q->retried &&
	    !p->retired) {
		q->retried = true; /* the bot closed an idle connection */
		conn_new(p, q);
		return;
	}
	req_end(q, was_connected ? GW_UP_BROKEN : GW_UP_REFUSED);
}

static int new_socket(const struct gw_pool *p)
{
	int one = 1;
	int fd = socket(p->salen ? p->sa.ss_family : AF_INET,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Open a connection for q (which is sent once it is open). */
static void conn_new(struct gw_pool *p, struct gw_upreq *q)
{
	struct conn *c = calloc(1, sizeof(*c));
	int fd = p->salen ? new_socket(p) : -1;

	if (!c || (p->salen && fd < 0)) {
		free(c);
		if (fd >= 0)
			close(fd);
		fail_later(q, GW_UP_REFUSED);
		return;
	}
	c->pool = p;
	c->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		if (fd >= 0)
			close(fd);
		fail_later(q, GW_UP_REFUSED);
		return;
	}
	p->nconns++;
	list_add(&p->busy, c);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	int rv = p->salen ? bufferevent_socket_connect(
				    c->bev, (struct sockaddr *)&p->sa,
				    p->salen)
			  : bufferevent_socket_connect_hostname(
				    c->bev, p->dns, AF_UNSPEC, p->host,
				    p->port);
	if (rv != 0) {
		conn_close(c);
		fail_later(q, GW_UP_REFUSED);
		return;
	}
	conn_send(c, q);
}

/* Give q a connection: an idle one, a new one, or a place in line. */
static void assign(struct gw_pool *p, struct gw_upreq *q)
{
	if (p->idle) {
		struct conn *c = p->idle;
		unset_idle(c);
		conn_send(c, q);
	} else if (p->nconns < GW_POOL_MAX_CONNS) {
		conn_new(p, q);
	} else {
		wait_push(p, q);
	}
}

static void dispatch_waiting(struct gw_pool *p)
{
	while (p->wait_head && (p->idle || p->nconns < GW_POOL_MAX_CONNS))
		assign(p, wait_pop(p));
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct gw_upreq *q = arg;
	struct conn *c = q->conn;

	(void)fd;
	(void)what;
	if (q->fail != GW_UP_OK) {
		req_end(q, q->fail);
		return;
	}
	if (c) { /* mid-exchange: the connection cannot be reused */
		c->q = NULL;
		q->conn = NULL;
		conn_close(c);
	}
	req_end(q, GW_UP_TIMEOUT);
}

/* ---- the API ---- */

struct gw_pool *gw_pool_new(struct event_base *base, const char *host,
			    int port)
{
	struct gw_pool *p = calloc(1, sizeof(*p));
	char addr[300];
	int len = (int)sizeof(p->sa);

	if (!p)
		return NULL;
	p->base = base;
	p->port = port;
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
		 host, port);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&p->sa,
				       &len) == 0) {
		p->salen = len;
	} else {
		p->dns = evdns_base_new(base,
					EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!p->dns) {
			free(p);
			return NULL;
		}
	}
	return p;
}

void gw_pool_free(struct gw_pool *p)
{
	if (!p)
		return;
	p->freeing = true;
	while (p->idle)
		conn_close(p->idle);
	while (p->busy)
		conn_close(p->busy); /* detaches its request */
	while (p->reqs)
		req_end(p->reqs, GW_UP_CANCELLED);
	pool_destroy(p);
}

void gw_pool_retire(struct gw_pool *p)
{
	if (!p)
		return;
	p->retired = true;
	while (p->idle)
		conn_close(p->idle);
	pool_maybe_free(p);
}

static bool idempotent(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	       strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0 ||
	       strcmp(m, "OPTIONS") == 0;
}

static bool sends_body(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
	       strcmp(m, "PATCH") == 0;
}

/* The request as bytes: line, Host, the caller's headers, length. */
static char *serialize(const struct gw_pool *p, const char *method,
		       const char *target, const char *headers,
		       const void *body, size_t body_len, size_t *out_len)
{
	char cl[48] = "";

	if (body || sends_body(method))
		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", body_len);
	bool v6 = strchr(p->host, ':') != NULL;
	int n = snprintf(NULL, 0,
			 "%s %s HTTP/1.1\r\nHost: %s%s%s:%d\r\n%s%s\r\n",
			 method, target, v6 ? "[" : "", p->host, v6 ? "]" : "",
			 p->port, headers ? headers : "", cl);
	char *w = n > 0 ? malloc((size_t)n + body_len + 1) : NULL;

	if (!w)
		return NULL;
	snprintf(w, (size_t)n + 1,
		 "%s %s HTTP/1.1\r\nHost: %s%s%s:%d\r\n%s%s\r\n", method,
		 target, v6 ? "[" : "", p->host, v6 ? "]" : "", p->port,
		 headers ? headers : "", cl);
	if (body_len)
		memcpy(w + n, body, body_len);
	w[(size_t)n + body_len] = '\0';
	*out_len = (size_t)n + body_len;
	return w;
}

struct gw_upreq *gw_pool_request(struct gw_pool *p, const char *method,
				 const char *target, const char *headers,
				 const void *body, size_t body_len,
				 int64_t timeout_ms, size_t max_body,
				 gw_up_cb cb, void *arg)
{
	struct gw_upreq *q = calloc(1, sizeof(*q));
	struct timeval tv;

	if (!q)
		return NULL;
	q->wire = serialize(p, method, target, headers, body, body_len,
			    &q->wire_len);
	q->body = evbuffer_new();
	if (!q->wire || !q->body) {
		free(q->wire);
		if (q->body)
			evbuffer_free(q->body);
		free(q);
		return NULL;
	}
	q->pool = p;
	q->cb = cb;
	q->arg = arg;
	q->max_body = max_body;
	q->is_head = strcmp(method, "HEAD") == 0;
	q->idempotent = idempotent(method);
	q->started_ms = lc_clock_mono_ms();
	evtimer_assign(&q->deadline, p->base, on_deadline, q);
	lc_clock_tv(&tv, timeout_ms > 0 ? timeout_ms : 30000);
	evtimer_add(&q->deadline, &tv);
	p->nreq++;
	q->all_next = p->reqs;
	if (p->reqs)
		p->reqs->all_prev = q;
	p->reqs = q;
	assign(p, q);
	return q;
}

void gw_upreq_cancel(struct gw_upreq *q)
{
	struct gw_pool *p;

	if (!q)
		return;
	p = q->pool;
	if (q->waiting)
		wait_remove(p, q);
	if (q->conn) {
		struct conn *c = q->conn;
		c->q = NULL;
		q->conn = NULL;
		conn_close(c);
	}
	req_free(q);
	pool_maybe_free(p);
}

const char *gw_up_header(const struct gw_up_res *res, const char *name)
{
	for (size_t i = 0; i < res->nheaders; i++)
		if (strcasecmp(res->headers[i].name, name) == 0)
			return res->headers[i].value;
	return NULL;
}

unsigned gw_pool_conns(const struct gw_pool *p)
{
	return p ? p->nconns : 0;
}

unsigned gw_pool_idle(const struct gw_pool *p)
{
	return p ? p->nidle : 0;
}
