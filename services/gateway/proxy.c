/* The strategy proxy: /api/strategy/{id}/… to the bot's /api/v1/…. */
#include "services/gateway/proxy.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "services/gateway/botpool.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"
#include "services/gateway/routes.h"
#include "services/gateway/routes_table.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RESPONSE (32u << 20)  /* a bot's answer; /pair_candles is big */
#define MAX_TARGET 8192
#define MAX_FWD_HEADERS 16384

/* Never forwarded, either way (RFC 9110 section 7.6.1), or ours to set. */
static const char *const hop_by_hop[] = {
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
	"Upgrade", "Content-Length", NULL,
};
static const char *const request_only[] = {
	"Host", "Authorization", "Cookie", "Expect", NULL,
};
static const char *const response_only[] = {
	"Set-Cookie", "WWW-Authenticate", NULL,
};

struct fwd {
	struct gw_upreq *q;   /* while the bot has it */
	int64_t id;
	int port;
	int timeout_s;
};

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (strcasecmp(*list, name) == 0)
			return true;
	return false;
}

/* Is name one of the tokens of a Connection header value? */
static bool named_by(const char *connection, const char *name)
{
	size_t n = strlen(name);

	if (!connection)
		return false;
	for (const char *s = connection; *s;) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		const char *e = s;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		if ((size_t)(e - s) == n && strncasecmp(s, name, n) == 0)
			return true;
		s = e;
	}
	return false;
}

static bool forwardable(const char *name, const char *connection,
			const char *const *extra)
{
	return !in_list(hop_by_hop, name) && !in_list(extra, name) &&
	       !named_by(connection, name);
}

/* The request's headers to pass on, plus the bot's Authorization. */
static char *request_headers(struct gw_req *r, const struct gw_bot *b)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
	const char *conn = evhttp_find_header(in, "Connection");
	struct evbuffer *out = evbuffer_new();
	struct evkeyval *h;
	char *s = NULL;

	if (!out)
		return NULL;
	evbuffer_add(out, b->auth, strlen(b->auth));
	TAILQ_FOREACH(h, in, next) {
		if (!forwardable(h->key, conn, request_only))
			continue;
		evbuffer_add_printf(out, "%s: %s\r\n", h->key, h->value);
	}
	size_t n = evbuffer_get_length(out);
	if (n <= MAX_FWD_HEADERS && (s = malloc(n + 1)) != NULL) {
		evbuffer_remove(out, s, n);
		s[n] = '\0';
	}
	evbuffer_free(out);
	return s;
}

static void copy_response_headers(struct gw_req *r,
				  const struct gw_up_res *res)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
	const char *conn = gw_up_header(res, "Connection");

	for (size_t i = 0; i < res->nheaders; i++) {
		const char *name = res->headers[i].name;
		if (!forwardable(name, conn, response_only) ||
		    strncasecmp(name, "Access-Control-", 15) == 0)
			continue;
		evhttp_add_header(out, name, res->headers[i].value);
	}
}

static void count(struct gw_req *r, const char *result)
{
	lc_series_inc(lc_metric_series(r->g->m.proxied, result));
}

static void on_answer(const struct gw_up_res *res, void *arg)
{
	struct gw_req *r = arg;
	struct fwd *f = r->state;

	f->q = NULL;
	switch (res->error) {
	case GW_UP_OK:
		break;
	case GW_UP_REFUSED:
		count(r, "refused");
		gw_reply_error(r, 502, "upstream_error",
			       "strategy %lld does not accept connections on "
			       "port %d (the bot is down or restarting)",
			       (long long)f->id, f->port);
		return;
	case GW_UP_TIMEOUT:
		count(r, "timeout");
		gw_reply_error(r, 504, "upstream_timeout",
			       "strategy %lld did not answer within %d s",
			       (long long)f->id, f->timeout_s);
		return;
	case GW_UP_BROKEN:
		count(r, "broken");
		gw_reply_error(r, 502, "upstream_error",
			       "strategy %lld closed the connection or "
			       "answered something that is not HTTP/1.1",
			       (long long)f->id);
		return;
	case GW_UP_TOO_BIG:
		count(r, "too_large");
		gw_reply_error(r, 502, "upstream_error",
			       "strategy %lld answered more than %u bytes",
			       (long long)f->id, MAX_RESPONSE);
		return;
	case GW_UP_CANCELLED:
		count(r, "cancelled");
		gw_reply_unavailable(r, "the strategy proxy is stopping");
		return;
	}
	if (res->status == 401) {
		count(r, "bot_auth");
		gw_reply_error(r, 502, "upstream_error",
			       "strategy %lld refused the gateway's "
			       "credentials", (long long)f->id);
		return;
	}
	count(r, "ok");
	copy_response_headers(r, res);
	gw_reply_raw(r, res->status, res->reason, res->body);
}

