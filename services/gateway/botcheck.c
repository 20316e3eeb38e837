/* The same GET to every routed bot at once, bounded by one deadline. */
#include "services/gateway/botcheck.h"

#include "services/gateway/botpool.h"
#include "services/gateway/gateway.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (4u << 20)

struct round {
	gw_check_done done;
	void *arg;
	size_t n, left;
	struct gw_check_out outs[];
};

struct leg {
	struct round *rd;
	size_t i;
};

const char *gw_check_state_name(enum gw_check_state s)
{
	return s == GW_CHECK_HEALTHY ? "healthy"
	       : s == GW_CHECK_ERROR ? "error" : "unreachable";
}

static void finish(struct round *rd)
{
	rd->done(rd->outs, rd->n, rd->arg);
	for (size_t i = 0; i < rd->n; i++)
		cJSON_Delete(rd->outs[i].body);
	free(rd);
}

static const char *failure(enum gw_up_error e)
{
	switch (e) {
	case GW_UP_REFUSED:
		return "connection refused";
	case GW_UP_TIMEOUT:
		return "no answer in time";
	case GW_UP_BROKEN:
		return "connection broken or not HTTP";
	case GW_UP_TOO_BIG:
		return "answer too large";
	case GW_UP_CANCELLED:
		return "cancelled";
	case GW_UP_OK:
		break;
	}
	return "";
}

static void on_leg(const struct gw_up_res *res, void *arg)
{
	struct leg l = *(struct leg *)arg;
	struct gw_check_out *o = &l.rd->outs[l.i];

	free(arg);
	o->ms = res->elapsed_ms;
	o->http_status = res->status;
	if (res->error != GW_UP_OK) {
		o->state = GW_CHECK_UNREACHABLE;
		snprintf(o->error, sizeof(o->error), "%s",
			 failure(res->error));
	} else {
		size_t n = evbuffer_get_length(res->body);
		const char *text =
			(const char *)evbuffer_pullup(res->body, -1);
		o->body = text ? cJSON_ParseWithLength(text, n) : NULL;
		o->state = res->status == 200 && o->body ? GW_CHECK_HEALTHY
							 : GW_CHECK_ERROR;
		if (o->state == GW_CHECK_ERROR)
			snprintf(o->error, sizeof(o->error), "HTTP %d%s",
				 res->status, o->body ? "" : ", not JSON");
	}
	if (--l.rd->left == 0)
		finish(l.rd);
}

int gw_botcheck(struct gw *g, const char *path, int64_t timeout_ms,
		gw_check_done done, void *arg)
{
	size_t n = gw_routes_count(g->routes);
	struct round *rd = calloc(1, sizeof(*rd) + n * sizeof(rd->outs[0]));

	if (!rd)
		return -1;
	*rd = (struct round){ .done = done, .arg = arg, .n = n,
			      .left = n + 1 };
	for (size_t i = 0; i < n; i++) {
		struct gw_bot *b = gw_routes_at(g->routes, i);
		struct gw_check_out *o = &rd->outs[i];
		struct leg *l = malloc(sizeof(*l));
		o->id = b->id;
		o->port = b->port;
		memcpy(o->name, b->name, sizeof(o->name));
		if (l)
			*l = (struct leg){ rd, i };
		if (!l || !gw_pool_request(b->pool, "GET", path, b->auth,
					   NULL, 0, timeout_ms, MAX_BODY,
					   on_leg, l)) {
			free(l);
			o->state = GW_CHECK_UNREACHABLE;
			snprintf(o->error, sizeof(o->error), "out of memory");
			rd->left--;
		}
	}
	if (--rd->left == 0) /* the extra count: every request was made */
		finish(rd);
	return 0;
}
