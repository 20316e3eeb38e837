#ifndef GW_PROXY_H
#define GW_PROXY_H
/*
 * The strategy proxy: /api/strategy/{id}/{path*} (GET for every role;
 * POST, PUT, DELETE for traders and admins) to the bot's
 * /api/v1/{path*}, and the same forwarding for FreqUI's
 * /bots/{id}/api/v1/… (frequi.c).
 *
 * Forwarding (RFC 9110 section 7.6, RFC 9112): method, path, query
 * string and body as received; the request's end-to-end headers, minus
 * the hop-by-hop ones (Connection and what it names, Keep-Alive, TE,
 * Trailer, Transfer-Encoding, Upgrade, Proxy-*), Host, Content-Length,
 * Cookie, Expect and the caller's Authorization, which is replaced by the
 * bot's own credentials (clients never see them). The answer comes back
 * with its status and end-to-end headers (hop-by-hop ones, Set-Cookie,
 * WWW-Authenticate and CORS headers dropped: the gateway is the origin).
 * A bot that refuses the gateway's credentials (401) is a 502, so a
 * client never mistakes it for its own token failing.
 *
 * Errors, each {"error", "detail"}: unknown or stopped strategy 404
 * not_found; the bot refuses the connection or breaks it 502
 * upstream_error; no complete answer within system.gateway.proxy_timeout
 * seconds 504 upstream_timeout; the gateway stopping 503.
 */
#include <stddef.h>

struct gw_req;
struct gw_bot;

/* Forward r to bot b (borrowed) as /api/v1/<rest>; rest (rest_len
 * bytes, from the path) is checked for dot segments (404). r is answered
 * later with the bot's answer or an error. */
void gw_proxy_forward(struct gw_req *r, struct gw_bot *b, const char *rest,
		      size_t rest_len);

/* The value of the rest parameter "path" of r's route (borrowed from
 * r->path), and its length; NULL if the route has none. */
const char *gw_proxy_rest(const struct gw_req *r, size_t *len);

#endif