static void fwd_free(void *p)
{
	struct fwd *f = p;

	gw_upreq_cancel(f->q);
	free(f);
}

/* No empty, "." or ".." segment, even percent-encoded; no controls. */
static bool rest_ok(const char *s, size_t n)
{
	size_t i = 0;

	while (i <= n) {
		size_t start = i, dots = 0;
		bool only_dots = true;
		for (; i < n && s[i] != '/'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x21 || c == 0x7f)
				return false;
			if (c == '.') {
				dots++;
			} else if (c == '%' && i + 2 < n && s[i + 1] == '2' &&
				   (s[i + 2] | 0x20) == 'e') {
				dots++;
				i += 2;
			} else {
				only_dots = false;
			}
		}
		if (i == start || (only_dots && dots <= 2))
			return false;
		i++;
	}
	return true;
}

const char *gw_proxy_rest(const struct gw_req *r, size_t *len)
{
	for (size_t i = 0; i < r->match.nparams; i++) {
		const struct gw_param *p = &r->match.params[i];
		if (p->name_len == 4 && memcmp(p->name, "path", 4) == 0) {
			*len = p->value_len;
			return p->value;
		}
	}
	return NULL;
}

void gw_proxy_forward(struct gw_req *r, struct gw_bot *b, const char *rest,
		      size_t rest_len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	size_t body_len = evbuffer_get_length(in);
	const char *q = r->query;
	char target[MAX_TARGET];
	int n;

	if (!rest || !rest_ok(rest, rest_len)) {
		gw_reply_error(r, 404, "not_found", "no such path on a bot");
		return;
	}
	n = snprintf(target, sizeof(target), "/api/v1/%.*s%s%s",
		     (int)rest_len, rest, q ? "?" : "", q ? q : "");
	if (n < 0 || (size_t)n >= sizeof(target)) {
		gw_reply_error(r, 414, "too_large", "the path is too long");
		return;
	}
	struct fwd *f = calloc(1, sizeof(*f));
	char *headers = request_headers(r, b);
	if (!f || !headers) {
		free(f);
		free(headers);
		gw_reply_error(r, headers ? 500 : 431, headers ? "internal"
							      : "too_large",
			       "the request's headers cannot be forwarded");
		return;
	}
	f->id = b->id;
	f->port = b->port;
	f->timeout_s = (int)r->g->svc->cfg->system.gateway.proxy_timeout;
	r->state = f;
	r->state_free = fwd_free;
	f->q = gw_pool_request(b->pool, r->method, target, headers,
			       body_len ? evbuffer_pullup(in, -1) : NULL,
			       body_len, (int64_t)f->timeout_s * 1000,
			       MAX_RESPONSE, on_answer, r);
	free(headers);
	if (!f->q)
		gw_reply_internal(r, "out of memory");
}

/* ---- /api/strategy/{id}/{path*} ---- */

static void route_proxy(struct gw_req *r)
{
	int64_t id;
	size_t len = 0;
	const char *rest = gw_proxy_rest(r, &len);

	if (!gw_param_id(r, "id", &id))
		return;
	struct gw_bot *b = gw_routes_find(r->g->routes, id);
	if (!b) {
		count(r, "no_route");
		gw_reply_error(r, 404, "not_found",
			       "strategy %lld is not running (no route)",
			       (long long)id);
		return;
	}
	gw_proxy_forward(r, b, rest, len);
}

#define PROXY "/api/strategy/{id}/{path*}"

const struct gw_route gw_routes_proxy[] = {
	{ "GET", PROXY, GW_ROLES_ANY, 0, route_proxy },
	{ "POST", PROXY, GW_ROLES_WRITE, 0, route_proxy },
	{ "PUT", PROXY, GW_ROLES_WRITE, 0, route_proxy },
	{ "DELETE", PROXY, GW_ROLES_WRITE, 0, route_proxy },
	{ 0 },
};
