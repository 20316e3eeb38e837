/*
 * webhook: FreqTrade's rpc/webhook.py. The message type's template (or
 * its legacy key) is rendered with Python str.format semantics (fmt.c),
 * every value a string, and POSTed as form, json or raw with the
 * configured retries, retry_delay and timeout. Failures are logged and
 * the message is dropped, as FreqTrade does; a template with an unknown
 * placeholder logs "Problem calling Webhook..." and sends nothing.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommon/clock.h"
#include "libcommon/curl.h"
#include "services/ftsim/ftsim.h"

#define LOG_WH "freqtrade.rpc.webhook"
#define LOG_RPC "freqtrade.rpc.rpc_manager"
#define MAX_BODY (1024 * 1024)

struct ft_wh {
	struct ft_app *app;
	char *body;
	size_t len;
	const char *ctype;
	int attempt; /* attempts made */
	struct lc_curl_req *req;
	struct event *delay;
	void (*done)(struct ft_app *app);
};

/* ---- the template ---- */

static const cJSON *legacy(const cJSON *wh, enum ft_msg_type t)
{
	static const char *const keys[MSG__COUNT] = {
		[MSG_STATUS] = "webhookstatus",
		[MSG_WARNING] = "webhookstatus",
		[MSG_EXCEPTION] = "webhookstatus",
		[MSG_STARTUP] = "webhookstatus",
		[MSG_ENTRY] = "webhookentry",
		[MSG_ENTRY_FILL] = "webhookentryfill",
		[MSG_ENTRY_CANCEL] = "webhookentrycancel",
		[MSG_EXIT] = "webhookexit",
		[MSG_EXIT_FILL] = "webhookexitfill",
		[MSG_EXIT_CANCEL] = "webhookexitcancel",
	};
	return keys[t] ? jget(wh, keys[t]) : NULL;
}

/* _get_value_dict: an explicit key wins, then the legacy one. */
static const cJSON *value_dict(const cJSON *wh, enum ft_msg_type t)
{
	const cJSON *v = jget(wh, msg_type_name(t));
	return v ? v : legacy(wh, t);
}

static const char *py_type(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "dict";
	if (cJSON_IsArray(v))
		return "list";
	if (cJSON_IsBool(v))
		return "bool";
	if (cJSON_IsNull(v))
		return "NoneType";
	if (cJSON_IsNumber(v))
		return v->valuedouble == (double)(long long)v->valuedouble
		               ? "int"
		               : "float";
	return "str";
}

static void log_problem(int rc, const char *err)
{
	static const char where[] =
		"Traceback (most recent call last):\n"
		"  File \"freqtrade/rpc/webhook.py\", line 69, in send_msg\n";
	char tb[800];
	if (rc == FMT_KEYERROR) {
		snprintf(tb, sizeof(tb),
			 "%s    payload = {key: value.format(**msg) for (key, "
			 "value) in valuedict.items()}\nKeyError: %s",
			 where, err);
		ftlog_exc(FTL_ERROR, LOG_WH, tb,
		          "Problem calling Webhook. Please check your webhook "
		          "configuration. Exception: %s",
		          err);
		return;
	}
	snprintf(tb, sizeof(tb), "%s%s", where, err);
	ftlog_exc(FTL_ERROR, LOG_RPC, tb,
	          "Exception occurred within RPC module webhook");
}

/* Render every value of the template; the result is a JSON object of
 * strings (key order kept). NULL after logging the problem. */
static cJSON *render(const cJSON *dict, const struct ft_msg *m)
{
	cJSON *out = cJSON_CreateObject();
	char err[300];
	const cJSON *e;
	cJSON_ArrayForEach (e, dict) {
		if (!cJSON_IsString(e)) {
			snprintf(err, sizeof(err),
			         "AttributeError: '%s' object has no "
			         "attribute 'format'",
			         py_type(e));
			log_problem(FMT_ERROR, err);
			cJSON_Delete(out);
			return NULL;
		}
		struct lc_buf b;
		lc_buf_init(&b, MAX_BODY);
		int rc = fmt_render(&b, e->valuestring, m->f, m->n, err,
		                    sizeof(err));
		if (rc == FMT_NOMEM)
			snprintf(err, sizeof(err), "MemoryError: too long");
		if (rc != FMT_OK) {
			lc_buf_release(&b);
			log_problem(rc, err);
			cJSON_Delete(out);
			return NULL;
		}
		cJSON_AddStringToObject(out, e->string, b.data ? b.data : "");
		lc_buf_release(&b);
	}
	return out;
}

/* ---- bodies ---- */

/* json.dumps(payload) as requests sends it: ", " and ": " separators,
 * non-ASCII escaped (ensure_ascii). */
