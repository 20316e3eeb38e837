/*
 * wsload: the live-push load for bench/gateway/run.sh (built there with
 * gcc directly; not part of the daemons).
 *
 *   wsload --port P --token T --clients N --rate R --seconds S
 *          --pub tcp://127.0.0.1:E [--rss-pid PID]
 *
 * Opens N WebSocket clients on the gateway's /ws?token=T, listens with an
 * nng pub0 socket at E (the monitor's events address in the gateway's
 * services.yml, so the gateway subscribes to it), and publishes R
 * signal.new events per second for S seconds, each carrying the
 * CLOCK_MONOTONIC time it was sent. Every client reads every message;
 * the delivery latency of each one is recorded. Prints messages
 * expected / received, clients dropped, latency p50 / p99 / p99.9 / max
 * and, with --rss-pid, the peak RSS seen of that process (sampled every
 * 100 ms). One thread, epoll, nothing blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)

struct client {
	int fd;
	bool open;      /* 101 seen */
	bool dead;
	size_t len;
	unsigned char buf[BUF];
};

static uint32_t *lat;          /* microseconds */
static size_t nlat, caplat;
static uint64_t received, closed_by_server;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static long rss_kb(int pid)
{
	char path[64], line[256];
	long kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static int connect_client(int port, const char *token)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char req[4096];

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int n = snprintf(req, sizeof(req),
			 "GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", token);
	if (write(fd, req, (size_t)n) != n)
		die("write");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void record(const unsigned char *p, size_t n)
{
	static const char key[] = "\"sent_ns\":";
	const unsigned char *k = memmem(p, n, key, sizeof(key) - 1);

	received++;
	if (!k)
		return;
	int64_t sent = strtoll((const char *)k + sizeof(key) - 1, NULL, 10);
	int64_t us = (now_ns() - sent) / 1000;
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 1 << 20;
		lat = realloc(lat, caplat * sizeof(*lat));
		if (!lat)
			die("realloc");
	}
	lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Parse whole frames at the front of c->buf. */
static void frames(struct client *c)
{
	size_t off = 0;

	if (!c->open) {
		unsigned char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!e)
			return;
		if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
			fprintf(stderr, "refused: %.*s\n", (int)c->len, c->buf);
			exit(1);
		}
		c->open = true;
		off = (size_t)(e - c->buf) + 4;
	}
	for (;;) {
		unsigned char *h = c->buf + off;
		size_t avail = c->len - off, hl = 2;
		if (avail < 2)
			break;
		uint64_t n = h[1] & 0x7f;
		if (n == 126) {
			hl = 4;
			if (avail < hl)
				break;
			n = (uint64_t)h[2] << 8 | h[3];
		} else if (n == 127) {
			hl = 10;
			if (avail < hl)
				break;
			n = 0;
			for (int i = 2; i < 10; i++)
				n = n << 8 | h[i];
		}
		if (avail < hl + n)
			break;
		int op = h[0] & 0x0f;
		if (op == 1)
			record(h + hl, (size_t)n);
		else if (op == 8) {
			closed_by_server++;
			c->dead = true;
		} else if (op == 9) { /* pong, masked with a zero key */
			unsigned char pong[2 + 4 + 125] = { 0x8a,
				(unsigned char)(0x80 | n) };
			memcpy(pong + 6, h + hl, (size_t)n);
			if (write(c->fd, pong, 6 + n) < 0)
				c->dead = true;
		}
		off += hl + n;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static void on_readable(struct client *c)
{
	for (;;) {
		if (c->len == BUF) {
			fprintf(stderr, "frame larger than the buffer\n");
			exit(1);
		}
		ssize_t n = read(c->fd, c->buf + c->len, BUF - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			frames(c);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			if (!c->dead)
				closed_by_server++;
			c->dead = true;
		}
		return;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void publish(nng_socket pub, uint64_t seq)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg),
		"signal.new {\"v\":1,\"id\":\"bench-%llu\",\"topic\":"
		"\"signal.new\",\"ts\":\"2026-01-01T00:00:00.000Z\",\"data\":{"
		"\"id\":%llu,\"strategy_id\":1,\"pair\":\"BTC/USDT\","
		"\"action\":\"entry\",\"strength\":0.82,\"level\":\"strong\","
		"\"priority\":\"P0\",\"rate\":64250.5,\"timeframe\":\"5m\","
		"\"received_at\":\"2026-01-01T00:00:00.000Z\","
		"\"sent_ns\":%lld}}",
		(unsigned long long)seq, (unsigned long long)seq,
		(long long)now_ns());
	nng_send(pub, msg, (size_t)n, NNG_FLAG_NONBLOCK);
}

