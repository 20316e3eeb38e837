/* WebSocket client: handshake, masked frames out, messages in. */
#include "services/gateway/wsclient.h"

#include "libcommon/clock.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_HEAD 16384
#define DEF_MAX_MESSAGE (16u << 20)
#define DEF_MAX_OUTBUF (1u << 20)
#define LINGER_MS 2000

enum { OP_CONT = 0, OP_TEXT = 1, OP_BIN = 2, OP_CLOSE = 8, OP_PING = 9,
       OP_PONG = 10 };

struct gw_wsc {
	struct gw_wsc_cbs cbs;
	void *arg;
	struct bufferevent *bev;     /* owned */
	struct event *later;         /* owned: deadline, then on_close */
	char accept[32];             /* the Sec-WebSocket-Accept we want */
	size_t max_message, max_outbuf;
	bool open;                   /* handshake done */
	bool ending;                 /* on_close is scheduled */
	bool lingering;              /* gw_wsc_close: flush, then free */
	int http_status, code;       /* for on_close */
	char reason[124];
	struct evbuffer *msg;        /* owned: fragments so far */
	int msg_op;                  /* their opcode, 0 if none */
	struct gw_wsc *prev, *next;  /* every client alive */
};

/* Every client alive, for gw_wsc_free_all() at exit (one loop thread). */
static struct gw_wsc *all;

static void wsc_free(struct gw_wsc *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (all == c)
		all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->later)
		event_free(c->later);
	if (c->msg)
		evbuffer_free(c->msg);
	free(c);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	struct gw_wsc *c = arg;

	(void)fd;
	(void)what;
	if (c->lingering) {
		wsc_free(c);
		return;
	}
	if (!c->ending) { /* the connect + handshake deadline */
		c->code = 1006;
		snprintf(c->reason, sizeof(c->reason), "handshake timeout");
	}
	if (c->cbs.on_close)
		c->cbs.on_close(c, c->http_status, c->code, c->reason, c->arg);
	wsc_free(c);
}

/* End with code: on_close from the loop, soon. */
static void end(struct gw_wsc *c, int code, const char *reason)
{
	if (c->ending || c->lingering)
		return;
	c->ending = true;
	c->code = code;
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ);
	event_del(c->later);
	event_active(c->later, EV_TIMEOUT, 1);
}

static int send_frame(struct gw_wsc *c, int op, const void *data,
		      size_t len)
{
	unsigned char hdr[14], mask[4];
	size_t h = 0;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (RAND_bytes(mask, 4) != 1)
		return -1;
	hdr[h++] = (unsigned char)(0x80 | op);
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	unsigned char *m = malloc(len ? len : 1);
	if (!m)
		return -1;
	for (size_t i = 0; i < len; i++)
		m[i] = ((const unsigned char *)data)[i] ^ mask[i & 3];
	int rv = evbuffer_add(out, hdr, h) == 0 && evbuffer_add(out, m, len)
			 == 0 ? 0 : -1;
	free(m);
	return rv;
}

int gw_wsc_send(struct gw_wsc *c, int opcode, const void *data, size_t len)
{
	if (!c->open || c->ending || c->lingering ||
	    (opcode != OP_TEXT && opcode != OP_BIN))
		return -1;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) + len >
	    c->max_outbuf) {
		end(c, 1008, "output limit");
		return -1;
	}
	return send_frame(c, opcode, data, len);
}

/* ---- reading ---- */

