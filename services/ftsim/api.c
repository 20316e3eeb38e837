/*
 * api: the REST API server (rpc/api_server/webserver.py + FastAPI's
 * behaviour): routing under /api/v1, 404/405 as Starlette answers them,
 * HTTP Basic or Bearer auth on every private route (api_auth.py), CORS
 * with credentials for the exact CORS_origins (Starlette's CORSMiddleware
 * incl. preflight), and ftsim's fault modes (slow answers, chosen 5xx).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "services/ftsim/api.h"

#define LOG_WS "freqtrade.rpc.api_server.webserver"
#define LOG_UV "uvicorn.error"
#define PREFIX "/api/v1"

enum {
	M_GET = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD,
	M_POST = EVHTTP_REQ_POST,
	M_DEL = EVHTTP_REQ_DELETE,
};

struct route {
	const char *path; /* a trailing '/' takes a {param} */
	int methods;
	bool public;
	ft_handler fn;
};

static const struct route routes[] = {
	{ "/ping", M_GET, true, h_ping },
	{ "/token/login", M_POST, true, h_login },
	{ "/token/refresh", M_POST, true, h_refresh },
	{ "/version", M_GET, false, h_version },
	{ "/show_config", M_GET, false, h_show_config },
	{ "/health", M_GET, false, h_health },
	{ "/sysinfo", M_GET, false, h_sysinfo },
	{ "/logs", M_GET, false, h_logs },
	{ "/whitelist", M_GET, false, h_whitelist },
	{ "/blacklist", M_GET | M_POST | M_DEL, false, h_blacklist },
	{ "/locks", M_GET, false, h_locks },
	{ "/plot_config", M_GET, false, h_plot_config },
	{ "/strategies", M_GET, false, h_strategies },
	{ "/strategy/", M_GET, false, h_strategy },
	{ "/pair_candles", M_GET | M_POST, false, h_pair_candles },
	{ "/start", M_POST, false, h_start },
	{ "/stop", M_POST, false, h_stop },
	{ "/pause", M_POST, false, h_pause },
	{ "/stopentry", M_POST, false, h_pause },
	{ "/stopbuy", M_POST, false, h_pause },
	{ "/reload_config", M_POST, false, h_reload_config },
	{ "/forceenter", M_POST, false, h_forceenter },
	{ "/forcebuy", M_POST, false, h_forceenter },
	{ "/forceexit", M_POST, false, h_forceexit },
	{ "/forcesell", M_POST, false, h_forceexit },
	{ "/status", M_GET, false, h_status },
	{ "/trades", M_GET, false, h_trades },
	{ "/trades/", M_DEL, false, h_delete_trade },
	{ "/trade/", M_GET, false, h_trade },
	{ "/profit", M_GET, false, h_profit },
	{ "/profit_all", M_GET, false, h_profit_all },
	{ "/balance", M_GET, false, h_balance },
	{ "/count", M_GET, false, h_count },
	{ "/performance", M_GET, false, h_performance },
	{ "/daily", M_GET, false, h_daily },
	{ "/weekly", M_GET, false, h_daily },
	{ "/monthly", M_GET, false, h_daily },
	{ "/stats", M_GET, false, h_stats },
	{ "/entries", M_GET, false, h_entries },
	{ "/exits", M_GET, false, h_entries },
	{ "/mix_tags", M_GET, false, h_entries },
	{ "/historic_balance", M_GET, false, h_historic_balance },
};

struct ft_api {
	struct evhttp *http;
	struct ft_req *pending; /* deferred answers */
};

/* ---- replies ---- */

static const char *method_name(int m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "GET";
	}
}

static const char *phrase(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 422: return "Unprocessable Entity";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static bool origin_allowed(struct ft_app *app, const char *origin)
{
	const cJSON *o;
	if (!origin)
		return false;
	cJSON_ArrayForEach (o, app->cfg.cors)
		if (cJSON_IsString(o) &&
		    (strcmp(o->valuestring, origin) == 0 ||
		     strcmp(o->valuestring, "*") == 0))
			return true;
	return false;
}

static void cors_headers(struct ft_req *rq)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(rq->r);
	struct evkeyvalq *out = evhttp_request_get_output_headers(rq->r);
	const char *origin = evhttp_find_header(in, "Origin");
	if (!origin || !origin_allowed(rq->app, origin))
		return;
	evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
	evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
	evhttp_add_header(out, "Vary", "Origin");
}

