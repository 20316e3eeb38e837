#ifndef GW_ROUTER_H
#define GW_ROUTER_H
/*
 * The route table and its matcher: pure, no libevent, unit-tested
 * (tests/unit/test_gateway_router.c).
 *
 * A route is a method, a path pattern, the roles allowed to call it and
 * a handler. Patterns are '/'-separated segments: a literal ("strategies"),
 * a parameter ("{id}": exactly one non-empty segment) or, as the last
 * segment only, a rest parameter ("{path*}": one or more segments, slashes
 * included) — the strategy proxy of part 2 (/api/strategy/{id}/{path*})
 * needs it. When several patterns match a path the most specific wins: the
 * one whose first differing segment is a literal, so
 * /api/v1/strategies/overview beats /api/v1/strategies/{id} whatever the
 * table order. A path with empty segments ("//", a trailing '/') matches
 * nothing.
 *
 * Route tables are arrays ended by an entry whose method is NULL; the
 * gateway's list of tables is a NULL-terminated array of them (http.c), so
 * a new file of routes is one more table in that list.
 */
#include <stdbool.h>
#include <stddef.h>

#define GW_MAX_SEGMENTS 16 /* segments in a pattern or a matched path */
#define GW_MAX_PARAMS 4    /* parameters in one pattern */

/* Roles, as a mask in a route. */
enum gw_role {
	GW_ROLE_ADMIN = (1 << 0),  /* everything, accounts included */
	GW_ROLE_TRADER = (1 << 1), /* strategies, notifications, reads */
	GW_ROLE_VIEWER = (1 << 2), /* reads */
};
#define GW_ROLES_ANY (GW_ROLE_ADMIN | GW_ROLE_TRADER | GW_ROLE_VIEWER)
#define GW_ROLES_WRITE (GW_ROLE_ADMIN | GW_ROLE_TRADER)

enum gw_route_flags {
	GW_R_PUBLIC = (1 << 0),   /* no token needed (login, health) */
	GW_R_BODY = (1 << 1),     /* a JSON object body is required */
	GW_R_BODY_OPT = (1 << 2), /* a JSON object body is allowed */
	GW_R_BOT_TOKEN = (1 << 3),   /* a bot-scoped token for {id} (auth.h) */
	GW_R_QUERY_TOKEN = (1 << 4), /* the token may be ?token= (auth.h) */
};

struct gw_req;
typedef void (*gw_handler)(struct gw_req *r);

struct gw_route {
	const char *method;  /* "GET", "POST", "PUT", "DELETE"; NULL ends */
	const char *pattern; /* "/api/v1/strategies/{id}" */
	unsigned roles;      /* enum gw_role mask; ignored if GW_R_PUBLIC */
	unsigned flags;      /* enum gw_route_flags */
	gw_handler fn;       /* the handler */
};

/* A matched parameter: name and value point into the pattern and the
 * path given to gw_router_match() (not NUL-terminated). */
struct gw_param {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct gw_match {
	const struct gw_route *route; /* borrowed from the table */
	size_t nparams;
	struct gw_param params[GW_MAX_PARAMS];
};

enum gw_match_result {
	GW_MATCH_OK,        /* *out filled */
	GW_MATCH_NO_PATH,   /* no pattern matches the path: 404 */
	GW_MATCH_NO_METHOD, /* the path exists with other methods: 405 */
};

/*
 * Find the route for method and path (both borrowed; path without the
 * query string) in tables (NULL-terminated list of route arrays). On
 * GW_MATCH_NO_METHOD, allow (allowlen bytes, may be NULL) receives the
 * methods the path has, "GET, POST".
 */
enum gw_match_result gw_router_match(const struct gw_route *const *tables,
				     const char *method, const char *path,
				     struct gw_match *out, char *allow,
				     size_t allowlen);

/* True if pattern is well formed (segments, at most GW_MAX_PARAMS
 * parameters, a rest parameter only last). */
bool gw_router_pattern_valid(const char *pattern)
	__attribute__((warn_unused_result));

/* The role's name ("admin"), or NULL for a mask that is not one role. */
const char *gw_role_name(unsigned role);

/* The role named s, or 0 if s is not a role name. */
unsigned gw_role_parse(const char *s);

/* Write the mask as "admin,trader" (or "public" for flags & GW_R_PUBLIC)
 * into out; returns out. */
char *gw_roles_format(unsigned roles, unsigned flags, char *out,
		      size_t outlen);

#endif
