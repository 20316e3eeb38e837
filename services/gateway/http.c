/* The public HTTP API: evhttp server, dispatch, replies, metrics. */
#include "services/gateway/http.h"

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/net.h"
#include "libcommon/svc.h"
#include "services/gateway/auth.h"
#include "services/gateway/authcache.h"
#include "services/gateway/errors.h"
#include "services/gateway/gateway.h"
#include "services/gateway/routes.h"
#include "services/gateway/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct gw_route *const gw_route_tables[] = {
	gw_routes_auth,          gw_routes_users,   gw_routes_strategies,
	gw_routes_signals,       gw_routes_system,  gw_routes_notifications,
	gw_routes_backups,       gw_routes_health,  gw_routes_proxy,
	gw_routes_gateway,       gw_routes_frequi,  gw_routes_push,
	NULL,
};

struct gw_http {
	struct gw *g;                      /* borrowed */
	struct evhttp *http;               /* owned */
	struct evhttp_bound_socket *sock;  /* NULL once stopped */
	unsigned inflight;                 /* requests not yet answered */
	unsigned flushing;                 /* answered, not yet written */
};

/* ---- the request context ---- */

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	}
	return "OTHER";
}

static bool ip_valid(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * The client's address: X-Real-IP when the connection comes from a
 * trusted proxy (system.gateway.trusted_proxies: nginx in front), else
 * the peer itself, so that a client cannot pick the address its failed
 * logins are counted against.
 */
static void set_client_addr(struct gw_req *r)
{
	struct evhttp_connection *c = evhttp_request_get_connection(r->ev);
	char *peer = NULL;
	ev_uint16_t port = 0;
	const char *real = gw_header(r, "X-Real-IP");

	if (c)
		evhttp_connection_get_peer(c, &peer, &port);
	const struct lc_cfg_strlist *trusted =
		&r->g->svc->cfg->system.gateway.trusted_proxies;
	bool proxy = lc_net_in_any(peer, trusted->v, trusted->n);
	const char *use = proxy && real && strlen(real) < 64 &&
					  ip_valid(real)
				  ? real
				  : peer;
	snprintf(r->client_addr, sizeof(r->client_addr), "%s",
		 use && ip_valid(use) ? use : "0.0.0.0");
}

static struct gw_req *req_new(struct gw_http *h, struct evhttp_request *ev)
{
	struct gw_req *r = calloc(1, sizeof(*r));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;

	if (!r)
		return NULL;
	r->g = h->g;
	r->ev = ev;
	r->started_ms = lc_clock_mono_ms();
	r->method = method_name(evhttp_request_get_command(ev));
	r->path = strdup(path && *path ? path : "/");
	r->query = query ? strdup(query) : NULL;
	if (!r->path || (query && !r->query)) {
		free(r->path);
		free(r->query);
		free(r);
		return NULL;
	}
	set_client_addr(r);
	h->inflight++;
	return r;
}

static void req_free(struct gw_req *r)
{
	if (r->state_free)
		r->state_free(r->state);
	cJSON_Delete(r->body);
	free(r->path);
	free(r->query);
	free(r);
}

const char *gw_header(const struct gw_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev),
				  name);
}

int64_t gw_req_elapsed_ms(const struct gw_req *r)
{
	return lc_clock_mono_ms() - r->started_ms;
}

/* ---- replies ---- */

static void record(struct gw_req *r, int status)
{
	struct gw *g = r->g;
	const char *route = r->match.route ? r->match.route->pattern
					   : "unmatched";
	char code[8];
	int64_t ms = gw_req_elapsed_ms(r);

	snprintf(code, sizeof(code), "%d", status);
	lc_series_inc(lc_metric_series(g->m.requests, route, r->method,
				       code));
	lc_series_observe(lc_metric_series(g->m.latency, route),
			  (double)ms / 1000.0);
	log_info("http.request", LF_S("method", r->method),
		 LF_S("route", route), LF_I("status", status),
		 LF_I("ms", ms), LF_S("client", r->client_addr),
		 LF_S("user", r->user.id ? r->user.username : NULL));
	g->http->inflight--;
}

/*
 * A change to accounts or tokens went through (logout, refresh, password,
 * role, disable…): tokens checked before may no longer be valid, so the
 * auth cache forgets them all. Cheap, and these requests are rare.
 */
static void note_account_change(struct gw_req *r, int status)
{
	if (status >= 400 || strcmp(r->method, "GET") == 0 ||
	    strcmp(r->path, "/api/v1/auth/login") == 0)
		return;
	if (strncmp(r->path, "/api/v1/auth/", 13) == 0 ||
	    strncmp(r->path, "/api/v1/users", 13) == 0)
		gw_authcache_clear(r->g->auth);
}

