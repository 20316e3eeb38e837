#ifndef GW_SESSIONS_H
#define GW_SESSIONS_H
/*
 * The logins behind live WebSocket sessions (/ws, FreqUI's message
 * websocket), checked again while the sessions last.
 *
 * A request is checked once, when it comes; a WebSocket opened by one
 * lasts for hours. So each session's token goes through the requests'
 * own check again (auth.h gw_auth_recheck: the auth cache, else the one
 * query) every system.gateway.ws_auth_check_interval seconds, and a
 * session whose login ended — logout (the jti revoked), logout
 * everywhere, a password or role change (token_version bumped), the
 * account disabled or deleted, a role that no longer matches — is told
 * to end. A database that does not answer ends nothing: the check is
 * tried again an interval later (a session must not die because
 * PostgreSQL restarts).
 *
 * One timer (every second) walks the sessions and starts the checks that
 * are due, at most GW_LIVE_MAX_INFLIGHT at once, so thousands of
 * sessions neither flood the database pool's queue nor starve requests:
 * the rest wait for the next second.
 */
#include <stdbool.h>
#include <stddef.h>

struct gw;
struct gw_req;
struct gw_live;

#define GW_LIVE_MAX_INFLIGHT 32

/* The login ended: why is a short sentence for the close frame and the
 * log. Runs at most once per watch, from the loop; must not call
 * gw_live_unwatch (the session ends later, in its on_close). */
typedef void (*gw_live_end)(void *arg, const char *why);

/*
 * Watch the login of r (authenticated, r->user set; its token as its
 * route takes it) for the session about to be taken over from r. With
 * until_exp the token's own expiry ends it too. Returns the watch (free
 * with gw_live_unwatch) or NULL on ENOMEM.
 */
struct gw_live *gw_live_watch(struct gw_req *r, bool until_exp,
			      gw_live_end end, void *arg);

/* The session is over: forget it (a check in flight is cancelled). NULL
 * does nothing. */
void gw_live_unwatch(struct gw_live *l);

/* Start the timer. 0, or -1 with err. */
int gw_live_start(struct gw *g, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* After every session ended (the HTTP server freed): the timer and the
 * list. */
void gw_live_free(struct gw *g);

#endif
