/* A small HTTP/1.1 server for the webhook port (see httpd.h). */
#include "services/signal-ingest/httpd.h"

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "services/signal-ingest/values.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_MIN 4096          /* room asked of each read */
#define LINGER_MS 2000         /* read-and-drop after a refusal */
#define LINGER_MAX (1u << 20)  /* ... at most this much */

enum cstate {
	CS_HEAD,    /* reading the request line and headers */
	CS_BODY,    /* reading the body */
	CS_HANDLER, /* the handler has the request */
	CS_WRITE,   /* writing the answer */
	CS_LINGER,  /* answered with close: dropping what still comes */
};

struct conn {
	struct httpd *h;        /* NULL once the server is freed */
	int fd;                 /* -1 once closed */
	struct event *rev, *wev;
	enum cstate st;
	char *in;               /* what was read, request first */
	size_t in_len, in_cap;
	size_t scanned;         /* searched for the blank line so far */
	size_t head_len;        /* request line + headers + blank line */
	size_t body_len;
	size_t off_method, off_path, off_query, len_query, off_ctype;
	bool has_query, has_ctype;
	bool keep_alive, expect_continue, linger;
	char saved;             /* byte overwritten by the body's NUL */
	struct httpd_req req;
	char *out;
	size_t out_len, out_off, out_cap;
	size_t lingered;
	struct conn *prev, *next;
};

struct httpd {
	struct event_base *base;
	struct evconnlistener *lis;
	size_t max_body;
	httpd_handler fn;
	httpd_refused refused;
	void *arg;
	struct conn *conns;     /* every open connection */
	unsigned nconns;
	unsigned pending;       /* requests with the handler */
	bool accepting;
	bool paused;            /* listener off: too many connections */
	int port;
};

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void process(struct conn *c);

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static void arm_read(struct conn *c, int64_t ms)
{
	struct timeval tv;
	lc_clock_tv(&tv, ms);
	event_add(c->rev, &tv);
}

/* ---- closing ---- */

