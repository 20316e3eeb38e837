#ifndef LC_CURL_H
#define LC_CURL_H
/*
 * Outbound HTTP on the daemon's libevent loop: one libcurl multi handle
 * driven by the loop's events and timers (curl's hiperfifo pattern), so a
 * request never blocks. Connections are reused (keep-alive) per host:
 * up to 1024 idle connections are kept; there is no cap on parallel
 * connections (per host or in total), so a caller that must spare a
 * server limits its own concurrency. Only http:// and https:// URLs are
 * fetched; redirects are not followed; "Expect: 100-continue" is never
 * sent. Signals are never used (CURLOPT_NOSIGNAL).
 * Used by ftsim's webhooks, the monitor's bot polls, the notifier's
 * channels and the supervisor's bot commands.
 * Single-threaded: call everything from the loop's thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lc_curl;
struct lc_curl_req;

struct lc_curl_opts {
	const char *method;          /* "GET" (default), "POST", "PUT", … */
	const char *url;             /* required */
	const char *const *headers;  /* "Name: value" strings, NULL-ended;
					may be NULL */
	const void *body;            /* request body (copied); may be NULL;
					POST, PUT and PATCH without one send
					an empty body */
	size_t body_len;
	const char *userpwd;         /* "user:password" for HTTP Basic */
	const char *proxy;           /* e.g. "socks5://h:1080"; NULL: none
					(http_proxy & co. are ignored) */
	int64_t timeout_ms;          /* whole transfer; 0: 30000 */
	int64_t connect_timeout_ms;  /* 0: 10000 */
	size_t max_response_bytes;   /* body limit; 0: 1 MiB; over it the
					transfer fails with an error */
	bool insecure;               /* skip TLS verification (tests only) */
};

struct lc_curl_response {
	long status;                 /* HTTP status; 0 if none arrived */
	const char *body;            /* NUL-terminated; "" if empty */
	size_t body_len;
	const char *error;           /* NULL on a completed exchange (any
					status); else why it failed:
					"timeout", "connection refused",
					"response too large", "cancelled",
					"cannot resolve host", … */
	bool timed_out;              /* error was a timeout */
	int64_t elapsed_ms;          /* from start to completion */
	const struct lc_curl_req *req; /* for lc_curl_header() */
};

/* Called on the loop exactly once per started request (unless
 * cancelled). Everything in res is borrowed for the call only; body is
 * NUL-terminated (the NUL is not counted in body_len). The callback may
 * start, cancel or free anything, lc_curl_free of its own client
 * included. */
typedef void (*lc_curl_cb)(const struct lc_curl_response *res, void *arg);

/* A multi handle on base. NULL with the reason in err. */
struct lc_curl *lc_curl_new(struct event_base *base, char *err,
			    size_t errlen);

/* Free the handle; every pending request's callback runs once with
 * error "cancelled" (from inside this call; lc_curl_start is refused
 * from then on). Safe from inside a callback of c: the callbacks of the
 * other pending requests run at once, the memory goes when that callback
 * returns. NULL does nothing. */
void lc_curl_free(struct lc_curl *c);

/* Start a request (o and everything it points to are borrowed for the
 * call: copied as needed). Returns a handle valid until the callback
 * returns, or NULL (the callback will not run) with the reason logged:
 * no url or callback, the client is being freed, out of memory. The
 * callback never runs from inside lc_curl_start; every failure after a
 * successful start (a bad URL included) comes through the callback. */
struct lc_curl_req *lc_curl_start(struct lc_curl *c,
				  const struct lc_curl_opts *o,
				  lc_curl_cb cb, void *arg);

/* Abandon a request: its callback will not run and r is freed. r must
 * be a handle whose callback has not run yet; from inside r's own
 * callback this does nothing. NULL does nothing. */
void lc_curl_cancel(struct lc_curl_req *r);

/* A response header's value (first match, case-insensitive name, blanks
 * trimmed) of the final response (not of a 100 Continue or a proxy's
 * CONNECT answer), or NULL; r and the result are valid during the
 * callback only. Headers are kept up to 64 KiB in all; more fails the
 * request with "response headers too large". */
const char *lc_curl_header(const struct lc_curl_req *r, const char *name);

/* Requests started whose callback has not run (nor been cancelled). */
int lc_curl_pending(const struct lc_curl *c);

#endif
