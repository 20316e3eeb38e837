#ifndef GW_DOWNSTREAM_H
#define GW_DOWNSTREAM_H
/*
 * The other services, over the bus: one RPC client per service (its
 * services.yml rpc address; the gateway's own too, for config.show and
 * reload), calls made for a request, and their errors turned into the
 * public {error, detail} with proto/README.md's statuses (errors.c).
 *
 * Every call has a deadline (the bus default, services.bus.rpc_timeout_ms,
 * or GW_CALL_SLOW_MS for methods that wait on a bot or a channel), so a
 * service that does not answer is a 504 (sent, no reply) or 503 (nobody
 * took it), never a hang.
 */
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "libcommon/bus.h"
#include "libcommon/cfg_schema.h"

struct gw;
struct gw_req;
struct gw_downstream;

#define GW_CALL_DEFAULT 0      /* the bus default deadline */
#define GW_CALL_SLOW_MS 35000  /* "slow" methods (proto/README.md) */

/* Dial every service (in the background). NULL with err on failure. */
struct gw_downstream *gw_downstream_new(struct gw *g, char *err,
					size_t errlen);

/* Close the clients: pending calls end now with "cancelled" (their
 * requests are answered 503). NULL does nothing. */
void gw_downstream_free(struct gw_downstream *d);

/* The client for svc (borrowed), for calls made outside a request (the
 * readiness probe); NULL if d is NULL. */
struct lc_bus_client *gw_downstream_client(struct gw_downstream *d,
					   enum lc_cfg_service_id svc);

/* The prefix of a service's methods ("supervisor"). */
const char *gw_service_prefix(enum lc_cfg_service_id svc);

/* A call's outcome for r; res is borrowed for the callback. */
typedef void (*gw_call_done)(struct gw_req *r,
			     const struct lc_bus_result *res);

/*
 * Call method (borrowed) on svc with params (owned; NULL for {}); done
 * runs once, later, with the outcome. If the call cannot even be made, r
 * is answered 500 and done never runs.
 */
void gw_call(struct gw_req *r, enum lc_cfg_service_id svc,
	     const char *method, cJSON *params, int timeout_ms,
	     gw_call_done done);

/* Call and answer r with the result (status ok_status) or the error. */
void gw_relay(struct gw_req *r, enum lc_cfg_service_id svc,
	      const char *method, cJSON *params, int timeout_ms,
	      int ok_status);

/* Answer r with a failed call's error (status by code; detail is the
 * service's message, naming details.field when it gave one). */
void gw_reply_bus_error(struct gw_req *r, enum lc_cfg_service_id svc,
			const struct lc_bus_result *res);

/* ---- several calls at once ---- */

struct gw_fan_call {
	enum lc_cfg_service_id svc;
	const char *method;  /* borrowed (static) */
	cJSON *params;       /* owned by gw_fanout; NULL for {} */
	int timeout_ms;
};

/* One outcome; result (ok) and details (!ok) are owned by the fan-out
 * and freed after the callback. */
struct gw_fan_out {
	enum lc_cfg_service_id svc;
	bool ok;
	cJSON *result;
	struct lc_bus_result res; /* pointers into this struct */
	char code[32];
	char message[256];
	cJSON *details;
};

typedef void (*gw_fan_done)(struct gw_req *r, struct gw_fan_out *outs,
			    size_t n);

/* Make n calls at once; done(r, outs, n) runs once all have ended, in the
 * order given (it must answer r). */
void gw_fanout(struct gw_req *r, struct gw_fan_call *calls, size_t n,
	       gw_fan_done done);

#endif