static void access_log(struct ft_req *rq, int code)
{
	const char *v = cJSON_GetStringValue(
	        jget(jget(rq->app->cfg.root, "api_server"), "verbosity"));
	if (!v || strcmp(v, "info") != 0)
		return;
	char *host = NULL;
	ev_uint16_t port = 0;
	struct evhttp_connection *c = evhttp_request_get_connection(rq->r);
	if (c)
		evhttp_connection_get_peer(c, &host, &port);
	ftlog(FTL_INFO, "uvicorn.access", "%s:%u - \"%s %s HTTP/1.1\" %d",
	      host ? host : "127.0.0.1", port, method_name(rq->method),
	      evhttp_request_get_uri(rq->r), code);
}

static void req_free(struct ft_req *rq)
{
	evhttp_clear_headers(&rq->query);
	if (rq->ev)
		event_free(rq->ev);
	free(rq);
}

static void send_body(struct ft_req *rq, int code, const char *ctype,
                      const char *body)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(rq->r);
	evhttp_add_header(out, "Content-Type", ctype);
	evhttp_add_header(out, "server", "uvicorn");
	cors_headers(rq);
	if (b && body && rq->method != EVHTTP_REQ_HEAD)
		evbuffer_add(b, body, strlen(body));
	access_log(rq, code);
	evhttp_send_reply(rq->r, code, phrase(code), b);
	if (b)
		evbuffer_free(b);
	req_free(rq);
}

void reply_json(struct ft_req *rq, int code, cJSON *body)
{
	char *s = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (!s)
		send_body(rq, 500, "text/plain; charset=utf-8",
		          "Internal Server Error");
	else
		send_body(rq, code, "application/json", s);
	free(s);
}

void reply_detail(struct ft_req *rq, int code, const char *text)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "detail", text);
	reply_json(rq, code, o);
}

void reply_rpc_error(struct ft_req *rq, const char *msg)
{
	char b[512];
	ftlog(FTL_ERROR, LOG_WS, "API Error calling: %s", msg);
	snprintf(b, sizeof(b), "Error querying %s%s: %s", PREFIX, rq->path,
	         msg);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", b);
	reply_json(rq, 502, o);
}

void reply_invalid_int(struct ft_req *rq, const char *name, const char *value,
                       const char *type, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *d = cJSON_AddArrayToObject(o, "detail");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", type);
	cJSON *loc = cJSON_AddArrayToObject(e, "loc");
	cJSON_AddItemToArray(
	        loc,
	        cJSON_CreateString(rq->param && !value ? "path" : "query"));
	cJSON_AddItemToArray(loc, cJSON_CreateString(name));
	cJSON_AddStringToObject(e, "msg", msg);
	json_add_str(e, "input", value);
	cJSON_AddItemToArray(d, e);
	reply_json(rq, 422, o);
}

static void reply_401(struct ft_req *rq, const char *text, const char *www)
{
	if (www)
		evhttp_add_header(evhttp_request_get_output_headers(rq->r),
		                  "WWW-Authenticate", www);
	reply_detail(rq, 401, text);
}

/* ---- request helpers ---- */

const char *query_get(struct ft_req *rq, const char *name)
{
	return evhttp_find_header(&rq->query, name);
}

int query_int(struct ft_req *rq, const char *name, long def, long lo, long hi,
              long *out)
{
	const char *v = query_get(rq, name);
	char *end, msg[128];
	*out = def;
	if (!v)
		return 0;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (!*v || *end || errno) {
		reply_invalid_int(rq, name, v, "int_parsing",
		                  "Input should be a valid integer, unable to "
		                  "parse string as an integer");
		return -1;
	}
	if (n < lo) {
		snprintf(msg, sizeof(msg),
		         "Input should be greater than or equal to %ld", lo);
		reply_invalid_int(rq, name, v, "greater_than_equal", msg);
		return -1;
	}
	if (n > hi) {
		snprintf(msg, sizeof(msg),
		         "Input should be less than or equal to %ld", hi);
		reply_invalid_int(rq, name, v, "less_than_equal", msg);
		return -1;
	}
	*out = n;
	return 0;
}

