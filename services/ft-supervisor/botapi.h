#ifndef SUP_BOTAPI_H
#define SUP_BOTAPI_H
/*
 * Calls to one bot's own REST API (FREQTRADE.md §3) on the loop, with
 * the bot's credentials (HTTP Basic per request): /ping for readiness,
 * /stop before SIGTERM, the trader commands and /logs.
 */
#include <stdbool.h>
#include <stdint.h>

#include "libcommon/curl.h"

/* Where a bot listens and how to log in (copied: a request may outlive
 * the bot's state). */
struct botapi_target {
	int port;
	char user[66];
	char pass[130];
};

struct bot;
void botapi_target_of(const struct bot *b, struct botapi_target *t);

/*
 * method "GET"/"POST" on http://127.0.0.1:<port>/api/v1/<path> with the
 * credentials (ping sends none: it is public). timeout_ms covers the
 * whole exchange. Returns the request (lc_curl_start) or NULL.
 */
struct lc_curl_req *botapi_call(struct lc_curl *c,
				const struct botapi_target *t,
				const char *method, const char *path,
				int64_t timeout_ms, lc_curl_cb cb, void *arg);

/* Did /ping answer {"status":"pong"}? */
bool botapi_is_pong(const struct lc_curl_response *r);

/* The "status" text of a control reply ({"status": "..."}) into out, or
 * the body's start when there is none. */
void botapi_status_text(const struct lc_curl_response *r, char *out,
			size_t n);

#endif