static bool handshake_done(struct gw_wsc *c, struct evbuffer *in)
{
	struct evbuffer_ptr end_ptr = evbuffer_search(in, "\r\n\r\n", 4,
						      NULL);
	char head[MAX_HEAD + 1];

	if (end_ptr.pos < 0) {
		if (evbuffer_get_length(in) > MAX_HEAD)
			end(c, 1002, "handshake too long");
		return false;
	}
	size_t n = (size_t)end_ptr.pos + 4;
	if (n > MAX_HEAD) {
		end(c, 1002, "handshake too long");
		return false;
	}
	evbuffer_remove(in, head, n);
	head[n] = '\0';
	if (strncmp(head, "HTTP/1.1 ", 9) != 0) {
		end(c, 1002, "not HTTP");
		return false;
	}
	c->http_status = (int)strtol(head + 9, NULL, 10);
	bool accepted = false;
	for (char *save = NULL, *l = strtok_r(head, "\r\n", &save); l;
	     l = strtok_r(NULL, "\r\n", &save)) {
		if (strncasecmp(l, "Sec-WebSocket-Accept:", 21) != 0)
			continue;
		char *v = l + 21;
		while (*v == ' ')
			v++;
		accepted = strcmp(v, c->accept) == 0;
	}
	if (c->http_status != 101 || !accepted) {
		end(c, 1006, c->http_status != 101 ? "refused"
						    : "bad accept key");
		return false;
	}
	c->http_status = 0;
	c->open = true;
	event_del(c->later); /* the handshake deadline */
	if (c->cbs.on_open)
		c->cbs.on_open(c, c->arg);
	return true;
}

static void control(struct gw_wsc *c, int op, const unsigned char *p,
		    size_t n)
{
	if (op == OP_PING) {
		send_frame(c, OP_PONG, p, n);
	} else if (op == OP_CLOSE) {
		int code = n >= 2 ? (p[0] << 8 | p[1]) : 1005;
		char reason[124] = "";
		if (n > 2)
			snprintf(reason, sizeof(reason), "%.*s", (int)(n - 2),
				 (const char *)p + 2);
		unsigned char echo[2] = { p[0], p[1] };
		send_frame(c, OP_CLOSE, echo, n >= 2 ? 2 : 0);
		end(c, code, reason);
	}
}

/* One frame if all of it is there: 1; 0 for more data; -1 on error. */
static int one_frame(struct gw_wsc *c, struct evbuffer *in)
{
	unsigned char h[10];
	size_t avail = evbuffer_get_length(in), hl = 2;
	uint64_t len;

	if (avail < 2)
		return 0;
	evbuffer_copyout(in, h, avail < 10 ? avail : 10);
	if (h[1] & 0x80) {
		end(c, 1002, "masked server frame");
		return -1;
	}
	len = h[1] & 0x7f;
	if (len == 126) {
		hl = 4;
		if (avail < hl)
			return 0;
		len = (uint64_t)h[2] << 8 | h[3];
	} else if (len == 127) {
		hl = 10;
		if (avail < hl)
			return 0;
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
	}
	int op = h[0] & 0x0f;
	bool fin = h[0] & 0x80;
	if (len > c->max_message ||
	    evbuffer_get_length(c->msg) + len > c->max_message) {
		end(c, 1009, "message too big");
		return -1;
	}
	if (avail < hl + len)
		return 0;
	evbuffer_drain(in, hl);
	if (op >= OP_CLOSE) {
		unsigned char p[125];
		if (len > sizeof(p) || !fin) {
			end(c, 1002, "bad control frame");
			return -1;
		}
		evbuffer_remove(in, p, (size_t)len);
		control(c, op, p, (size_t)len);
		return 1;
	}
	if ((op == OP_CONT) != (c->msg_op != 0)) {
		end(c, 1002, "bad fragment");
		return -1;
	}
	if (op != OP_CONT)
		c->msg_op = op;
	evbuffer_remove_buffer(in, c->msg, (size_t)len);
	if (!fin)
		return 1;
	size_t n = evbuffer_get_length(c->msg);
	evbuffer_add(c->msg, "", 1); /* NUL for the callback */
	const char *data = (const char *)evbuffer_pullup(c->msg, -1);
	int mop = c->msg_op;
	c->msg_op = 0;
	if (c->cbs.on_message && data)
		c->cbs.on_message(c, mop, data, n, c->arg);
	evbuffer_drain(c->msg, n + 1);
	return 1;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct gw_wsc *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->ending || c->lingering) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (!c->open && !handshake_done(c, in))
		return;
	while (!c->ending && one_frame(c, in) > 0)
		;
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct gw_wsc *c = arg;

	(void)bev;
	if (c->lingering)
		wsc_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_wsc *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (c->lingering) {
		wsc_free(c);
		return;
	}
	end(c, 1006, what & BEV_EVENT_EOF ? "connection closed"
					  : "connection failed");
}

