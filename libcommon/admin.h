#ifndef LC_ADMIN_H
#define LC_ADMIN_H
/*
 * The admin HTTP port every daemon serves (libevent evhttp on the daemon's
 * own event_base):
 *
 *   GET /healthz  200 {"status":"ok","service":S,"version":V,"uptime_s":N}
 *                 The process is alive and its loop turns.
 *   GET /readyz   200 {"status":"ready","checks":{"postgres":"ok",...}}
 *                 503 {"status":"unready","failed":["postgres"],
 *                      "checks":{"postgres":"connection refused",...}}
 *                 Runs every registered dependency check, in order.
 *   GET /metrics  200 the registry in the Prometheus text format,
 *                 Content-Type: text/plain; version=0.0.4; charset=utf-8
 *
 * HEAD is answered like GET without a body. Any other path is 404
 * {"error":"not_found","detail":...}; another method on a known path is
 * 405 {"error":"method_not_allowed","detail":...} with an Allow header.
 * Every request ends in exactly one reply, sent before the handler
 * returns: nothing here waits on anything, so the loop never blocks.
 *
 * On start the admin server adds process metrics to the registry:
 * process_start_time_seconds, process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds (read from /proc and getrusage at
 * scrape time) and btcw_build_info{service,version} 1.
 *
 * Threading: all of it runs on the loop thread of the event_base given to
 * lc_admin_new(); no function here may be called from another thread.
 */
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct lc_metrics;
struct lc_admin;

/* Most dependency checks one server holds. */
#define LC_ADMIN_MAX_CHECKS 32
/* Size of the detail buffer a check is given (NUL included). */
#define LC_ADMIN_DETAIL_LEN 256
/* Most bytes a /metrics reply may have; a larger registry answers 500. */
#define LC_ADMIN_METRICS_MAX (16u << 20)

/*
 * A dependency check: true when the dependency is usable. It must not
 * block or do I/O; it reads state the loop already keeps ("is the
 * PostgreSQL connection up?"). On failure it may write a short reason into
 * detail (n bytes, NUL-terminated, starts empty); "failed" is reported if
 * it writes nothing. Success details are not shown (the check reads "ok").
 */
typedef bool (*lc_admin_check_fn)(void *arg, char *detail, size_t n);

/*
 * Bind the admin port and serve it on base.
 *
 * base:    borrowed; must outlive the admin server.
 * service, version: copied; shown by /healthz and in btcw_build_info.
 * addr:    numeric IPv4 or IPv6 address to bind; NULL or "" means
 *          127.0.0.1. (Numeric only, so that start-up never waits on DNS.)
 * port:    0..65535; 0 lets the kernel pick one (see lc_admin_port()).
 * reg:     borrowed registry served by /metrics, which must outlive the
 *          admin server; the built-in process metrics are added to it and
 *          stay there after lc_admin_free() (they keep no pointer to the
 *          server). NULL makes the server create and own a registry of its
 *          own (see lc_admin_metrics()).
 *
 * Returns the server (caller frees with lc_admin_free()), or NULL with a
 * message in err (always NUL-terminated when errlen > 0), e.g. when the
 * address is in use or the registry already has the process metrics (in
 * that last case the ones added before the clash stay in reg). The server
 * is listening when this returns; requests are handled as soon as the
 * loop runs.
 */
struct lc_admin *lc_admin_new(struct event_base *base, const char *service,
			      const char *version, const char *addr, int port,
			      struct lc_metrics *reg, char *err,
			      size_t errlen);

/*
 * Add a readiness check shown under name (copied; non-empty and unique)
 * in /readyz. arg is borrowed and passed to fn; it must stay valid until
 * lc_admin_free(). Checks run in the order they were added. A check that
 * starts or stops failing is logged once per change (admin.check_failed,
 * admin.check_ok). 0 on success, -1 with a message in err (bad or
 * duplicate name, more than LC_ADMIN_MAX_CHECKS, out of memory).
 */
int lc_admin_add_check(struct lc_admin *a, const char *name,
		       lc_admin_check_fn fn, void *arg, char *err,
		       size_t errlen) __attribute__((warn_unused_result));

/* The TCP port the server is bound to (useful after asking for port 0). */
int lc_admin_port(const struct lc_admin *a);

/* The registry /metrics serves: the one given to lc_admin_new() or the
 * server's own (borrowed: valid until lc_admin_free()). */
struct lc_metrics *lc_admin_metrics(const struct lc_admin *a);

/*
 * Close the port and every admin connection, and free the server (and its
 * registry if it created one). Must not be called from inside one of the
 * server's own check callbacks. NULL does nothing.
 */
void lc_admin_free(struct lc_admin *a);

#endif