/* libevent wrote a reply out (not called if the client went away). */
static void on_flushed(struct evhttp_request *ev, void *arg)
{
	struct gw_http *h = arg;

	(void)ev;
	if (h->flushing)
		h->flushing--;
}

void gw_reply_json(struct gw_req *r, int status, cJSON *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
	struct evbuffer *buf = evbuffer_new();
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;

	cJSON_Delete(body);
	if (body && !text) {
		log_error("http.reply_failed",
			  LF_S("reason", "out of memory"));
		status = 500;
		text = NULL;
	}
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (text) {
		evhttp_add_header(out, "Content-Type",
				  "application/json; charset=utf-8");
		if (buf)
			evbuffer_add(buf, text, strlen(text));
	}
	if (evhttp_request_get_connection(r->ev)) {
		evhttp_request_set_on_complete_cb(r->ev, on_flushed,
						  r->g->http);
		r->g->http->flushing++;
	}
	evhttp_send_reply(r->ev, status, gw_status_reason(status), buf);
	if (buf)
		evbuffer_free(buf);
	cJSON_free(text);
	note_account_change(r, status);
	record(r, status);
	req_free(r);
}

void gw_reply_raw(struct gw_req *r, int status, const char *reason,
		  struct evbuffer *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);

	if (!evhttp_find_header(out, "Cache-Control"))
		evhttp_add_header(out, "Cache-Control", "no-store");
	if (!evhttp_find_header(out, "X-Content-Type-Options"))
		evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (evhttp_request_get_connection(r->ev)) {
		evhttp_request_set_on_complete_cb(r->ev, on_flushed,
						  r->g->http);
		r->g->http->flushing++;
	}
	evhttp_send_reply(r->ev, status,
			  reason && *reason ? reason
					    : gw_status_reason(status),
			  body);
	record(r, status);
	req_free(r);
}

void gw_req_detach(struct gw_req *r, int status)
{
	record(r, status);
	req_free(r);
}

void gw_reply_error(struct gw_req *r, int status, const char *code,
		    const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	cJSON *o = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "detail", detail);
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(r->ev),
				  "WWW-Authenticate", "Bearer");
	gw_reply_json(r, status, o);
}

void gw_reply_internal(struct gw_req *r, const char *what)
{
	log_error("http.internal_error", LF_S("route", r->match.route
			  ? r->match.route->pattern : NULL),
		  LF_S("error", what));
	gw_reply_error(r, 500, "internal",
		       "internal error; the detail is in the gateway log");
}

void gw_reply_unavailable(struct gw_req *r, const char *what)
{
	log_warn("http.unavailable", LF_S("route", r->match.route
			 ? r->match.route->pattern : NULL),
		 LF_S("error", what));
	gw_reply_error(r, 503, "unavailable",
		       "a service the gateway needs is unavailable (%s); "
		       "try again later", what);
}

/* ---- reading the request ---- */

bool gw_param(const struct gw_req *r, const char *name, char *out,
	      size_t outlen)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->match.nparams; i++) {
		const struct gw_param *p = &r->match.params[i];
		if (p->name_len != n || memcmp(p->name, name, n) != 0)
			continue;
		if (p->value_len >= outlen)
			return false;
		memcpy(out, p->value, p->value_len);
		out[p->value_len] = '\0';
		return true;
	}
	return false;
}

static bool param_id(struct gw_req *r, const char *name, int64_t max,
		     int64_t *out)
{
	char v[32];

	if (gw_param(r, name, v, sizeof(v)) &&
	    gw_parse_id(v, strlen(v), max, out))
		return true;
	gw_reply_error(r, 422, "invalid", "%s: must be an integer from 1 to "
		       "%lld", name, (long long)max);
	return false;
}

bool gw_param_id(struct gw_req *r, const char *name, int64_t *out)
{
	return param_id(r, name, GW_ID_MAX, out);
}

bool gw_param_bigid(struct gw_req *r, const char *name, int64_t *out)
{
	return param_id(r, name, GW_BIGID_MAX, out);
}

cJSON *gw_query(struct gw_req *r, const struct gw_field *spec)
{
	char err[256];
	cJSON *q = gw_query_parse(r->query, spec, err, sizeof(err));

	if (!q)
		gw_reply_error(r, 422, "invalid", "%s", err);
	return q;
}

bool gw_body_valid(struct gw_req *r, const struct gw_field *spec)
{
	char err[256];
	cJSON *empty = r->body ? NULL : cJSON_CreateObject();
	bool ok = gw_validate(r->body ? r->body : empty, spec, err,
			      sizeof(err));

	cJSON_Delete(empty);
	if (!ok)
		gw_reply_error(r, 422, "invalid", "%s", err);
	return ok;
}

