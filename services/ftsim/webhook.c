/*
 * webhook: FreqTrade's rpc/webhook.py. The message type's template (or
 * its legacy key) is rendered with Python str.format semantics (fmt.c),
 * every value a string, and POSTed as form, json or raw with the
 * configured retries, retry_delay and timeout. Failures are logged and
 * the message is dropped, as FreqTrade does; a template with an unknown
 * placeholder logs "Problem calling Webhook..." and sends nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "libcommon/clock.h"
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
	/* the URL, parsed at each attempt (the config may have changed) */
	bool tls;
	char host[256];
	int port;
	char path[1024];
	char *auth; /* "Basic …" from user:password@ in the URL */
	/* the attempt */
	struct evutil_addrinfo *ai, *next_ai; /* resolved; next to try */
	struct evdns_base *dns;               /* made when first needed */
	struct evdns_getaddrinfo_request *dns_req;
	struct wh_dns *dns_token;
	struct evhttp_connection *evcon;
	struct evhttp_request *req;
	int req_error; /* evhttp_request_error + 1; 0: none */
	int64_t t0;    /* when the connection began (monotonic ms) */
	struct evhttp_connection *dead; /* freed by reap */
	struct event *reap, *delay;
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
		w->ctype = "text/plain";
	} else if (strcmp(f, "json") == 0) {
		rc = body_json(&b, payload);
		w->ctype = "application/json";
	} else {
		rc = body_form(&b, payload);
		w->ctype = "application/x-www-form-urlencoded";
	}
	if (rc != 0) {
		lc_buf_release(&b);
		log_problem(FMT_ERROR, "MemoryError: webhook body too long");
		return -1;
	}
	w->body = lc_buf_detach(&b, &w->len);
	return w->body ? 0 : -1;
}

/* ---- sending ----
 *
 * As requests.post does it: one new connection per attempt (the host
 * resolved first, each address tried in turn), Host, User-Agent,
 * Accept-Encoding, Accept, Connection, Content-Length and Content-Type
 * headers, user:password in the URL as Basic auth, `timeout` both to
 * connect and between reads. libevent's HTTP client rather than libcurl:
 * curl's dependency tree (OpenSSL, krb5, ldap, ssh, …) costs each
 * instance ~6 MB of RSS (bench/ftsim); https loads OpenSSL on first use
 * (tls.c). */

struct wh_dns { /* outlives an abort: the resolver's callback frees it */
	struct ft_wh *w;
};

static void post(struct ft_wh *w);
static void try_address(struct ft_wh *w);

static void forget_addresses(struct ft_wh *w)
{
	if (w->ai) /* libevent's free does not take NULL */
		evutil_freeaddrinfo(w->ai);
	w->ai = w->next_ai = NULL;
}

static void finish(struct ft_wh *w)
{
	void (*done)(struct ft_app *) = w->done;
	forget_addresses(w);
	free(w->body);
	w->body = NULL;
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
	forget_addresses(w);
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

/* urllib3's "HTTPConnectionPool(host='h', port=p)" */
static void pool(const struct ft_wh *w, char *out, size_t n)
{
	snprintf(out, n, "%sConnectionPool(host='%s', port=%d)",
	         w->tls ? "HTTPS" : "HTTP", w->host, w->port);
}

/* A connection's callbacks may not free it: this does, from the loop. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_wh *w = arg;
	if (w->dead)
		evhttp_connection_free(w->dead);
	w->dead = NULL;
}

static void retire_connection(struct ft_wh *w)
{
	if (!w->evcon)
		return;
	if (w->dead) /* its callbacks are over: we are in another's */
		evhttp_connection_free(w->dead);
	w->dead = w->evcon;
	w->evcon = NULL;
	if (!w->reap)
		w->reap = event_new(w->app->base, -1, 0, on_reap, w);
	if (w->reap)
		event_active(w->reap, 0, 0);
}

static void on_req_error(enum evhttp_request_error e, void *arg)
{
	struct ft_wh *w = arg;
	w->req_error = (int)e + 1;
}