static int py_json_str(struct lc_buf *b, const char *s)
{
	int rc = lc_buf_append_str(b, "\"");
	const unsigned char *p = (const unsigned char *)s;
	while (*p && rc == 0) {
		size_t l = lc_buf_utf8_len(p);
		if (l > 1) {
			uint32_t c = l == 2   ? (p[0] & 0x1Fu)
			             : l == 3 ? (p[0] & 0x0Fu)
			                      : (p[0] & 0x07u);
			for (size_t i = 1; i < l; i++)
				c = (c << 6) | (p[i] & 0x3Fu);
			if (c >= 0x10000) {
				c -= 0x10000;
				rc = lc_buf_printf(b, "\\u%04x\\u%04x",
				                   0xD800 + (c >> 10),
				                   0xDC00 + (c & 0x3FF));
			} else {
				rc = lc_buf_printf(b, "\\u%04x", c);
			}
			p += l;
			continue;
		}
		unsigned char c = *p++;
		if (l == 0)
			rc = lc_buf_append_str(b, "\\ufffd");
		else if (c == '"' || c == '\\')
			rc = lc_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			rc = lc_buf_append_str(b, "\\n");
		else if (c == '\r')
			rc = lc_buf_append_str(b, "\\r");
		else if (c == '\t')
			rc = lc_buf_append_str(b, "\\t");
		else if (c == '\b')
			rc = lc_buf_append_str(b, "\\b");
		else if (c == '\f')
			rc = lc_buf_append_str(b, "\\f");
		else if (c < 0x20)
			rc = lc_buf_printf(b, "\\u%04x", c);
		else
			rc = lc_buf_append(b, &c, 1);
	}
	return rc ? rc : lc_buf_append_str(b, "\"");
}

static int body_json(struct lc_buf *b, const cJSON *payload)
{
	int rc = lc_buf_append_str(b, "{");
	for (const cJSON *e = payload->child; e && rc == 0; e = e->next) {
		rc = e == payload->child ? 0 : lc_buf_append_str(b, ", ");
		rc = rc ? rc : py_json_str(b, e->string);
		rc = rc ? rc : lc_buf_append_str(b, ": ");
		rc = rc ? rc : py_json_str(b, e->valuestring);
	}
	return rc ? rc : lc_buf_append_str(b, "}");
}

/* urllib's quote_plus */
static int quote_plus(struct lc_buf *b, const char *s)
{
	int rc = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && !rc;
	     p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("_.-~", *p))
			rc = lc_buf_append(b, p, 1);
		else if (*p == ' ')
			rc = lc_buf_append_str(b, "+");
		else
			rc = lc_buf_printf(b, "%%%02X", *p);
	}
	return rc;
}

static int body_form(struct lc_buf *b, const cJSON *payload)
{
	int rc = 0;
	for (const cJSON *e = payload->child; e && rc == 0; e = e->next) {
		rc = e == payload->child ? 0 : lc_buf_append_str(b, "&");
		rc = rc ? rc : quote_plus(b, e->string);
		rc = rc ? rc : lc_buf_append_str(b, "=");
		rc = rc ? rc : quote_plus(b, e->valuestring);
	}
	return rc;
}

/* The body for the configured format; -1 after logging a problem. */
static int make_body(struct ft_wh *w, const cJSON *payload)
{
	const char *f = w->app->cfg.wh.format;
	struct lc_buf b;
	int rc;
	lc_buf_init(&b, MAX_BODY);
	if (strcmp(f, "raw") == 0) {
		const cJSON *d = jget(payload, "data");
		if (!d) {
			lc_buf_release(&b);
			log_problem(FMT_KEYERROR, "'data'");
			return -1;
		}
		rc = lc_buf_append_str(&b, d->valuestring);
		w->ctype = "Content-Type: text/plain";
	} else if (strcmp(f, "json") == 0) {
		rc = body_json(&b, payload);
		w->ctype = "Content-Type: application/json";
	} else {
		rc = body_form(&b, payload);
		w->ctype = "Content-Type: application/x-www-form-urlencoded";
	}
	if (rc != 0) {
		lc_buf_release(&b);
		log_problem(FMT_ERROR, "MemoryError: webhook body too long");
		return -1;
	}
	w->body = lc_buf_detach(&b, &w->len);
	return w->body ? 0 : -1;
}

/* ---- sending ---- */

static void post(struct ft_wh *w);

static void finish(struct ft_wh *w)
{
	void (*done)(struct ft_app *) = w->done;
	free(w->body);
	w->body = NULL;
	w->req = NULL;
	w->done = NULL;
	if (done)
		done(w->app);
}