/* ---- connect and close ---- */

static bool make_key(char key[25], char accept[32])
{
	unsigned char raw[16], sha[EVP_MAX_MD_SIZE];
	unsigned shalen = 0;
	char both[64];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	snprintf(both, sizeof(both), "%s%s", key, WS_GUID);
	if (!EVP_Digest(both, strlen(both), sha, &shalen, EVP_sha1(), NULL))
		return false;
	EVP_EncodeBlock((unsigned char *)accept, sha, (int)shalen);
	return true;
}

struct gw_wsc *gw_wsc_connect(struct event_base *base,
			      const struct gw_wsc_opts *o,
			      const struct gw_wsc_cbs *cbs, void *arg)
{
	struct sockaddr_storage sa;
	int salen = (int)sizeof(sa), one = 1;
	char addr[300], key[25];
	struct gw_wsc *c = calloc(1, sizeof(*c));
	struct timeval tv;

	snprintf(addr, sizeof(addr), strchr(o->host, ':') ? "[%s]:%d"
							   : "%s:%d",
		 o->host, o->port);
	if (!c || evutil_parse_sockaddr_port(addr, (struct sockaddr *)&sa,
					     &salen) != 0 ||
	    !make_key(key, c->accept)) {
		free(c);
		return NULL;
	}
	c->cbs = *cbs;
	c->arg = arg;
	c->max_message = o->max_message ? o->max_message : DEF_MAX_MESSAGE;
	c->max_outbuf = o->max_outbuf ? o->max_outbuf : DEF_MAX_OUTBUF;
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					       SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->msg = evbuffer_new();
	c->later = event_new(base, -1, 0, on_later, c);
	c->bev = fd >= 0 ? bufferevent_socket_new(base, fd,
						  BEV_OPT_CLOSE_ON_FREE)
			 : NULL;
	if (!c->bev && fd >= 0)
		close(fd);
	if (!c->msg || !c->later || !c->bev ||
	    evbuffer_add_printf(bufferevent_get_output(c->bev),
				"GET %s HTTP/1.1\r\nHost: %s\r\n"
				"Upgrade: websocket\r\nConnection: Upgrade\r\n"
				"Sec-WebSocket-Key: %s\r\n"
				"Sec-WebSocket-Version: 13\r\n\r\n",
				o->target, addr, key) < 0) {
		wsc_free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	c->next = all;
	if (all)
		all->prev = c;
	all = c;
	lc_clock_tv(&tv, o->timeout_ms > 0 ? o->timeout_ms : 10000);
	event_add(c->later, &tv);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sa,
				       salen) != 0) {
		end(c, 1006, "connection failed");
		return c;
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

void gw_wsc_close(struct gw_wsc *c, int code, const char *reason)
{
	unsigned char p[125];
	size_t n = 0;
	struct timeval tv;

	if (!c)
		return;
	if (c->open && !c->ending) {
		p[n++] = (unsigned char)(code >> 8);
		p[n++] = (unsigned char)code;
		if (reason)
			for (; *reason && n < sizeof(p); reason++)
				p[n++] = (unsigned char)*reason;
		send_frame(c, OP_CLOSE, p, n);
	}
	c->lingering = true;
	bufferevent_disable(c->bev, EV_READ);
	event_del(c->later);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		event_active(c->later, EV_TIMEOUT, 1);
		return;
	}
	lc_clock_tv(&tv, LINGER_MS);
	event_add(c->later, &tv);
}

void gw_wsc_free_all(void)
{
	while (all)
		wsc_free(all);
}