/* The socket errors worth naming (errno may hold anything else). */
static int known_errno(int e)
{
	return e == ECONNREFUSED || e == ETIMEDOUT || e == EHOSTUNREACH ||
	                       e == ENETUNREACH || e == ECONNRESET
	               ? e
	               : 0;
}

/* Why the connection could not be made, as urllib3 words it. */
static void connect_error(struct ft_wh *w, int err, char *why, size_t n)
{
	char p[400];
	int64_t spent = lc_clock_mono_ms() - w->t0;
	bool slow = spent >= (int64_t)(w->app->cfg.wh.timeout * 1000);
	if (!err) /* unknown: a refusal, unless the timeout passed */
		err = slow ? ETIMEDOUT : ECONNREFUSED;
	pool(w, p, sizeof(p));
	if (err == ETIMEDOUT)
		snprintf(why, n,
		         "%s: Max retries exceeded with url: %s (Caused by "
		         "ConnectTimeoutError(<urllib3.connection.HTTP%s"
		         "Connection object>, 'Connection to %s timed out. "
		         "(connect timeout=%g)'))",
		         p, w->path, w->tls ? "S" : "", w->host,
		         w->app->cfg.wh.timeout);
	else
		snprintf(why, n,
		         "%s: Max retries exceeded with url: %s (Caused by "
		         "NewConnectionError('<urllib3.connection.HTTP%s"
		         "Connection object>: Failed to establish a new "
		         "connection: [Errno %d] %s'))",
		         p, w->path, w->tls ? "S" : "", err, strerror(err));
}

static void on_response(struct evhttp_request *req, void *arg)
{
	struct ft_wh *w = arg;
	/* the socket's error, before anything else can change errno */
	int err = errno;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	char why[4096], p[400], tls[256];
	w->req = NULL;
	if (w->req_error == 0 && code == 0 && w->next_ai) {
		retire_connection(w); /* the next address, as urllib3 */
		try_address(w);
		return;
	}
	pool(w, p, sizeof(p));
	if (w->tls && (w->req_error || code == 0) &&
	    tls_error(evhttp_connection_get_bufferevent(w->evcon), tls,
	              sizeof(tls)))
		snprintf(why, sizeof(why),
		         "%s: Max retries exceeded with url: %s (Caused by "
		         "SSLError(SSLError(1, '%s')))",
		         p, w->path, tls);
	else if (w->req_error == EVREQ_HTTP_TIMEOUT + 1)
		snprintf(why, sizeof(why),
		         "%s: Read timed out. (read timeout=%g)", p,
		         w->app->cfg.wh.timeout);
	else if (w->req_error == EVREQ_HTTP_EOF + 1)
		snprintf(why, sizeof(why),
		         "('Connection aborted.', RemoteDisconnected('Remote "
		         "end closed connection without response'))");
	else if (w->req_error)
		snprintf(why, sizeof(why),
		         "('Connection aborted.', BadStatusLine('invalid or "
		         "too long answer'))");
	else if (code == 0)
		connect_error(w, known_errno(err), why, sizeof(why));
	else if (code >= 400)
		snprintf(why, sizeof(why), "%d %s Error: %s for url: %s", code,
		         code >= 500 ? "Server" : "Client", reason(code),
		         w->app->cfg.wh.url);
	retire_connection(w);
	if (code == 0 || code >= 400 || w->req_error)
		failed(w, why);
	else
		finish(w);
}