cJSON *request_json(struct ft_req *rq)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->r);
	size_t n = evbuffer_get_length(in);
	if (n == 0)
		return NULL;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	evbuffer_copyout(in, s, n);
	s[n] = 0;
	cJSON *j = cJSON_Parse(s);
	free(s);
	return j;
}

static void unlink_pending(struct ft_req *rq)
{
	struct ft_api *a = rq->app->api;
	for (struct ft_req **pp = a ? &a->pending : NULL; pp && *pp;
	     pp = &(*pp)->next)
		if (*pp == rq) {
			*pp = rq->next;
			return;
		}
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_req *rq = arg;
	unlink_pending(rq);
	rq->later(rq);
}

void defer(struct ft_req *rq, int ms, void (*fn)(struct ft_req *rq))
{
	struct ft_api *a = rq->app->api;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	if (!rq->ev)
		rq->ev = evtimer_new(rq->app->base, on_later, rq);
	rq->later = fn;
	if (!rq->ev || evtimer_add(rq->ev, &tv) != 0) {
		fn(rq);
		return;
	}
	rq->next = a->pending;
	a->pending = rq;
}

/* ---- auth (api_auth.py http_basic_or_jwt_token) ---- */

static const char *auth_header(struct ft_req *rq, const char *scheme)
{
	const char *h = evhttp_find_header(
	        evhttp_request_get_input_headers(rq->r), "Authorization");
	size_t sl = strlen(scheme);
	if (!h || strncasecmp(h, scheme, sl) != 0 || h[sl] != ' ')
		return NULL;
	return h + sl + 1;
}

/* true if authorized; else the 401 was sent. */
static bool authorized(struct ft_req *rq)
{
	char user[256], pass[256], tuser[64];
	const char *basic = auth_header(rq, "basic");
	const char *bearer = auth_header(rq, "bearer");
	bool have_basic = false;
	if (basic) {
		if (auth_parse_basic(basic, user, sizeof(user), pass,
		                     sizeof(pass)) != 0) {
			reply_401(rq, "Invalid authentication credentials",
			          "Basic");
			return false;
		}
		have_basic = true;
	}
	if (bearer) {
		if (auth_check_token(&rq->app->cfg, bearer, "access", tuser))
			return true;
		reply_401(rq, "Could not validate credentials", "Bearer");
		return false;
	}
	if (have_basic && auth_check_password(&rq->app->cfg, user, pass))
		return true;
	reply_401(rq, "Unauthorized", NULL);
	return false;
}

/* ---- CORS preflight ---- */

static bool preflight(struct ft_req *rq)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(rq->r);
	struct evkeyvalq *out = evhttp_request_get_output_headers(rq->r);
	const char *origin = evhttp_find_header(in, "Origin");
	const char *meth =
	        evhttp_find_header(in, "Access-Control-Request-Method");
	const char *hdrs =
	        evhttp_find_header(in, "Access-Control-Request-Headers");
	static const char *const allowed[] = { "DELETE",  "GET",   "HEAD",
		                               "OPTIONS", "PATCH", "POST",
		                               "PUT",     NULL };
	if (rq->method != EVHTTP_REQ_OPTIONS || !origin || !meth)
		return false;
	bool ok_origin = origin_allowed(rq->app, origin);
	bool ok_method = false;
	for (const char *const *m = allowed; *m; m++)
		ok_method |= strcmp(*m, meth) == 0;
	evhttp_add_header(out, "Access-Control-Allow-Methods",
	                  "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
	evhttp_add_header(out, "Access-Control-Max-Age", "600");
	evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
	if (ok_origin)
		evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
	if (hdrs)
		evhttp_add_header(out, "Access-Control-Allow-Headers", hdrs);
	evhttp_add_header(out, "Vary", "Origin");
	char fail[64] = "";
	if (!ok_origin || !ok_method)
		snprintf(fail, sizeof(fail), "Disallowed CORS %s%s%s",
		         ok_origin ? "" : "origin",
		         !ok_origin && !ok_method ? ", " : "",
		         ok_method ? "" : "method");
	struct evbuffer *b = evbuffer_new();
	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(b, "%s", fail[0] ? fail : "OK");
	access_log(rq, fail[0] ? 400 : 200);
	evhttp_send_reply(rq->r, fail[0] ? 400 : 200,
	                  fail[0] ? "Bad Request" : "OK", b);
	evbuffer_free(b);
	req_free(rq);
	return true;
}

