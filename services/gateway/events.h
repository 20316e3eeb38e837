#ifndef GW_EVENTS_H
#define GW_EVENTS_H
/*
 * The gateway's bus subscriber: one sub socket dialing every service's
 * events address (services.yml), so that each topic the gateway reacts
 * to arrives on the loop: route.update (routes_table.c) and what /ws
 * streams (livepush.c). Services that are not running yet are dialed
 * again in the background.
 */
#include <stddef.h>

#include "libcommon/bus.h"

struct gw;

/* Create the subscriber and dial every service. 0, or -1 with err. */
int gw_events_start(struct gw *g, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* cb(topic, data, envelope, arg) for each event of topic (exact). 0 or
 * -1 (logged). */
int gw_events_on(struct gw *g, const char *topic, lc_bus_event_cb cb,
		 void *arg) __attribute__((warn_unused_result));

/* Close the subscriber; no callback runs afterwards. */
void gw_events_stop(struct gw *g);

#endif