/* Connect to the next resolved address and send the request. */
static void try_address(struct ft_wh *w)
{
	struct evutil_addrinfo *ai = w->next_ai;
	char ip[INET6_ADDRSTRLEN] = "", hostport[300], len[24], err[300];
	w->next_ai = ai->ai_next;
	const void *a =
	        ai->ai_family == AF_INET6
	                ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)
	                          ->sin6_addr
	                : (const void *)&((struct sockaddr_in *)ai->ai_addr)
	                          ->sin_addr;
	evutil_inet_ntop(ai->ai_family, a, ip, sizeof(ip));
	struct bufferevent *bev = NULL;
	if (w->tls && !(bev = tls_bufferevent(w->app->base, w->host, err,
	                                      sizeof(err)))) {
		failed(w, err);
		return;
	}
	w->evcon = bev ? evhttp_connection_base_bufferevent_new(
	                         w->app->base, NULL, bev, ip,
	                         (ev_uint16_t)w->port)
	               : evhttp_connection_base_new(w->app->base, NULL, ip,
	                                            (ev_uint16_t)w->port);
	struct evhttp_request *req =
	        w->evcon ? evhttp_request_new(on_response, w) : NULL;
	if (!req) {
		if (bev && !w->evcon)
			bufferevent_free(bev);
		retire_connection(w);
		failed(w, "MemoryError: cannot start the request");
		return;
	}
	struct timeval tv;
	lc_clock_tv(&tv, (int64_t)(w->app->cfg.wh.timeout * 1000));
	evhttp_connection_set_timeout_tv(w->evcon, &tv);
	evhttp_connection_set_retries(w->evcon, 0);
	evhttp_connection_set_max_body_size(w->evcon, MAX_BODY);
	evhttp_request_set_error_cb(req, on_req_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	bool v6 = strchr(w->host, ':') != NULL;
	if (w->port == (w->tls ? 443 : 80))
		snprintf(hostport, sizeof(hostport), v6 ? "[%s]" : "%s",
		         w->host);
	else
		snprintf(hostport, sizeof(hostport), v6 ? "[%s]:%d" : "%s:%d",
		         w->host, w->port);
	snprintf(len, sizeof(len), "%zu", w->len);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "User-Agent", "python-requests/2.32.3");
	evhttp_add_header(h, "Accept-Encoding", "gzip, deflate");
	evhttp_add_header(h, "Accept", "*/*");
	evhttp_add_header(h, "Connection", "keep-alive");
	evhttp_add_header(h, "Content-Length", len);
	evhttp_add_header(h, "Content-Type", w->ctype);
	if (w->auth)
		evhttp_add_header(h, "Authorization", w->auth);
	evbuffer_add(evhttp_request_get_output_buffer(req), w->body, w->len);
	w->req_error = 0;
	w->t0 = lc_clock_mono_ms();
	w->req = req;
	errno = 0;
	if (evhttp_make_request(w->evcon, req, EVHTTP_REQ_POST, w->path) !=
	    0) {
		w->req = NULL; /* libevent has dropped it */
		retire_connection(w);
		failed(w, "cannot start the request");
	}
}

