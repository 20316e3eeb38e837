#ifndef GW_BOTCHECK_H
#define GW_BOTCHECK_H
/*
 * Ask every routed bot the same GET at once (through its pool, with its
 * credentials) and collect the answers: GET /api/strategies/status
 * (/api/v1/status) and the gateway's health (/api/v1/ping). Every request
 * starts at the same moment with the same deadline, so the whole round
 * ends within that deadline however many bots there are.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "services/gateway/routes_table.h"

struct gw;

enum gw_check_state {
	GW_CHECK_HEALTHY,     /* 200 with a JSON body */
	GW_CHECK_ERROR,       /* it answered, with another status or not
				 JSON */
	GW_CHECK_UNREACHABLE, /* refused, broke or timed out */
};

struct gw_check_out {
	int64_t id;
	char name[GW_BOT_NAME_MAX + 1];
	int port;
	enum gw_check_state state;
	int http_status;      /* 0 if none */
	int64_t ms;           /* response time */
	cJSON *body;          /* the parsed answer, or NULL; owned by the
				 round, freed after done */
	char error[160];      /* why, unless healthy */
};

/* All answers, in id order; n may be 0. */
typedef void (*gw_check_done)(struct gw_check_out *outs, size_t n,
			      void *arg);

/*
 * GET path (borrowed, e.g. "/api/v1/ping") on every routed bot within
 * timeout_ms; done runs once with every outcome (at once when there is no
 * bot, else later). Returns 0, or -1 on ENOMEM (done never runs).
 */
int gw_botcheck(struct gw *g, const char *path, int64_t timeout_ms,
		gw_check_done done, void *arg)
	__attribute__((warn_unused_result));

/* "healthy", "error", "unreachable". */
const char *gw_check_state_name(enum gw_check_state s);

#endif