/* ---- faults ---- */

static bool listed(const cJSON *list, const char *path)
{
	const cJSON *e;
	char full[300];
	snprintf(full, sizeof(full), PREFIX "%s", path);
	cJSON_ArrayForEach (e, list)
		if (cJSON_IsString(e) && (strcmp(e->valuestring, "*") == 0 ||
		                          strcmp(e->valuestring, path) == 0 ||
		                          strcmp(e->valuestring, full) == 0))
			return true;
	return false;
}

/* ---- dispatch ---- */

static const struct route *find_route(const char *path, const char **param,
                                      bool *path_known)
{
	*param = NULL;
	*path_known = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *rp = routes[i].path;
		size_t l = strlen(rp);
		if (rp[l - 1] == '/') {
			if (strncmp(path, rp, l) == 0 && path[l] &&
			    !strchr(path + l, '/')) {
				*param = path + l;
				return &routes[i];
			}
		} else if (strcmp(path, rp) == 0) {
			return &routes[i];
		}
	}
	return NULL;
}

/* Several routes share a path with different methods (/trades). */
static const struct route *route_for(const char *path, int method,
                                     const char **param, bool *known)
{
	*known = false;
	const struct route *r = find_route(path, param, known);
	if (!r)
		return NULL;
	*known = true;
	if (r->methods & method)
		return r;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, r->path) == 0 &&
		    (routes[i].methods & method))
			return &routes[i];
	return NULL;
}

static void run_handler(struct ft_req *rq)
{
	const char *param;
	bool known;
	const struct route *r =
	        route_for(rq->path, rq->method, &param, &known);
	rq->param = param;
	r->fn(rq);
}

static void outside_api(struct ft_req *rq)
{
	/* the UI's catch-all route: anything but /api… */
	if (!(rq->method & M_GET)) {
		reply_detail(rq, 405, "Method Not Allowed");
		return;
	}
	send_body(rq, 200, "text/html; charset=utf-8",
	          "<!DOCTYPE html><html><head><title>Freqtrade UI</title>"
	          "</head><body><p>Freqtrade UI not installed.</p><p>Use "
	          "`freqtrade install-ui` to install the UI.</p></body>"
	          "</html>");
}

static struct ft_req *req_new(struct ft_app *app, struct evhttp_request *r)
{
	struct ft_req *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	rq->app = app;
	rq->r = r;
	rq->method = (int)evhttp_request_get_command(r);
	TAILQ_INIT(&rq->query);
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r);
	const char *q = u ? evhttp_uri_get_query(u) : NULL;
	if (q)
		evhttp_parse_query_str(q, &rq->query);
	const char *p = u ? evhttp_uri_get_path(u) : NULL;
	char *dec = evhttp_uridecode(p ? p : "/", 0, NULL);
	snprintf(rq->path, sizeof(rq->path), "%s", dec ? dec : "/");
	free(dec);
	return rq;
}

static void dispatch(struct evhttp_request *r, void *arg)
{
	struct ft_app *app = arg;
	struct ft_req *rq = req_new(app, r);
	if (!rq) {
		evhttp_send_error(r, 500, NULL);
		return;
	}
	if (preflight(rq))
		return;
	size_t pl = strlen(PREFIX);
	if (strncmp(rq->path, PREFIX, pl) != 0 ||
	    (rq->path[pl] != '/' && rq->path[pl] != 0)) {
		if (strncmp(rq->path, "/api", 4) == 0 && (rq->method & M_GET))
			reply_detail(rq, 404, "Not Found");
		else
			outside_api(rq);
		return;
	}
	memmove(rq->path, rq->path + pl, strlen(rq->path + pl) + 1);
	if (strcmp(rq->path, "/message/ws") == 0) {
		msgws_handle(app, r, query_get(rq, "token"));
		req_free(rq);
		return;
	}
	const char *param;
	bool known;
	const struct route *rt =
	        route_for(rq->path, rq->method, &param, &known);
	if (!rt) {
		if (known || !(rq->method & M_GET))
			reply_detail(rq, 405, "Method Not Allowed");
		else
			reply_detail(rq, 404, "Not Found");
		return;
	}
	if (!rt->public && !authorized(rq))
		return;
	const struct ft_sim *s = &app->cfg.sim;
	if (listed(s->fail_endpoints, rq->path)) {
		reply_detail(rq, s->fail_status, "ftsim: injected failure");
		return;
	}
	if (s->slow_ms > 0 &&
	    (!s->slow_endpoints || listed(s->slow_endpoints, rq->path))) {
		defer(rq, s->slow_ms, run_handler);
		return;
	}
	run_handler(rq);
}