static void on_resolved(int rc, struct evutil_addrinfo *res, void *arg)
{
	struct wh_dns *d = arg;
	struct ft_wh *w = d->w;
	free(d);
	if (!w) { /* aborted meanwhile */
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	w->dns_req = NULL;
	w->dns_token = NULL;
	if (rc != 0 || !res) {
		char why[4096], p[400];
		pool(w, p, sizeof(p));
		snprintf(why, sizeof(why),
		         "%s: Max retries exceeded with url: %s (Caused by "
		         "NameResolutionError(\"<urllib3.connection.HTTP%s"
		         "Connection object>: Failed to resolve '%s' ([Errno "
		         "-2] Name or service not known)\"))",
		         p, w->path, w->tls ? "S" : "", w->host);
		if (res)
			evutil_freeaddrinfo(res);
		failed(w, why);
		return;
	}
	w->ai = w->next_ai = res;
	try_address(w);
}

/* Split the URL (requests' error when it cannot be used); 0 or -1. */
static int parse_url(struct ft_wh *w, char *why, size_t n)
{
	const char *url = w->app->cfg.wh.url;
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u ? evhttp_uri_get_host(u) : NULL;
	int rc = -1;
	if (!scheme) {
		snprintf(why, n, "Invalid URL '%s': No scheme supplied. "
		         "Perhaps you meant https://%s?", url, url);
	} else if (strcasecmp(scheme, "http") != 0 &&
	           strcasecmp(scheme, "https") != 0) {
		snprintf(why, n, "No connection adapters were found for '%s'",
		         url);
	} else if (!host || !*host) {
		snprintf(why, n, "Invalid URL '%s': No host supplied", url);
	} else {
		w->tls = strcasecmp(scheme, "https") == 0;
		/* libevent keeps the brackets of an IPv6 literal */
		size_t hl = strlen(host);
		if (host[0] == '[' && hl > 2)
			snprintf(w->host, sizeof(w->host), "%.*s",
			         (int)(hl - 2), host + 1);
		else
			snprintf(w->host, sizeof(w->host), "%s", host);
		int port = evhttp_uri_get_port(u);
		w->port = port > 0 ? port : (w->tls ? 443 : 80);
		const char *path = evhttp_uri_get_path(u);
		const char *q = evhttp_uri_get_query(u);
		snprintf(w->path, sizeof(w->path), "%s%s%s",
		         path && *path ? path : "/", q ? "?" : "", q ? q : "");
		rc = 0;
		const char *ui = evhttp_uri_get_userinfo(u);
		free(w->auth);
		w->auth = NULL;
		if (ui) { /* requests: unquoted user:password, Basic */
			char *plain = evhttp_uridecode(ui, 0, NULL);
			size_t pl = plain ? strlen(plain) : 0;
			struct base64_encode_ctx e;
			w->auth = plain ? malloc(BASE64_ENCODE_LENGTH(pl) + 16)
			                : NULL;
			if (w->auth) {
				memcpy(w->auth, "Basic ", 6);
				base64_encode_init(&e);
				size_t k = 6 + base64_encode_update(
				                       &e, w->auth + 6, pl,
				                       (const uint8_t *)plain);
				k += base64_encode_final(&e, w->auth + k);
				w->auth[k] = 0;
			}
			free(plain);
		}
	}
	if (u)
		evhttp_uri_free(u);
	return rc;
}

static void post(struct ft_wh *w)
{
	char why[4096];
	w->attempt++;
	if (parse_url(w, why, sizeof(why)) != 0) {
		failed(w, why);
		return;
	}
	/* a numeric host needs no resolver: most webhooks go to an IP */
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC,
		                         .ai_socktype = SOCK_STREAM,
		                         .ai_protocol = IPPROTO_TCP,
		                         .ai_flags = EVUTIL_AI_NUMERICHOST };
	struct evutil_addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%d", w->port);
	if (evutil_getaddrinfo(w->host, port, &hints, &res) == 0 && res) {
		w->ai = w->next_ai = res;
		try_address(w);
		return;
	}
	/* DISABLE_WHEN_INACTIVE: an idle resolver keeps no event */
	int flags = EVDNS_BASE_INITIALIZE_NAMESERVERS |
	            EVDNS_BASE_DISABLE_WHEN_INACTIVE;
	if (!w->dns)
		w->dns = evdns_base_new(w->app->base, flags);
	struct wh_dns *d = w->dns ? calloc(1, sizeof(*d)) : NULL;
	if (!d) {
		failed(w, "cannot start the resolver");
		return;
	}
	d->w = w;
	w->dns_token = d;
	hints.ai_flags = 0;
	/* may call on_resolved before it returns (hosts file) */
	struct evdns_getaddrinfo_request *r = evdns_getaddrinfo(
	        w->dns, w->host, port, &hints, on_resolved, d);
	if (w->dns_token == d)
		w->dns_req = r;
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
	if (w->dns_token) /* its callback comes later and frees it */
		w->dns_token->w = NULL;
	if (w->req)
		evhttp_cancel_request(w->req);
	if (w->evcon)
		evhttp_connection_free(w->evcon);
	if (w->dead)
		evhttp_connection_free(w->dead);
	if (w->dns) /* pending lookups end now, with an error */
		evdns_base_free(w->dns, 1);
	forget_addresses(w);
	if (w->delay)
		event_free(w->delay);
	if (w->reap)
		event_free(w->reap);
	free(w->auth);
	free(w->body);
	free(w);
	app->wh = NULL;
}
