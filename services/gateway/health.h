#ifndef GW_HEALTH_H
#define GW_HEALTH_H
/*
 * Health and upkeep:
 *  - the supervisor probe: supervisor.capacity.get every
 *    GW_PROBE_OK_S while it answers, every second while it does not (any
 *    reply, even an error, means reachable); every other call to the
 *    supervisor updates the same flag (downstream.c);
 *  - /readyz (admin port) gets a "supervisor" check beside the kit's
 *    "postgres";
 *  - GET /api/v1/health on the public port (no token): the same two
 *    checks, 200 or 503;
 *  - the upkeep timer (1 s) also purges revoked tokens and stale
 *    throttle rows every GW_PURGE_S.
 */
#include <stddef.h>

struct gw;

#define GW_PROBE_OK_S 5
#define GW_PROBE_TIMEOUT_MS 2000
#define GW_PURGE_S 600

/* Register the readiness check and start the upkeep timer; 0 or -1 with
 * the reason in err. */
int gw_health_start(struct gw *g, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Stop the timer (the check stays registered: it reads g only). */
void gw_health_stop(struct gw *g);

#endif
