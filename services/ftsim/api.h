#ifndef FTSIM_API_H
#define FTSIM_API_H
/*
 * The REST API's request type and reply helpers, shared by api.c (server,
 * routing, auth, CORS, faults) and the endpoint files api_info.c,
 * api_control.c and api_trading.c.
 */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "services/ftsim/ftsim.h"

struct ft_req {
	struct ft_app *app;
	struct evhttp_request *r;
	char path[256];    /* after /api/v1, decoded */
	const char *param; /* the {id} of "/trade/{id}", in path */
	struct evkeyvalq query;
	int method;                       /* EVHTTP_REQ_* */
	struct ft_req *next;              /* pending list (deferred answers) */
	struct event *ev;                 /* deferred answer timer */
	void (*later)(struct ft_req *rq); /* what the timer runs */
	double cpu[64][2]; /* sysinfo: first /proc/stat sample */
	int ncpu;
};

typedef void (*ft_handler)(struct ft_req *rq);

/* Reply with a JSON body (taken; printed compactly) and free rq. */
void reply_json(struct ft_req *rq, int code, cJSON *body);
/* {"detail": text} */
void reply_detail(struct ft_req *rq, int code, const char *text);
/* RPCException: 502 {"error": "Error querying /api/v1/<x>: <msg>"} */
void reply_rpc_error(struct ft_req *rq, const char *msg);
/* 422 for a query parameter that is not a valid integer / out of range. */
void reply_invalid_int(struct ft_req *rq, const char *name, const char *value,
                       const char *type, const char *msg);
/* Query parameter or NULL. */
const char *query_get(struct ft_req *rq, const char *name);
/* An integer query parameter: 0 (absent: *out = def), or -1 after a 422
 * reply. lo/hi: inclusive bounds (ge/le). */
int query_int(struct ft_req *rq, const char *name, long def, long lo, long hi,
              long *out);
/* The request body as JSON (NULL if none or invalid). Caller deletes. */
cJSON *request_json(struct ft_req *rq);
/* Run fn after ms milliseconds (the answer is deferred). */
void defer(struct ft_req *rq, int ms, void (*fn)(struct ft_req *rq));

/* Endpoints (api_info.c) */
void h_ping(struct ft_req *rq);
void h_version(struct ft_req *rq);
void h_show_config(struct ft_req *rq);
void h_health(struct ft_req *rq);
void h_sysinfo(struct ft_req *rq);
void h_logs(struct ft_req *rq);
void h_whitelist(struct ft_req *rq);
void h_blacklist(struct ft_req *rq);
void h_locks(struct ft_req *rq);
void h_plot_config(struct ft_req *rq);
void h_strategy(struct ft_req *rq);
void h_strategies(struct ft_req *rq);
void h_pair_candles(struct ft_req *rq);
/* (api_control.c) */
void h_login(struct ft_req *rq);
void h_refresh(struct ft_req *rq);
void h_start(struct ft_req *rq);
void h_stop(struct ft_req *rq);
void h_pause(struct ft_req *rq);
void h_reload_config(struct ft_req *rq);
void h_forceenter(struct ft_req *rq);
void h_forceexit(struct ft_req *rq);
void h_delete_trade(struct ft_req *rq);
/* (api_trading.c) */
void h_status(struct ft_req *rq);
void h_trades(struct ft_req *rq);
void h_trade(struct ft_req *rq);
void h_profit(struct ft_req *rq);
void h_profit_all(struct ft_req *rq);
void h_balance(struct ft_req *rq);
void h_count(struct ft_req *rq);
void h_performance(struct ft_req *rq);
void h_daily(struct ft_req *rq);
void h_stats(struct ft_req *rq);
void h_entries(struct ft_req *rq);
void h_historic_balance(struct ft_req *rq);

/* (stats.c) */
cJSON *stats_profit(struct ft_app *app);
cJSON *stats_balance(struct ft_app *app);
cJSON *stats_performance(struct ft_app *app, const char *by);
cJSON *stats_timeunit(struct ft_app *app, int n, char unit);
cJSON *stats_stats(struct ft_app *app);
/* A trade as JSON: full (to_json, /trades) or the OpenTradeSchema of
 * /status and /trade/{id}. */
cJSON *trade_json(struct ft_app *app, const struct ft_trade *t, bool status);

#endif