static const char *reason(long code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

/* host, port and path of the url, for requests-like messages */
static void url_parts(const char *url, char *host, int *port, char *path)
{
	const char *p = strstr(url, "://");
	bool tls = strncmp(url, "https", 5) == 0;
	p = p ? p + 3 : url;
	size_t hl = strcspn(p, ":/?");
	snprintf(host, 256, "%.*s", (int)hl, p);
	*port = tls ? 443 : 80;
	p += hl;
	if (*p == ':') {
		*port = (int)strtol(p + 1, NULL, 10);
		p += strcspn(p, "/?");
	}
	snprintf(path, 1024, "%s", *p ? p : "/");
}

static void describe_error(const struct lc_curl_response *res, const char *url,
                           char *out, size_t n)
{
	char host[256], path[1024];
	int port;
	url_parts(url, host, &port, path);
	if (res->timed_out)
		snprintf(out, n,
		         "HTTPConnectionPool(host='%s', port=%d): Read timed "
		         "out. (read timeout=%g)",
		         host, port, 0.0 + (double)res->elapsed_ms / 1000);
	else
		snprintf(out, n,
		         "HTTPConnectionPool(host='%s', port=%d): Max retries "
		         "exceeded with url: %s (Caused by "
		         "NewConnectionError('Failed to establish a new "
		         "connection: %s'))",
		         host, port, path, res->error);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_wh *w = arg;
	ftlog(FTL_INFO, LOG_WH, "Retrying webhook...");
	post(w);
}

static void failed(struct ft_wh *w, const char *why)
{
	ftlog(FTL_WARNING, LOG_WH, "Could not call webhook url. Exception: %s",
	      why);
	const struct ft_webhook_cfg *c = &w->app->cfg.wh;
	if (w->attempt > c->retries) {
		finish(w);
		return;
	}
	struct timeval tv;
	lc_clock_tv(&tv, (int64_t)(c->retry_delay * 1000));
	if (!w->delay)
		w->delay = evtimer_new(w->app->base, on_delay, w);
	if (!w->delay || evtimer_add(w->delay, &tv) != 0)
		finish(w);
}

static void on_response(const struct lc_curl_response *res, void *arg)
{
	struct ft_wh *w = arg;
	const char *url = w->app->cfg.wh.url;
	char why[1600];
	w->req = NULL;
	if (res->error) {
		describe_error(res, url, why, sizeof(why));
		failed(w, why);
	} else if (res->status >= 400) {
		snprintf(why, sizeof(why), "%ld %s Error: %s for url: %s",
		         res->status, res->status >= 500 ? "Server" : "Client",
		         reason(res->status), url);
		failed(w, why);
	} else {
		finish(w);
	}
}

static void post(struct ft_wh *w)
{
	const struct ft_webhook_cfg *c = &w->app->cfg.wh;
	const char *hdrs[] = { w->ctype, "User-Agent: python-requests/2.32.3",
		               "Accept: */*", NULL };
	struct lc_curl_opts o = {
		.method = "POST",
		.url = c->url,
		.headers = hdrs,
		.body = w->body,
		.body_len = w->len,
		.timeout_ms = (int64_t)(c->timeout * 1000),
		.connect_timeout_ms = (int64_t)(c->timeout * 1000),
	};
	w->attempt++;
	w->req = w->app->curl ? lc_curl_start(w->app->curl, &o, on_response, w)
	                      : NULL;
	if (!w->req)
		failed(w, "could not start the request");
}

static struct ft_wh *wh_get(struct ft_app *app)
{
	if (!app->wh) {
		app->wh = calloc(1, sizeof(*app->wh));
		if (app->wh)
			app->wh->app = app;
	}
	return app->wh;
}

void webhook_send(struct ft_app *app, const struct ft_msg *m,
                  void (*done)(struct ft_app *app))
{
	const struct ft_webhook_cfg *c = &app->cfg.wh;
	struct ft_wh *w = wh_get(app);
	const cJSON *dict = c->enabled ? value_dict(c->node, m->type) : NULL;
	if (!w || !dict || (m->type == MSG_STRATEGY_MSG && !c->allow_custom)) {
		done(app);
		return;
	}
	cJSON *payload = render(dict, m);
	if (!payload || make_body(w, payload) != 0) {
		cJSON_Delete(payload);
		done(app);
		return;
	}
	cJSON_Delete(payload);
	w->done = done;
	w->attempt = 0;
	post(w);
}

void webhook_abort(struct ft_app *app)
{
	struct ft_wh *w = app->wh;
	if (!w)
		return;
	if (w->req)
		lc_curl_cancel(w->req);
	if (w->delay)
		event_free(w->delay);
	free(w->body);
	free(w);
	app->wh = NULL;
}