static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct || strncasecmp(ct, want, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Parse the body if the route takes one; false after replying. */
static bool read_body(struct gw_req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	size_t len = evbuffer_get_length(in);
	unsigned flags = r->match.route->flags;

	if (!(flags & (GW_R_BODY | GW_R_BODY_OPT)))
		return true; /* a body on a route that takes none is ignored */
	if (len == 0) {
		if (!(flags & GW_R_BODY))
			return true;
		gw_reply_error(r, 400, "bad_request",
			       "this request needs a JSON object body");
		return false;
	}
	if (!is_json_type(gw_header(r, "Content-Type"))) {
		gw_reply_error(r, 415, "unsupported_media_type",
			       "Content-Type must be application/json");
		return false;
	}
	const char *text = (const char *)evbuffer_pullup(in, -1);
	r->body = text ? cJSON_ParseWithLength(text, len) : NULL;
	if (!r->body || !cJSON_IsObject(r->body)) {
		gw_reply_error(r, 400, "bad_request",
			       "the body must be a JSON object");
		return false;
	}
	return true;
}

void gw_http_continue(struct gw_req *r)
{
	if (read_body(r))
		r->match.route->fn(r);
}

/* ---- dispatch ---- */

static void dispatch(struct gw_req *r)
{
	char allow[64];
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);

	switch (gw_router_match(gw_route_tables, r->method, r->path,
				&r->match, allow, sizeof(allow))) {
	case GW_MATCH_NO_PATH:
		gw_reply_error(r, 404, "not_found", "no route for %s %.200s",
			       r->method, r->path);
		return;
	case GW_MATCH_NO_METHOD:
		evhttp_add_header(evhttp_request_get_output_headers(r->ev),
				  "Allow", allow);
		gw_reply_error(r, 405, "method_not_allowed",
			       "%s is not allowed here; use %s", r->method,
			       allow);
		return;
	case GW_MATCH_OK:
		break;
	}
	if (evbuffer_get_length(in) > GW_MAX_BODY) {
		gw_reply_error(r, 413, "too_large",
			       "the body is over %d bytes", GW_MAX_BODY);
		return;
	}
	if (r->match.route->flags & GW_R_PUBLIC)
		gw_http_continue(r);
	else
		gw_auth_request(r);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
	struct gw_http *h = arg;
	struct gw_req *r = req_new(h, ev);

	if (!r) {
		log_error("http.request_failed",
			  LF_S("reason", "out of memory"));
		evhttp_send_error(ev, 500, NULL);
		return;
	}
	if (h->g->svc->d.stopping) {
		gw_reply_error(r, 503, "unavailable",
			       "the gateway is shutting down");
		return;
	}
	dispatch(r);
}

/* ---- the server ---- */

/* A pattern typo is a bug: refuse to start rather than never match. */
static bool tables_valid(char *err, size_t errlen)
{
	for (size_t t = 0; gw_route_tables[t]; t++)
		for (const struct gw_route *r = gw_route_tables[t]; r->method;
		     r++)
			if (!gw_router_pattern_valid(r->pattern) || !r->fn) {
				snprintf(err, errlen, "bad route '%s %s'",
					 r->method, r->pattern);
				return false;
			}
	return true;
}

struct gw_http *gw_http_new(struct gw *g, const char *host, int port,
			    char *err, size_t errlen)
{
	if (!tables_valid(err, errlen))
		return NULL;
	struct gw_http *h = calloc(1, sizeof(*h));

	if (!h || !(h->http = evhttp_new(g->svc->d.base))) {
		snprintf(err, errlen, "out of memory");
		free(h);
		return NULL;
	}
	h->g = g;
	g->http = h;
	/* Every method reaches on_request, which answers 405 in JSON. */
	evhttp_set_allowed_methods(h->http, 0xffff);
	evhttp_set_max_body_size(h->http, GW_MAX_BODY_TRANSPORT);
	evhttp_set_max_headers_size(h->http, GW_MAX_HEADERS);
	evhttp_set_timeout(h->http, GW_HTTP_TIMEOUT_S);
	evhttp_set_gencb(h->http, on_request, h);
	if (!host || !*host)
		host = "127.0.0.1";
	h->sock = evhttp_bind_socket_with_handle(h->http, host,
						 (ev_uint16_t)port);
	if (!h->sock) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
			 strerror(errno));
		gw_http_free(h);
		g->http = NULL;
		return NULL;
	}
	return h;
}

void gw_http_stop(struct gw_http *h)
{
	if (h && h->sock) {
		evhttp_del_accept_socket(h->http, h->sock);
		h->sock = NULL;
	}
}

unsigned gw_http_inflight(const struct gw_http *h)
{
	return h ? h->inflight : 0;
}

unsigned gw_http_flushing(const struct gw_http *h)
{
	return h ? h->flushing : 0;
}

void gw_http_free(struct gw_http *h)
{
	if (!h)
		return;
	evhttp_free(h->http);
	free(h);
}
