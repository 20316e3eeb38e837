/* Admin HTTP port: /healthz, /readyz, /metrics on the daemon's loop. */
#include "libcommon/admin.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "libcommon/buf.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"

#define JSON_MAX (64u << 10)     /* a JSON reply never needs more */
#define PATH_SHOWN 128           /* bytes of an unknown path echoed back */
#define CONTENT_JSON "application/json"
#define CONTENT_PROM "text/plain; version=0.0.4; charset=utf-8"

struct check {
	char *name;                 /* owned */
	lc_admin_check_fn fn;
	void *arg;                  /* borrowed */
	bool ok;                    /* result of the last run */
	char detail[LC_ADMIN_DETAIL_LEN]; /* reason of the last failure */
};

struct lc_admin {
	struct evhttp *http;        /* owned; owns the listener and conns */
	struct lc_metrics *reg;     /* borrowed, or owned when own_reg */
	bool own_reg;
	char *service;              /* owned */
	char *version;              /* owned */
	int port;                   /* bound port */
	int64_t start_ms;           /* monotonic, for uptime_s */
	struct check checks[LC_ADMIN_MAX_CHECKS];
	size_t nchecks;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- replies: each handler ends in exactly one of these ---- */

/* Send body (may be NULL for a bodiless 500) with code and content type.
 * The body's bytes are copied; the caller still releases it. */
static void reply(struct evhttp_request *req, int code, const char *ctype,
		  const struct lc_buf *body)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (!body ||
	    (body->len && evbuffer_add(out, body->data, body->len) != 0)) {
		evbuffer_drain(out, evbuffer_get_length(out));
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, NULL, NULL);
}

/* {"error":kind,"detail":"<prefix><what, cut to PATH_SHOWN><suffix>"} */
static void reply_error(struct evhttp_request *req, int code,
			const char *kind, const char *prefix,
			const char *what, const char *suffix)
{
	char detail[PATH_SHOWN + 128];
	snprintf(detail, sizeof(detail), "%s%.*s%s", prefix, PATH_SHOWN, what,
		 suffix);
	struct lc_buf b;
	lc_buf_init(&b, JSON_MAX);
	bool ok = lc_buf_printf(&b, "{\"error\":\"%s\",\"detail\":", kind) ==
			  0 &&
		  lc_buf_append_json_str(&b, detail) == 0 &&
		  lc_buf_append_str(&b, "}") == 0;
	reply(req, code, CONTENT_JSON, ok ? &b : NULL);
	lc_buf_release(&b);
}

/* ---- handlers ---- */

static void do_healthz(struct lc_admin *a, struct evhttp_request *req)
{
	int64_t up = (lc_clock_mono_ms() - a->start_ms) / 1000;
	struct lc_buf b;
	lc_buf_init(&b, JSON_MAX);
	bool ok = lc_buf_append_str(&b, "{\"status\":\"ok\",\"service\":") ==
			  0 &&
		  lc_buf_append_json_str(&b, a->service) == 0 &&
		  lc_buf_append_str(&b, ",\"version\":") == 0 &&
		  lc_buf_append_json_str(&b, a->version) == 0 &&
		  lc_buf_printf(&b, ",\"uptime_s\":%lld}", (long long)up) == 0;
	reply(req, 200, CONTENT_JSON, ok ? &b : NULL);
	lc_buf_release(&b);
}

/* Run one check and log when its outcome changes. */
static void run_check(struct check *c)
{
	char detail[LC_ADMIN_DETAIL_LEN] = "";
	bool ok = c->fn(c->arg, detail, sizeof(detail));
	detail[sizeof(detail) - 1] = '\0';
	if (!ok && detail[0] == '\0')
		snprintf(detail, sizeof(detail), "failed");
	if (ok && !c->ok)
		log_info("admin.check_ok", LF_S("check", c->name));
	else if (!ok && (c->ok || strcmp(detail, c->detail) != 0))
		log_warn("admin.check_failed", LF_S("check", c->name),
			 LF_S("detail", detail));
	c->ok = ok;
	snprintf(c->detail, sizeof(c->detail), "%s", ok ? "" : detail);
}