int main(int argc, char **argv)
{
	int port = 0, nclients = 1000, rate = 1000, seconds = 10, rss_pid = 0;
	const char *token = NULL, *url = NULL;
	nng_socket pub;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port"))
			port = (int)strtol(v, NULL, 10);
		else if (!strcmp(k, "--token"))
			token = v;
		else if (!strcmp(k, "--clients"))
			nclients = (int)strtol(v, NULL, 10);
		else if (!strcmp(k, "--rate"))
			rate = (int)strtol(v, NULL, 10);
		else if (!strcmp(k, "--seconds"))
			seconds = (int)strtol(v, NULL, 10);
		else if (!strcmp(k, "--pub"))
			url = v;
		else if (!strcmp(k, "--rss-pid"))
			rss_pid = (int)strtol(v, NULL, 10);
	}
	if (!port || !token || !url || nclients < 1 || rate < 1) {
		fprintf(stderr, "usage: see the top of wsload.c\n");
		return 100;
	}
	/* a deep queue per subscriber: what is lost is then the gateway's */
	if (nng_pub0_open(&pub) != 0 ||
	    nng_socket_set_int(pub, NNG_OPT_SENDBUF, 8192) != 0 ||
	    nng_listen(pub, url, NULL, 0) != 0)
		die("nng listen");

	int ep = epoll_create1(0);
	struct client *cs = calloc((size_t)nclients, sizeof(*cs));
	if (!cs)
		die("calloc");
	for (int i = 0; i < nclients; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
		cs[i].fd = connect_client(port, token);
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	struct epoll_event evs[256];
	/* every client open, and the gateway subscribed (a probe arrives) */
	int64_t t0 = now_ns();
	uint64_t seq = 0;
	for (;;) {
		int open = 0;
		for (int i = 0; i < nclients; i++)
			open += cs[i].open;
		if (open == nclients && received > 0)
			break;
		if (now_ns() - t0 > 30 * 1000000000LL) {
			fprintf(stderr, "only %d of %d clients open, %llu "
				"probes seen\n", open, nclients,
				(unsigned long long)received);
			return 1;
		}
		if (open == nclients)
			publish(pub, ++seq);
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++)
			on_readable(evs[i].data.ptr);
	}
	/* drain the probes, then measure */
	int64_t quiet = now_ns() + 500000000LL;
	while (now_ns() < quiet) {
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++)
			on_readable(evs[i].data.ptr);
	}
	received = 0;
	nlat = 0;
	uint64_t published = 0, want = (uint64_t)rate * (uint64_t)seconds;
	long peak = rss_pid ? rss_kb(rss_pid) : 0;
	int64_t start = now_ns(), next_rss = start;
	int64_t period = 1000000000LL / rate;
	while (published < want) {
		int64_t now = now_ns();
		while (published < want && start + (int64_t)published * period
						    <= now) {
			publish(pub, ++seq);
			published++;
		}
		if (rss_pid && now >= next_rss) {
			long kb = rss_kb(rss_pid);
			peak = kb > peak ? kb : peak;
			next_rss = now + 100000000LL;
		}
		int64_t due = start + (int64_t)published * period - now_ns();
		int n = epoll_wait(ep, evs, 256, due > 1000000 ?
						   (int)(due / 1000000) : 0);
		for (int i = 0; i < n; i++)
			on_readable(evs[i].data.ptr);
	}
	/* let the last ones arrive (5 s at most) */
	uint64_t expect = published * (uint64_t)nclients;
	int64_t end = now_ns() + 5000000000LL;
	while (received < expect && now_ns() < end) {
		int n = epoll_wait(ep, evs, 256, 20);
		for (int i = 0; i < n; i++)
			on_readable(evs[i].data.ptr);
		if (rss_pid) {
			long kb = rss_kb(rss_pid);
			peak = kb > peak ? kb : peak;
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] / 1000.0 : 0)
	printf("clients %d, published %llu signal.new in %.1f s "
	       "(%d/s)\n", nclients, (unsigned long long)published,
	       secs, rate);
	printf("messages expected %llu, received %llu (%.2f%%), clients "
	       "dropped by the gateway %llu\n", (unsigned long long)expect,
	       (unsigned long long)received,
	       expect ? 100.0 * (double)received / (double)expect : 0,
	       (unsigned long long)closed_by_server);
	printf("delivery latency ms: p50 %.2f  p99 %.2f  p99.9 %.2f  "
	       "max %.2f\n", PCT(0.50), PCT(0.99), PCT(0.999), PCT(1.0));
	if (rss_pid)
		printf("gateway RSS peak while streaming: %ld kB\n", peak);
	for (int i = 0; i < nclients; i++)
		close(cs[i].fd);
	free(cs);
	free(lat);
	nng_close(pub);
	return 0;
}
