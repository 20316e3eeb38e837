/* The strategy port pool: a hierarchical bitmap (see ports.h). */
#include "services/ft-supervisor/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FULL UINT64_MAX

int ports_init(struct ports *p, int base, int end)
{
	memset(p, 0, sizeof(*p));
	if (base < 1 || end > 65535 || end < base ||
	    end - base + 1 > PORTS_MAX)
		return -1;
	p->base = base;
	p->n = end - base + 1;
	int bits = p->n;
	/* Levels until one word; each padded with 1 bits. */
	for (int k = 0; k < PORTS_LEVELS; k++) {
		int words = (bits + 63) / 64;
		p->lev[k] = calloc((size_t)words, sizeof(uint64_t));
		if (!p->lev[k])
			goto fail;
		p->nwords[k] = words;
		p->nlev = k + 1;
		if (bits % 64)
			p->lev[k][words - 1] = FULL << (bits % 64);
		if (words == 1)
			break;
		bits = words;
	}
	/* A padded word may already be full (never with 64-bit steps at
	 * level 0 unless n % 64 == 0, but be exact): propagate. */
	for (int k = 0; k + 1 < p->nlev; k++)
		for (int w = 0; w < p->nwords[k]; w++)
			if (p->lev[k][w] == FULL)
				p->lev[k + 1][w / 64] |= 1ull << (w % 64);
	p->skipped = calloc((size_t)p->n, sizeof(int));
	if (!p->skipped)
		goto fail;
	return 0;
fail:
	ports_release(p);
	return -1;
}

void ports_release(struct ports *p)
{
	for (int k = 0; k < PORTS_LEVELS; k++)
		free(p->lev[k]);
	free(p->skipped);
	memset(p, 0, sizeof(*p));
}

bool ports_contains(const struct ports *p, int port)
{
	return p->n > 0 && port >= p->base && port < p->base + p->n;
}

bool ports_taken(const struct ports *p, int port)
{
	if (!ports_contains(p, port))
		return false;
	int i = port - p->base;
	return (p->lev[0][i / 64] >> (i % 64)) & 1;
}

/* Set bit i of level 0 and mark full words upwards. */
static void set_bit(struct ports *p, int i)
{
	for (int k = 0; k < p->nlev; k++) {
		uint64_t *w = &p->lev[k][i / 64];
		*w |= 1ull << (i % 64);
		if (*w != FULL)
			return;
		i /= 64;
	}
}

/* Clear bit i of level 0: its word and every word above are no longer
 * full. */
static void clear_bit(struct ports *p, int i)
{
	for (int k = 0; k < p->nlev; k++) {
		uint64_t *w = &p->lev[k][i / 64];
		bool was_full = *w == FULL;
		*w &= ~(1ull << (i % 64));
		if (!was_full)
			return;
		i /= 64;
	}
}

/* Index of the lowest free port, or -1: one ctz per level. */
static int first_free(const struct ports *p)
{
	int top = p->nlev - 1;
	if (p->lev[top][0] == FULL)
		return -1;
	int i = __builtin_ctzll(~p->lev[top][0]);
	for (int k = top - 1; k >= 0; k--)
		i = i * 64 + __builtin_ctzll(~p->lev[k][i]);
	return i;
}

int ports_take(struct ports *p, int port)
{
	if (!ports_contains(p, port) || ports_taken(p, port))
		return -1;
	set_bit(p, port - p->base);
	p->used++;
	return 0;
}

void ports_free(struct ports *p, int port)
{
	if (!ports_taken(p, port))
		return;
	clear_bit(p, port - p->base);
	p->used--;
}

static bool usable(struct ports *p, int port)
{
	return !p->probe || p->probe(port, p->probe_arg);
}

/* Ports that failed the probe are marked taken while the search goes
 * on, then given back, so that they are tried again next time. */
int ports_alloc(struct ports *p, int preferred)
{
	int nskip = 0, port = -1;
	if (ports_contains(p, preferred) && !ports_taken(p, preferred)) {
		if (usable(p, preferred)) {
			port = preferred;
			goto done;
		}
		set_bit(p, preferred - p->base);
		p->skipped[nskip++] = preferred - p->base;
	}
	for (;;) {
		int i = first_free(p);
		if (i < 0)
			break;
		if (usable(p, p->base + i)) {
			port = p->base + i;
			break;
		}
		set_bit(p, i);
		p->skipped[nskip++] = i;
	}
done:
	for (int k = 0; k < nskip; k++)
		clear_bit(p, p->skipped[k]);
	if (port > 0) {
		set_bit(p, port - p->base);
		p->used++;
	}
	return port;
}

bool ports_probe_bind(int port, void *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}