/* "failed":[..], (only when something failed) then "checks":{..} */
static int readyz_body(struct lc_admin *a, struct lc_buf *b, bool ready)
{
	if (lc_buf_printf(b, "{\"status\":\"%s\",",
			  ready ? "ready" : "unready") != 0)
		return -1;
	if (!ready) {
		const char *sep = "\"failed\":[";
		for (size_t i = 0; i < a->nchecks; i++) {
			if (a->checks[i].ok)
				continue;
			if (lc_buf_append_str(b, sep) != 0 ||
			    lc_buf_append_json_str(b, a->checks[i].name) != 0)
				return -1;
			sep = ",";
		}
		if (lc_buf_append_str(b, "],") != 0)
			return -1;
	}
	if (lc_buf_append_str(b, "\"checks\":{") != 0)
		return -1;
	for (size_t i = 0; i < a->nchecks; i++) {
		const struct check *c = &a->checks[i];
		if ((i && lc_buf_append_str(b, ",") != 0) ||
		    lc_buf_append_json_str(b, c->name) != 0 ||
		    lc_buf_append_str(b, ":") != 0 ||
		    lc_buf_append_json_str(b, c->ok ? "ok" : c->detail) != 0)
			return -1;
	}
	return lc_buf_append_str(b, "}}");
}

static void do_readyz(struct lc_admin *a, struct evhttp_request *req)
{
	bool ready = true;
	for (size_t i = 0; i < a->nchecks; i++) {
		run_check(&a->checks[i]);
		ready = ready && a->checks[i].ok;
	}
	struct lc_buf b;
	lc_buf_init(&b, JSON_MAX);
	int rv = readyz_body(a, &b, ready);
	reply(req, ready ? 200 : 503, CONTENT_JSON, rv == 0 ? &b : NULL);
	lc_buf_release(&b);
}

static void do_metrics(struct lc_admin *a, struct evhttp_request *req)
{
	struct lc_buf b;
	lc_buf_init(&b, LC_ADMIN_METRICS_MAX);
	if (lc_metrics_render(a->reg, &b) != 0) {
		log_error("admin.metrics_too_big",
			  LF_I("max_bytes", LC_ADMIN_METRICS_MAX));
		reply_error(req, 500, "internal",
			    "metrics do not fit the reply limit", "", "");
	} else {
		reply(req, 200, CONTENT_PROM, &b);
	}
	lc_buf_release(&b);
}

/* The one request callback: route on the path, then the method. */
static void handle(struct evhttp_request *req, void *arg)
{
	struct lc_admin *a = arg;
	static const struct {
		const char *path;
		void (*fn)(struct lc_admin *, struct evhttp_request *);
	} routes[] = {
		{ "/healthz", do_healthz },
		{ "/readyz", do_readyz },
		{ "/metrics", do_metrics },
	};
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path)
		path = "";
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
		if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
			routes[i].fn(a, req);
			return;
		}
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "GET, HEAD");
		reply_error(req, 405, "method_not_allowed", "'", path,
			    "' allows GET and HEAD only");
		return;
	}
	reply_error(req, 404, "not_found", "no such path '", path, "'");
}

/* ---- process metrics: read at scrape time, no pointer to the server ---- */

/* Read a small /proc file into buf (NUL-terminated); false on error. */
static bool read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t got = read(fd, buf, n - 1);
	close(fd);
	if (got <= 0)
		return false;
	buf[got] = '\0';
	return true;
}

/* Field i (0-based) of /proc/self/statm, in bytes. */
static bool statm_bytes(int i, double *out)
{
	char buf[256];
	if (!read_small("/proc/self/statm", buf, sizeof(buf)))
		return false;
	char *p = buf, *end;
	unsigned long long pages = 0;
	for (int k = 0; k <= i; k++) {
		errno = 0;
		pages = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			return false;
		p = end;
	}
	*out = (double)pages * (double)sysconf(_SC_PAGESIZE);
	return true;
}

