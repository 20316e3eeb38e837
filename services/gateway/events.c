/* One bus subscriber for every topic the gateway reacts to. */
#include "services/gateway/events.h"

#include "libcommon/svc.h"
#include "services/gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>

struct gw_events {
	struct lc_bus_sub *sub; /* owned */
};

int gw_events_start(struct gw *g, char *err, size_t errlen)
{
	const struct lc_config *cfg = g->svc->cfg;
	struct lc_bus_opts o = {
		.max_message_bytes =
			(size_t)cfg->services.bus.max_message_bytes,
	};
	struct gw_events *e = calloc(1, sizeof(*e));

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->events = e;
	e->sub = lc_bus_sub_new(g->svc->d.base, &o, err, errlen);
	if (!e->sub)
		return -1;
	for (int i = 0; i < LC_CFG_NSVC; i++) {
		const char *url = cfg->services.svc[i].events;
		if (url && *url &&
		    lc_bus_sub_dial(e->sub, url, err, errlen) != 0)
			return -1;
	}
	return 0;
}

int gw_events_on(struct gw *g, const char *topic, lc_bus_event_cb cb,
		 void *arg)
{
	if (!g->events || !g->events->sub)
		return -1;
	return lc_bus_subscribe(g->events->sub, topic, cb, arg);
}

void gw_events_stop(struct gw *g)
{
	if (!g->events)
		return;
	lc_bus_sub_free(g->events->sub);
	free(g->events);
	g->events = NULL;
}