static void conn_free(struct conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void unlink_conn(struct conn *c)
{
	struct httpd *h = c->h;
	if (!h)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	h->nconns--;
	if (h->paused && h->accepting && h->nconns < HTTPD_MAX_CONNS) {
		evconnlistener_enable(h->lis);
		h->paused = false;
	}
}

/* Close the connection. One whose request is with the handler keeps
 * its memory until the handler answers. */
static void conn_close(struct conn *c)
{
	if (c->st == CS_HANDLER && c->h)
		c->h->pending--; /* no longer the server's to wait for */
	unlink_conn(c);
	if (c->st != CS_HANDLER) {
		conn_free(c);
		return;
	}
	event_free(c->rev);
	event_free(c->wev);
	c->rev = c->wev = NULL;
	close(c->fd);
	c->fd = -1;
	c->h = NULL;
}

/* ---- writing ---- */

static int out_reserve(struct conn *c, size_t n)
{
	if (c->out_cap - c->out_len >= n)
		return 0;
	size_t cap = c->out_len + n + 256;
	char *p = realloc(c->out, cap);
	if (!p)
		return -1;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

/* The answer is written: next request, or close. */
static void finish(struct conn *c)
{
	size_t end = c->head_len + c->body_len;
	struct httpd *h = c->h;
	c->out_len = c->out_off = 0;
	if (!c->keep_alive || !h || !h->accepting) {
		if (!c->linger) {
			conn_close(c);
			return;
		}
		shutdown(c->fd, SHUT_WR);
		c->st = CS_LINGER;
		c->in_len = 0;
		arm_read(c, LINGER_MS);
		return;
	}
	c->in[end] = c->saved;
	memmove(c->in, c->in + end, c->in_len - end);
	c->in_len -= end;
	c->st = CS_HEAD;
	c->scanned = c->head_len = c->body_len = 0;
	arm_read(c, c->in_len ? HTTPD_READ_MS : HTTPD_IDLE_MS);
	if (c->in_len) /* a pipelined request: go on from the loop */
		event_active(c->rev, EV_READ, 0);
}

static void write_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct timeval tv;
			lc_clock_tv(&tv, HTTPD_READ_MS);
			c->st = CS_WRITE;
			event_add(c->wev, &tv);
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	finish(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	if (what & EV_TIMEOUT) {
		conn_close(c);
		return;
	}
	write_out(c);
}

/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", made once a second. */
static const char *date_header(void)
{
	static char line[64];
	static time_t made;
	time_t now = time(NULL);
	struct tm tm;
	if (now != made || !line[0]) {
		gmtime_r(&now, &tm);
		strftime(line, sizeof(line),
			 "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		made = now;
	}
	return line;
}

/* Status line, headers and body into c->out. */
static int format(struct conn *c, int status, const char *body, size_t len,
		  const char *extra)
{
	int n;
	if (out_reserve(c, len + 256 + (extra ? strlen(extra) : 0)) != 0)
		return -1;
	n = snprintf(c->out + c->out_len, c->out_cap - c->out_len,
		     "HTTP/1.1 %d %s\r\n%sContent-Type: application/json"
		     "\r\nContent-Length: %zu\r\n%s%s\r\n",
		     status, reason(status), date_header(), len,
		     extra ? extra : "",
		     c->keep_alive ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= c->out_cap - c->out_len)
		return -1;
	c->out_len += (size_t)n;
	memcpy(c->out + c->out_len, body, len);
	c->out_len += len;
	return 0;
}

static void send_answer(struct conn *c, int status, const char *body,
			size_t len, const char *extra)
{
	if (format(c, status, body, len, extra) != 0) {
		conn_close(c);
		return;
	}
	c->st = CS_WRITE;
	write_out(c);
}

void httpd_reply(struct httpd_req *r, int status, const char *body,
		 size_t len, const char *extra_headers)
{
	struct conn *c = (struct conn *)((char *)r -
					 offsetof(struct conn, req));
	if (!c->h) {
		conn_free(c); /* the server closed it meanwhile */
		return;
	}
	c->h->pending--;
	c->st = CS_WRITE;
	if (!c->h->accepting)
		c->keep_alive = false;
	send_answer(c, status, body, len, extra_headers);
}

static int error_body(char *out, size_t n, const char *code,
		      const char *detail)
{
	int len = snprintf(out, n, "{\"error\":\"%s\",\"detail\":\"", code);
	size_t at = len > 0 ? (size_t)len : 0;
	for (const char *d = detail; *d && at + 8 < n; d++) {
		unsigned char ch = (unsigned char)*d;
		if (ch == '"' || ch == '\\') {
			out[at++] = '\\';
			out[at++] = (char)ch;
		} else if (ch >= 0x80) {
			out[at++] = '?'; /* a cut name must not break UTF-8 */
		} else if (ch < 0x20) {
			at += (size_t)snprintf(out + at, n - at, "\\u%04x",
					       ch);
		} else {
			out[at++] = (char)ch;
		}
	}
	at += (size_t)snprintf(out + at, n - at, "\"}");
	return (int)at;
}

void httpd_reply_error(struct httpd_req *r, int status, const char *code,
		       const char *detail)
{
	char body[512];
	int n = error_body(body, sizeof(body), code, detail);
	httpd_reply(r, status, body, (size_t)n,
		    status == 405 ? "Allow: POST\r\n" : NULL);
}

/* The server refuses the request itself and closes afterwards. */
static void refuse(struct conn *c, int status, const char *code,
		   const char *detail)
{
	char body[512];
	int n = error_body(body, sizeof(body), code, detail);
	if (c->h && c->h->refused)
		c->h->refused(status, code, c->h->arg);
	c->keep_alive = false;
	c->linger = true;
	event_del(c->rev);
	send_answer(c, status, body, (size_t)n, NULL);
}

/* ---- parsing ---- */

/* Outcome of reading the head: 0, or an HTTP status to refuse with. */
struct head_err {
	int status;
	const char *code;
	const char *detail;
};

static int head_fail(struct head_err *e, int status, const char *code,
		     const char *detail)
{
	e->status = status;
	e->code = code;
	e->detail = detail;
	return -1;
}

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch);
}

/* "METHOD SP target SP HTTP/1.x" in line[0..len). */
static int request_line(struct conn *c, char *line, size_t len,
			struct head_err *e)
{
	char *sp1 = memchr(line, ' ', len), *sp2, *q;
	if (!sp1 || sp1 == line)
		return head_fail(e, 400, "bad_request", "bad request line");
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (!sp2 || sp2 == sp1 + 1 || sp1[1] != '/')
		return head_fail(e, 400, "bad_request", "bad request target");
	for (char *p = line; p < sp1; p++)
		if (!is_tchar(*p))
			return head_fail(e, 400, "bad_request", "bad method");
	for (char *p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return head_fail(e, 400, "bad_request",
					 "bad request target");
	size_t vlen = len - (size_t)(sp2 + 1 - line);
	if (vlen != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return head_fail(e, 505, "http_version_not_supported",
				 "only HTTP/1.0 and HTTP/1.1 are served");
	c->keep_alive = sp2[8] == '1';
	*sp1 = *sp2 = '\0';
	c->off_method = 0;
	c->off_path = (size_t)(sp1 + 1 - c->in);
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	c->has_query = q != NULL;
	if (q) {
		*q = '\0';
		c->off_query = (size_t)(q + 1 - c->in);
		c->len_query = (size_t)(sp2 - q - 1);
	}
	return 0;
}

static int content_length(struct conn *c, const char *v, bool *seen,
			  struct head_err *e)
{
	size_t n = 0;
	if (!*v || strlen(v) > 18 || strspn(v, "0123456789") != strlen(v))
		return head_fail(e, 400, "bad_request", "bad Content-Length");
	for (; *v; v++)
		n = n * 10 + (size_t)(*v - '0');
	if (*seen && n != c->body_len)
		return head_fail(e, 400, "bad_request",
				 "conflicting Content-Length headers");
	*seen = true;
	c->body_len = n;
	return 0;
}

/* Does the comma-separated list v hold token t (case-insensitive)? */
static bool has_token(const char *v, const char *t)
{
	size_t n = strlen(t);
	while (*v) {
		v += strspn(v, " \t,");
		size_t len = strcspn(v, " \t,");
		if (len == n && strncasecmp(v, t, n) == 0)
			return true;
		v += len;
	}
	return false;
}

static int header(struct conn *c, char *name, char *v, bool *cl_seen,
		  struct head_err *e)
{
	if (strcasecmp(name, "content-length") == 0)
		return content_length(c, v, cl_seen, e);
	if (strcasecmp(name, "transfer-encoding") == 0)
		return head_fail(e, 411, "length_required",
				 "send the body with a Content-Length "
				 "(chunked bodies are not accepted)");
	if (strcasecmp(name, "content-type") == 0) {
		c->has_ctype = true;
		c->off_ctype = (size_t)(v - c->in);
	} else if (strcasecmp(name, "connection") == 0) {
		if (has_token(v, "close"))
			c->keep_alive = false;
		else if (has_token(v, "keep-alive"))
			c->keep_alive = true;
	} else if (strcasecmp(name, "expect") == 0) {
		if (strcasecmp(v, "100-continue") != 0)
			return head_fail(e, 417, "expectation_failed",
					 "only Expect: 100-continue is "
					 "understood");
		c->expect_continue = true;
	}
	return 0;
}

/* One "Name: value" line (NUL-terminated in place). */
static int header_line(struct conn *c, char *line, size_t len,
		       bool *cl_seen, struct head_err *e)
{
	char *colon = memchr(line, ':', len), *v, *end = line + len;
	if (line[0] == ' ' || line[0] == '\t')
		return head_fail(e, 400, "bad_request",
				 "folded header lines are not accepted");
	if (!colon || colon == line)
		return head_fail(e, 400, "bad_request", "bad header line");
	for (char *p = line; p < colon; p++)
		if (!is_tchar(*p))
			return head_fail(e, 400, "bad_request",
					 "bad header name");
	*colon = '\0';
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	for (char *p = v; p < end; p++)
		if (*p == '\0' || *p == '\r' || *p == '\n')
			return head_fail(e, 400, "bad_request",
					 "bad header value");
	return header(c, line, v, cl_seen, e);
}

/* The head is in[0..head_len): split and check it in place. */
static int parse_head(struct conn *c, struct head_err *e)
{
	char *p = c->in, *end = c->in + c->head_len - 2;
	bool first = true, cl_seen = false;
	c->has_query = c->has_ctype = false;
	c->expect_continue = c->linger = false;
	c->body_len = 0;
	while (p < end) {
		char *eol = memchr(p, '\r', (size_t)(end - p));
		if (!eol || eol[1] != '\n')
			return head_fail(e, 400, "bad_request",
					 "lines must end in CRLF");
		size_t len = (size_t)(eol - p);
		*eol = '\0';
		if (memchr(p, '\n', len))
			return head_fail(e, 400, "bad_request",
					 "lines must end in CRLF");
		if (first ? request_line(c, p, len, e)
			  : header_line(c, p, len, &cl_seen, e))
			return -1;
		first = false;
		p = eol + 2;
	}
	return first ? head_fail(e, 400, "bad_request", "empty request") : 0;
}

/* ---- reading ---- */

static int in_reserve(struct conn *c, size_t need)
{
	if (c->in_cap >= need)
		return 0;
	size_t cap = c->in_cap ? c->in_cap : READ_MIN;
	while (cap < need)
		cap *= 2;
	char *p = realloc(c->in, cap);
	if (!p)
		return -1;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

static void dispatch(struct conn *c)
{
	size_t end = c->head_len + c->body_len;
	struct httpd *h = c->h;
	c->saved = c->in[end];
	c->in[end] = '\0';
	c->req = (struct httpd_req){
		.method = c->in + c->off_method,
		.path = c->in + c->off_path,
		.query = c->has_query ? c->in + c->off_query : NULL,
		.query_len = c->has_query ? c->len_query : 0,
		.content_type = c->has_ctype ? c->in + c->off_ctype : NULL,
		.body = c->in + c->head_len,
		.body_len = c->body_len,
		.received_us = val_now_us(),
	};
	/* the read event stays registered (no epoll_ctl per request);
	 * see hold() for when the socket turns readable meanwhile */
	c->st = CS_HANDLER;
	h->pending++;
	h->fn(&c->req, h->arg);
}

/* The blank line ending the head, searching only new bytes. */
static bool find_head_end(struct conn *c)
{
	size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
	char *p = NULL;
	if (c->in_len >= 4)
		p = memmem(c->in + from, c->in_len - from, "\r\n\r\n", 4);
	c->scanned = c->in_len;
	if (!p)
		return false;
	c->head_len = (size_t)(p + 4 - c->in);
	return true;
}

static void head_done(struct conn *c)
{
	struct head_err e;
	if (parse_head(c, &e) != 0) {
		refuse(c, e.status, e.code, e.detail);
		return;
	}
	if (c->body_len > c->h->max_body) {
		char d[128];
		snprintf(d, sizeof(d), "the body is larger than %zu bytes",
			 c->h->max_body);
		refuse(c, 413, "payload_too_large", d);
		return;
	}
	if (in_reserve(c, c->head_len + c->body_len + 1) != 0) {
		conn_close(c);
		return;
	}
	if (c->expect_continue && c->in_len < c->head_len + c->body_len) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) < 0)
			log_debug("httpd.continue_failed");
	}
	c->st = CS_BODY;
}

/* Act on what has been read. */
static void process(struct conn *c)
{
	if (c->st == CS_HEAD) {
		if (!find_head_end(c)) {
			if (c->in_len > HTTPD_MAX_HEAD)
				refuse(c, 431, "headers_too_large",
				       "the request head is too large");
			return;
		}
		if (c->head_len > HTTPD_MAX_HEAD + 4) {
			refuse(c, 431, "headers_too_large",
			       "the request head is too large");
			return;
		}
		head_done(c);
		if (c->st != CS_BODY)
			return;
	}
	if (c->st == CS_BODY && c->in_len >= c->head_len + c->body_len)
		dispatch(c);
}

static void linger_read(struct conn *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	c->lingered += n > 0 ? (size_t)n : 0;
	if (n <= 0 || c->lingered > LINGER_MAX)
		conn_close(c);
}

/* Readable while the answer is pending: a pipelined request or the
 * client's end. Either waits until the answer is out; stop watching, or
 * level-triggered epoll would report it again and again. */
static void hold(struct conn *c)
{
	event_del(c->rev);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	bool answering = c->st == CS_HANDLER || c->st == CS_WRITE;
	if (what & EV_TIMEOUT) {
		if (answering) /* the handler or the write decides */
			arm_read(c, HTTPD_IDLE_MS);
		else
			conn_close(c);
		return;
	}
	if (answering) {
		hold(c);
		return;
	}
	if (c->st == CS_LINGER) {
		linger_read(c);
		return;
	}
	size_t limit = HTTPD_MAX_HEAD + 8 +
		       (c->st == CS_BODY ? c->body_len : 0);
	if (c->st == CS_HEAD || c->in_len < c->head_len + c->body_len) {
		size_t want = c->in_len + READ_MIN;
		if (c->st == CS_BODY)
			want = c->head_len + c->body_len + 1;
		if (in_reserve(c, want < limit ? want : limit) != 0) {
			conn_close(c);
			return;
		}
		ssize_t n = read(fd, c->in + c->in_len,
				 c->in_cap - c->in_len - 1);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (n > 0)
			c->in_len += (size_t)n;
		if (c->st == CS_HEAD || c->st == CS_BODY)
			arm_read(c, HTTPD_READ_MS);
	}
	process(c);
}

/* ---- accepting ---- */

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct httpd *h = arg;
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;
	(void)lis;
	(void)sa;
	(void)salen;
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->h = h;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->rev = event_new(h->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(h->base, fd, EV_WRITE, on_write, c);
	if (!c->rev || !c->wev) {
		conn_free(c);
		return;
	}
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	if (++h->nconns >= HTTPD_MAX_CONNS && !h->paused) {
		evconnlistener_disable(h->lis);
		h->paused = true;
	}
	arm_read(c, HTTPD_READ_MS);
}

struct httpd *httpd_new(struct event_base *base, const char *addr, int port,
			size_t max_body, httpd_handler fn,
			httpd_refused refused, void *arg, char *err,
			size_t errlen)
{
	struct httpd *h = calloc(1, sizeof(*h));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (inet_pton(AF_INET, addr && *addr ? addr : "127.0.0.1",
		      &sin.sin_addr) != 1) {
		snprintf(err, errlen, "'%s' is not a numeric IPv4 address",
			 addr);
		free(h);
		return NULL;
	}
	sin.sin_port = htons((uint16_t)port);
	h->base = base;
	h->max_body = max_body;
	h->fn = fn;
	h->refused = refused;
	h->arg = arg;
	h->accepting = true;
	h->lis = evconnlistener_new_bind(
		base, on_accept, h,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
			LEV_OPT_CLOSE_ON_EXEC,
		1024, (struct sockaddr *)&sin, sizeof(sin));
	if (!h->lis) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s",
			 addr && *addr ? addr : "127.0.0.1", port,
			 strerror(errno));
		free(h);
		return NULL;
	}
	getsockname(evconnlistener_get_fd(h->lis), (struct sockaddr *)&sin,
		    &len);
	h->port = ntohs(sin.sin_port);
	return h;
}

void httpd_set_max_body(struct httpd *h, size_t max_body)
{
	h->max_body = max_body;
}

void httpd_stop_accepting(struct httpd *h)
{
	struct conn *c, *next;
	if (!h->accepting)
		return;
	h->accepting = false;
	evconnlistener_disable(h->lis);
	for (c = h->conns; c; c = next) {
		next = c->next;
		if (c->st == CS_HEAD && c->in_len == 0)
			conn_close(c);
	}
}

unsigned httpd_pending(const struct httpd *h)
{
	return h->pending;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_close(h->conns);
	evconnlistener_free(h->lis);
	free(h);
}
