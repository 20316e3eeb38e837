/* Bus clients to the other services, and their errors as HTTP. */
#include "services/gateway/downstream.h"

#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "services/gateway/errors.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_downstream {
	struct gw *g;                              /* borrowed */
	struct lc_bus_client *cli[LC_CFG_NSVC];    /* owned */
};

static const char *const prefixes[LC_CFG_NSVC] = {
	[LC_CFG_SVC_SUPERVISOR] = "supervisor",
	[LC_CFG_SVC_GATEWAY] = "gateway",
	[LC_CFG_SVC_INGEST] = "ingest",
	[LC_CFG_SVC_MONITOR] = "monitor",
	[LC_CFG_SVC_NOTIFIER] = "notifier",
	[LC_CFG_SVC_BACKUP] = "backup",
};

const char *gw_service_prefix(enum lc_cfg_service_id svc)
{
	return (unsigned)svc < LC_CFG_NSVC ? prefixes[svc] : "unknown";
}

struct gw_downstream *gw_downstream_new(struct gw *g, char *err,
					size_t errlen)
{
	struct gw_downstream *d = calloc(1, sizeof(*d));
	const struct lc_config *cfg = g->svc->cfg;
	struct lc_bus_opts o = {
		.max_message_bytes =
			(size_t)cfg->services.bus.max_message_bytes,
		.timeout_ms = (int)cfg->services.bus.rpc_timeout_ms,
	};

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->g = g;
	for (int i = 0; i < LC_CFG_NSVC; i++) {
		d->cli[i] = lc_bus_client_new(g->svc->d.base,
					      cfg->services.svc[i].rpc, &o,
					      err, errlen);
		if (!d->cli[i]) {
			gw_downstream_free(d);
			return NULL;
		}
	}
	return d;
}

void gw_downstream_free(struct gw_downstream *d)
{
	if (!d)
		return;
	for (int i = 0; i < LC_CFG_NSVC; i++)
		lc_bus_client_free(d->cli[i]);
	free(d);
}

struct lc_bus_client *gw_downstream_client(struct gw_downstream *d,
					   enum lc_cfg_service_id svc)
{
	return d && (unsigned)svc < LC_CFG_NSVC ? d->cli[svc] : NULL;
}

/* ---- errors ---- */

static bool transport_error(const char *code)
{
	return strcmp(code, "timeout") == 0 ||
	       strcmp(code, "unavailable") == 0 ||
	       strcmp(code, "cancelled") == 0;
}

/* Count failures, and keep the supervisor's reachability current. */
static void note(struct gw *g, enum lc_cfg_service_id svc,
		 const struct lc_bus_result *res)
{
	if (!res->ok)
		lc_series_inc(lc_metric_series(g->m.downstream,
					       gw_service_prefix(svc),
					       res->code));
	if (svc == LC_CFG_SVC_SUPERVISOR)
		g->supervisor_ok = res->ok || !transport_error(res->code);
}

void gw_reply_bus_error(struct gw_req *r, enum lc_cfg_service_id svc,
			const struct lc_bus_result *res)
{
	const char *name = gw_service_prefix(svc);
	int status = gw_status_for_code(res->code);
	const cJSON *field = cJSON_GetObjectItem(res->details, "field");
	const char *code = status == 502 ? "upstream_error" : res->code;

	if (strcmp(res->code, "timeout") == 0)
		gw_reply_error(r, status, code, "%s did not answer in time "
			       "(%s)", name, res->message);
	else if (transport_error(res->code))
		gw_reply_error(r, status, code, "%s is unavailable (%s)", name,
			       res->message);
	else if (cJSON_IsString(field) &&
		 !strstr(res->message, field->valuestring))
		gw_reply_error(r, status, code, "%s (field: %s)", res->message,
			       field->valuestring);
	else
		gw_reply_error(r, status, code, "%s", res->message);
}

/* The deadline: the given one, else services.bus.rpc_timeout_ms as it is
 * now (it is reloadable; the clients keep the value they started with). */
static int deadline(const struct gw *g, int timeout_ms)
{
	return timeout_ms > 0 ? timeout_ms
			      : (int)g->svc->cfg->services.bus.rpc_timeout_ms;
}

/* ---- one call ---- */

struct call {
	struct gw_req *r;
	enum lc_cfg_service_id svc;
	gw_call_done done;  /* or NULL: relay with ok_status */
	int ok_status;
};