static bool read_rss(void *arg, double *out)
{
	(void)arg;
	return statm_bytes(1, out);
}

static bool read_vsize(void *arg, double *out)
{
	(void)arg;
	return statm_bytes(0, out);
}

static bool read_cpu(void *arg, double *out)
{
	(void)arg;
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return false;
	*out = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) /
		       1e6;
	return true;
}

static bool read_open_fds(void *arg, double *out)
{
	(void)arg;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return false;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	*out = (double)(n - 1); /* not the descriptor opendir used */
	return true;
}

static bool read_max_fds(void *arg, double *out)
{
	(void)arg;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return false;
	*out = rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
	return true;
}

/* When the process started, in Unix seconds: boot time from /proc/stat
 * plus field 22 of /proc/self/stat; the current time if /proc says
 * nothing (close enough: the admin server starts with the process). */
static double start_time(void)
{
	double now = (double)lc_clock_wall_ms() / 1000;
	char buf[1024];
	if (!read_small("/proc/self/stat", buf, sizeof(buf)))
		return now;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return now;
	p++;
	unsigned long long ticks = 0;
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		char *end;
		ticks = strtoull(p, &end, 10);
		if (field == 3)
			end = p + 1; /* the state letter */
		else if (end == p)
			return now;
		p = end;
	}
	char stat[8192];
	if (!read_small("/proc/stat", stat, sizeof(stat)))
		return now;
	char *bt = strstr(stat, "\nbtime ");
	if (!bt)
		return now;
	unsigned long long boot = strtoull(bt + 7, NULL, 10);
	long hz = sysconf(_SC_CLK_TCK);
	if (boot == 0 || hz <= 0)
		return now;
	return (double)boot + (double)ticks / (double)hz;
}

static int add_process_metrics(struct lc_admin *a, char *err, size_t errlen)
{
	static const struct {
		enum lc_metric_type type;
		const char *name;
		const char *help;
		lc_metrics_read_fn fn;
	} cbs[] = {
		{ LC_METRIC_COUNTER, "process_cpu_seconds_total",
		  "Total user and system CPU time spent in seconds.",
		  read_cpu },
		{ LC_METRIC_GAUGE, "process_resident_memory_bytes",
		  "Resident memory size in bytes.", read_rss },
		{ LC_METRIC_GAUGE, "process_virtual_memory_bytes",
		  "Virtual memory size in bytes.", read_vsize },
		{ LC_METRIC_GAUGE, "process_open_fds",
		  "Number of open file descriptors.", read_open_fds },
		{ LC_METRIC_GAUGE, "process_max_fds",
		  "Maximum number of open file descriptors.", read_max_fds },
	};
	struct lc_metric *m = lc_metrics_gauge(
		a->reg, "process_start_time_seconds",
		"Start time of the process since unix epoch in seconds.", NULL,
		err, errlen);
	if (!m)
		return -1;
	lc_series_set(lc_metric_series(m), start_time());
	for (size_t i = 0; i < sizeof(cbs) / sizeof(cbs[0]); i++)
		if (lc_metrics_callback(a->reg, cbs[i].type, cbs[i].name,
					cbs[i].help, cbs[i].fn, NULL, err,
					errlen) != 0)
			return -1;
	m = lc_metrics_gauge(a->reg, "btcw_build_info",
			     "Service and version of this build; always 1.",
			     LC_LABELS("service", "version"), err, errlen);
	if (!m)
		return -1;
	lc_series_set(lc_metric_series(m, a->service, a->version), 1);
	return 0;
}

/* ---- life cycle ---- */