/* ---- start / stop ---- */

static void start_logs(struct ft_app *app)
{
	const struct ft_cfg *c = &app->cfg;
	ftlog(FTL_INFO, LOG_WS, "Starting HTTP Server at %s:%d", c->listen_ip,
	      c->listen_port);
	if (strncmp(c->listen_ip, "127.", 4) != 0) {
		ftlog(FTL_WARNING, LOG_WS,
		      "SECURITY WARNING - Local Rest "
		      "Server listening to external connections");
		ftlog(FTL_WARNING, LOG_WS,
		      "SECURITY WARNING - This is "
		      "insecure please set to your loopback,e.g 127.0.0.1 in "
		      "config.json");
	}
	if (!c->password[0])
		ftlog(FTL_WARNING, LOG_WS,
		      "SECURITY WARNING - No password for "
		      "local REST Server defined. Please make sure that this "
		      "is intentional!");
	if (strcmp(c->jwt_secret, "super-secret") == 0 ||
	    strcmp(c->jwt_secret, "somethingrandom") == 0)
		ftlog(FTL_WARNING, LOG_WS,
		      "SECURITY WARNING - `jwt_secret_key` "
		      "seems to be default.Others may be able to log into "
		      "your bot.");
	ftlog(FTL_INFO, LOG_WS, "Starting Local Rest Server.");
}

int api_start(struct ft_app *app)
{
	const struct ft_cfg *c = &app->cfg;
	if (!c->api_enabled)
		return 0;
	ftlog(FTL_INFO, "freqtrade.rpc.rpc_manager",
	      "Enabling rpc.api_server");
	struct ft_api *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	a->http = evhttp_new(app->base);
	if (!a->http) {
		free(a);
		return -1;
	}
	evhttp_set_allowed_methods(
	        a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(a->http, 1 << 20);
	evhttp_set_max_headers_size(a->http, 64 << 10);
	evhttp_set_timeout(a->http, 60);
	evhttp_set_gencb(a->http, dispatch, app);
	start_logs(app);
	if (!evhttp_bind_socket_with_handle(a->http, c->listen_ip,
	                                    (ev_uint16_t)c->listen_port)) {
		int e = errno;
		ftlog(FTL_ERROR, LOG_UV,
		      "[Errno %d] error while attempting to "
		      "bind on address ('%s', %d): %s",
		      e, c->listen_ip, c->listen_port,
		      e == EADDRINUSE ? "address already in use"
		                      : strerror(e));
		evhttp_free(a->http);
		free(a);
		return -1;
	}
	app->api = a;
	ftlog(FTL_INFO, LOG_UV, "Started server process [%d]", (int)getpid());
	ftlog(FTL_INFO, LOG_UV, "Waiting for application startup.");
	ftlog(FTL_INFO, LOG_UV, "Application startup complete.");
	ftlog(FTL_INFO, LOG_UV,
	      "Uvicorn running on http://%s:%d (Press "
	      "CTRL+C to quit)",
	      c->listen_ip, c->listen_port);
	return 0;
}

void api_stop(struct ft_app *app)
{
	struct ft_api *a = app->api;
	if (!a)
		return;
	ftlog(FTL_INFO, LOG_WS, "Stopping API Server");
	ftlog(FTL_INFO, LOG_UV, "Shutting down");
	msgws_close_all(app);
	while (a->pending) { /* evhttp_free frees their requests */
		struct ft_req *rq = a->pending;
		a->pending = rq->next;
		req_free(rq);
	}
	evhttp_free(a->http);
	free(a);
	app->api = NULL;
	ftlog(FTL_INFO, LOG_UV, "Waiting for application shutdown.");
	ftlog(FTL_INFO, LOG_UV, "Application shutdown complete.");
	ftlog(FTL_INFO, LOG_UV, "Finished server process [%d]", (int)getpid());
}