static void on_call(const struct lc_bus_result *res, void *arg)
{
	struct call c = *(struct call *)arg;

	free(arg);
	note(c.r->g, c.svc, res);
	if (c.done)
		c.done(c.r, res);
	else if (!res->ok)
		gw_reply_bus_error(c.r, c.svc, res);
	else
		gw_reply_json(c.r, c.ok_status,
			      cJSON_Duplicate(res->result, true));
}

static void start_call(struct gw_req *r, enum lc_cfg_service_id svc,
		       const char *method, cJSON *params, int timeout_ms,
		       const struct call *tpl)
{
	struct gw_downstream *d = r->g->down;
	struct call *c = malloc(sizeof(*c));

	if (!d || !c) {
		free(c);
		cJSON_Delete(params);
		gw_reply_unavailable(r, gw_service_prefix(svc));
		return;
	}
	*c = *tpl;
	if (lc_bus_call(d->cli[svc], method, params,
			deadline(r->g, timeout_ms), on_call, c) != 0) {
		free(c);
		cJSON_Delete(params);
		gw_reply_internal(r, "bus call refused");
	}
}

void gw_call(struct gw_req *r, enum lc_cfg_service_id svc,
	     const char *method, cJSON *params, int timeout_ms,
	     gw_call_done done)
{
	struct call tpl = { r, svc, done, 0 };
	start_call(r, svc, method, params, timeout_ms, &tpl);
}

void gw_relay(struct gw_req *r, enum lc_cfg_service_id svc,
	      const char *method, cJSON *params, int timeout_ms,
	      int ok_status)
{
	struct call tpl = { r, svc, NULL, ok_status };
	start_call(r, svc, method, params, timeout_ms, &tpl);
}

/* ---- fan-out ---- */

struct fan {
	struct gw_req *r;
	gw_fan_done done;
	size_t n, left;
	struct gw_fan_out outs[];
};

struct leg {
	struct fan *f;
	size_t i;
};

static void fan_finish(struct fan *f)
{
	f->done(f->r, f->outs, f->n);
	for (size_t i = 0; i < f->n; i++) {
		cJSON_Delete(f->outs[i].result);
		cJSON_Delete(f->outs[i].details);
	}
	free(f);
}

static void fan_record(struct fan *f, size_t i,
		       const struct lc_bus_result *res)
{
	struct gw_fan_out *o = &f->outs[i];

	o->ok = res->ok;
	if (res->ok) {
		o->result = cJSON_Duplicate(res->result, true);
	} else {
		snprintf(o->code, sizeof(o->code), "%s", res->code);
		snprintf(o->message, sizeof(o->message), "%s", res->message);
		o->details = res->details
				     ? cJSON_Duplicate(res->details, true)
				     : NULL;
	}
	o->res = (struct lc_bus_result){ o->ok, o->result, o->code,
					 o->message, o->details };
	if (--f->left == 0)
		fan_finish(f);
}

static void on_leg(const struct lc_bus_result *res, void *arg)
{
	struct leg l = *(struct leg *)arg;

	free(arg);
	note(l.f->r->g, l.f->outs[l.i].svc, res);
	fan_record(l.f, l.i, res);
}

void gw_fanout(struct gw_req *r, struct gw_fan_call *calls, size_t n,
	       gw_fan_done done)
{
	struct fan *f = calloc(1, sizeof(*f) + n * sizeof(f->outs[0]));
	struct gw_downstream *d = r->g->down;
	static const struct lc_bus_result refused = {
		false, NULL, "unavailable", "the call could not be made",
		NULL
	};

	if (!f || !d) {
		free(f);
		for (size_t i = 0; i < n; i++)
			cJSON_Delete(calls[i].params);
		gw_reply_unavailable(r, "bus");
		return;
	}
	*f = (struct fan){ .r = r, .done = done, .n = n, .left = n + 1 };
	for (size_t i = 0; i < n; i++) {
		struct leg *l = malloc(sizeof(*l));
		f->outs[i].svc = calls[i].svc;
		if (l)
			*l = (struct leg){ f, i };
		if (!l || lc_bus_call(d->cli[calls[i].svc], calls[i].method,
				      calls[i].params,
				      deadline(r->g, calls[i].timeout_ms),
				      on_leg, l) != 0) {
			free(l);
			cJSON_Delete(calls[i].params);
			fan_record(f, i, &refused);
		}
	}
	/* The extra count keeps f alive until every call was made. */
	if (--f->left == 0)
		fan_finish(f);
}