/* Bind and learn the port; addr must be numeric. */
static int listen_on(struct lc_admin *a, const char *addr, int port,
		     char *err, size_t errlen)
{
	unsigned char tmp[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, addr, tmp) != 1 &&
	    inet_pton(AF_INET6, addr, tmp) != 1) {
		set_err(err, errlen,
			"admin address '%s' is not a numeric IPv4 or IPv6 "
			"address",
			addr);
		return -1;
	}
	struct evhttp_bound_socket *bs =
		evhttp_bind_socket_with_handle(a->http, addr, (uint16_t)port);
	if (!bs) {
		set_err(err, errlen, "cannot listen on '%s' port %d: %s",
			addr, port, strerror(errno));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
			&len) != 0) {
		set_err(err, errlen, "cannot read the admin port: %s",
			strerror(errno));
		return -1;
	}
	a->port = ss.ss_family == AF_INET6
			  ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
			  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* evhttp knows nothing of our limits unless told: every method reaches
 * handle() (so a wrong one gets our JSON 405), headers and bodies are
 * small, and an idle client is dropped. */
static int http_setup(struct lc_admin *a, struct event_base *base)
{
	a->http = evhttp_new(base);
	if (!a->http)
		return -1;
	evhttp_set_allowed_methods(
		a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
				 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
				 EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(a->http, 8192);
	evhttp_set_max_body_size(a->http, 64 * 1024);
	evhttp_set_timeout(a->http, 30);
	evhttp_set_gencb(a->http, handle, a);
	return 0;
}

struct lc_admin *lc_admin_new(struct event_base *base, const char *service,
			      const char *version, const char *addr, int port,
			      struct lc_metrics *reg, char *err, size_t errlen)
{
	if (!base || !service || !version || port < 0 || port > 65535) {
		set_err(err, errlen,
			"admin server needs a loop, a service name, a version "
			"and a port in 0..65535");
		return NULL;
	}
	if (!addr || !*addr)
		addr = "127.0.0.1";
	struct lc_admin *a = calloc(1, sizeof(*a));
	if (!a)
		goto nomem;
	a->start_ms = lc_clock_mono_ms();
	a->service = strdup(service);
	a->version = strdup(version);
	a->reg = reg ? reg : lc_metrics_new();
	a->own_reg = !reg;
	if (!a->service || !a->version || !a->reg)
		goto nomem;
	if (http_setup(a, base) != 0)
		goto nomem;
	/* listen first: a busy port must not leave process metrics behind
	 * in a borrowed registry (they cannot be unregistered) */
	if (listen_on(a, addr, port, err, errlen) != 0 ||
	    add_process_metrics(a, err, errlen) != 0)
		goto fail;
	log_info("admin.listening", LF_S("addr", addr), LF_I("port", a->port));
	return a;
nomem:
	set_err(err, errlen, "out of memory starting the admin server");
fail:
	lc_admin_free(a);
	return NULL;
}

int lc_admin_add_check(struct lc_admin *a, const char *name,
		       lc_admin_check_fn fn, void *arg, char *err,
		       size_t errlen)
{
	if (!name || !*name || !fn) {
		set_err(err, errlen, "a check needs a name and a function");
		return -1;
	}
	for (size_t i = 0; i < a->nchecks; i++) {
		if (strcmp(a->checks[i].name, name) == 0) {
			set_err(err, errlen, "check '%s' is already added",
				name);
			return -1;
		}
	}
	if (a->nchecks == LC_ADMIN_MAX_CHECKS) {
		set_err(err, errlen,
			"cannot add check '%s': at most %d checks", name,
			LC_ADMIN_MAX_CHECKS);
		return -1;
	}
	struct check *c = &a->checks[a->nchecks];
	c->name = strdup(name);
	if (!c->name) {
		set_err(err, errlen, "out of memory adding check '%s'", name);
		return -1;
	}
	c->fn = fn;
	c->arg = arg;
	c->ok = true; /* so that a first failure is logged */
	c->detail[0] = '\0';
	a->nchecks++;
	return 0;
}

int lc_admin_port(const struct lc_admin *a)
{
	return a->port;
}

struct lc_metrics *lc_admin_metrics(const struct lc_admin *a)
{
	return a->reg;
}

void lc_admin_free(struct lc_admin *a)
{
	if (!a)
		return;
	if (a->http)
		evhttp_free(a->http);
	for (size_t i = 0; i < a->nchecks; i++)
		free(a->checks[i].name);
	if (a->own_reg)
		lc_metrics_free(a->reg);
	free(a->service);
	free(a->version);
	free(a);
}
