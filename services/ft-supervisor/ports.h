#ifndef SUP_PORTS_H
#define SUP_PORTS_H
/*
 * The strategy port pool: ports base..end (both included), at most
 * PORTS_MAX of them.
 *
 * A hierarchical bitmap: level 0 has one bit per port (1 = taken);
 * a bit of level k+1 is 1 exactly when word i of level k is full. The
 * top level is one word. Finding the lowest free port descends the
 * levels with one count-trailing-zeros per level: O(log64 n), three
 * steps for 65536 ports. Taking or releasing a port updates at most one
 * word per level. Padding bits past the last port are 1 so they are
 * never handed out.
 *
 * Ports held by another program are skipped: ports_alloc() asks
 * p->probe (a bind() test in the daemon, a stub in tests) before
 * handing a port out, and keeps looking past those that fail.
 */
#include <stdbool.h>
#include <stdint.h>

#define PORTS_MAX 65536
#define PORTS_LEVELS 4

/* Can this port be bound now? (arg is p->probe_arg) */
typedef bool (*ports_probe_fn)(int port, void *arg);

struct ports {
	int base;                     /* first port */
	int n;                        /* number of ports */
	int used;                     /* ports taken */
	int nlev;                     /* levels in use */
	int nwords[PORTS_LEVELS];     /* words per level */
	uint64_t *lev[PORTS_LEVELS];  /* owned bitmaps */
	int *skipped;                 /* owned scratch (n entries) */
	ports_probe_fn probe;         /* NULL: every port is usable */
	void *probe_arg;
};

/* A pool for base..end. 0, or -1 on a bad range or ENOMEM. */
int ports_init(struct ports *p, int base, int end)
	__attribute__((warn_unused_result));
/* Free the bitmaps; the struct may be initialised again. */
void ports_release(struct ports *p);

/* Take a port: preferred if it is in the pool, free and passes the
 * probe, else the lowest free one that passes. Returns the port or -1
 * when none is left. */
int ports_alloc(struct ports *p, int preferred);
/* Take this exact port (an adopted bot's). 0, or -1 if outside the pool
 * or already taken. No probe: the bot holds it. */
int ports_take(struct ports *p, int port);
/* Give a port back; one not taken (or outside) is ignored. */
void ports_free(struct ports *p, int port);
bool ports_taken(const struct ports *p, int port);
bool ports_contains(const struct ports *p, int port);
static inline int ports_available(const struct ports *p)
{
	return p->n - p->used;
}
/* bind()-test 127.0.0.1:port with SO_REUSEADDR, as uvicorn binds. */
bool ports_probe_bind(int port, void *arg);

#endif
