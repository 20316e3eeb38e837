/* gateway: route matching, roles, bus error codes to HTTP statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "services/gateway/errors.c"
#include "services/gateway/router.c"

static void h_a(struct gw_req *r)
{
	(void)r;
}

static const struct gw_route t1[] = {
	{ "GET", "/api/v1/strategies", GW_ROLES_ANY, 0, h_a },
	{ "POST", "/api/v1/strategies", GW_ROLES_WRITE, 0, h_a },
	{ "GET", "/api/v1/strategies/{id}", GW_ROLES_ANY, 0, h_a },
	{ "PUT", "/api/v1/strategies/{id}", GW_ROLES_WRITE, 0, h_a },
	{ "POST", "/api/v1/strategies/{id}/commands/{command}",
	  GW_ROLES_WRITE, 0, h_a },
	{ NULL, NULL, 0, 0, NULL },
};

/* A second table, listed after, with a literal that must still win. */
static const struct gw_route t2[] = {
	{ "GET", "/api/v1/strategies/overview", GW_ROLES_ANY, 0, h_a },
	{ "GET", "/api/strategy/{id}/{path*}", GW_ROLES_ANY, 0, h_a },
	{ "GET", "/api/v1/health", 0, GW_R_PUBLIC, h_a },
	{ NULL, NULL, 0, 0, NULL },
};

static const struct gw_route *const tables[] = { t1, t2, NULL };

static void param_is(const struct gw_match *m, size_t i, const char *name,
		     const char *value)
{
	assert_true(i < m->nparams);
	assert_int_equal(m->params[i].name_len, strlen(name));
	assert_memory_equal(m->params[i].name, name, strlen(name));
	assert_int_equal(m->params[i].value_len, strlen(value));
	assert_memory_equal(m->params[i].value, value, strlen(value));
}

static void literal_and_params(void **state)
{
	struct gw_match m;
	(void)state;
	assert_int_equal(gw_router_match(tables, "GET", "/api/v1/strategies",
					 &m, NULL, 0), GW_MATCH_OK);
	assert_ptr_equal(m.route, &t1[0]);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(gw_router_match(tables, "GET",
					 "/api/v1/strategies/42", &m, NULL,
					 0), GW_MATCH_OK);
	assert_ptr_equal(m.route, &t1[2]);
	param_is(&m, 0, "id", "42");
	assert_int_equal(gw_router_match(
				 tables, "POST",
				 "/api/v1/strategies/7/commands/pause", &m,
				 NULL, 0), GW_MATCH_OK);
	assert_ptr_equal(m.route, &t1[4]);
	param_is(&m, 0, "id", "7");
	param_is(&m, 1, "command", "pause");
}

static void literal_beats_parameter(void **state)
{
	struct gw_match m;
	(void)state;
	assert_int_equal(gw_router_match(tables, "GET",
					 "/api/v1/strategies/overview", &m,
					 NULL, 0), GW_MATCH_OK);
	assert_ptr_equal(m.route, &t2[0]);
	/* the same path with another method falls to the {id} route */
	assert_int_equal(gw_router_match(tables, "PUT",
					 "/api/v1/strategies/overview", &m,
					 NULL, 0), GW_MATCH_OK);
	assert_ptr_equal(m.route, &t1[3]);
}

static void rest_parameter(void **state)
{
	struct gw_match m;
	(void)state;
	assert_int_equal(gw_router_match(tables, "GET",
					 "/api/strategy/3/status/x", &m, NULL,
					 0), GW_MATCH_OK);
	assert_ptr_equal(m.route, &t2[1]);
	param_is(&m, 0, "id", "3");
	param_is(&m, 1, "path", "status/x");
	assert_int_equal(gw_router_match(tables, "GET", "/api/strategy/3",
					 &m, NULL, 0), GW_MATCH_NO_PATH);
	assert_int_equal(gw_router_match(tables, "GET",
					 "/api/strategy/3/a//b", &m, NULL, 0),
			 GW_MATCH_NO_PATH);
}

static void not_found_and_not_allowed(void **state)
{
	struct gw_match m;
	char allow[64];
	(void)state;
	assert_int_equal(gw_router_match(tables, "GET", "/api/v1/nope", &m,
					 allow, sizeof(allow)),
			 GW_MATCH_NO_PATH);
	assert_int_equal(gw_router_match(tables, "GET", "/api/v1/strategies/",
					 &m, NULL, 0), GW_MATCH_NO_PATH);
	assert_int_equal(gw_router_match(tables, "GET", "//api/v1/health",
					 &m, NULL, 0), GW_MATCH_NO_PATH);
	assert_int_equal(gw_router_match(tables, "GET", "", &m, NULL, 0),
			 GW_MATCH_NO_PATH);
	assert_int_equal(gw_router_match(tables, "DELETE",
					 "/api/v1/strategies", &m, allow,
					 sizeof(allow)), GW_MATCH_NO_METHOD);
	assert_string_equal(allow, "GET, POST");
	assert_int_equal(gw_router_match(tables, "DELETE",
					 "/api/v1/strategies/1", &m, allow,
					 sizeof(allow)), GW_MATCH_NO_METHOD);
	assert_string_equal(allow, "GET, PUT");
}

static void patterns(void **state)
{
	(void)state;
	assert_true(gw_router_pattern_valid("/api/v1/x/{id}"));
	assert_true(gw_router_pattern_valid("/p/{id}/{rest*}"));
	assert_false(gw_router_pattern_valid("api/v1"));
	assert_false(gw_router_pattern_valid("/a//b"));
	assert_false(gw_router_pattern_valid("/a/"));
	assert_false(gw_router_pattern_valid("/a/{rest*}/b"));
	assert_false(gw_router_pattern_valid("/a/x{id}"));
	assert_false(gw_router_pattern_valid("/{a}/{b}/{c}/{d}/{e}"));
	for (size_t t = 0; tables[t]; t++)
		for (const struct gw_route *r = tables[t]; r->method; r++)
			assert_true(gw_router_pattern_valid(r->pattern));
}

static void role_names(void **state)
{
	char buf[64];
	(void)state;
	assert_string_equal(gw_role_name(GW_ROLE_TRADER), "trader");
	assert_null(gw_role_name(GW_ROLES_ANY));
	assert_int_equal(gw_role_parse("viewer"), GW_ROLE_VIEWER);
	assert_int_equal(gw_role_parse("root"), 0);
	assert_int_equal(gw_role_parse(NULL), 0);
	assert_string_equal(gw_roles_format(GW_ROLES_WRITE, 0, buf,
					    sizeof(buf)), "admin,trader");
	assert_string_equal(gw_roles_format(0, GW_R_PUBLIC, buf, sizeof(buf)),
			    "public");
}

static void statuses(void **state)
{
	(void)state;
	assert_int_equal(gw_status_for_code("timeout"), 504);
	assert_int_equal(gw_status_for_code("unavailable"), 503);
	assert_int_equal(gw_status_for_code("cancelled"), 503);
	assert_int_equal(gw_status_for_code("not_found"), 404);
	assert_int_equal(gw_status_for_code("invalid"), 422);
	assert_int_equal(gw_status_for_code("conflict"), 409);
	assert_int_equal(gw_status_for_code("limit_reached"), 409);
	assert_int_equal(gw_status_for_code("forbidden"), 403);
	assert_int_equal(gw_status_for_code("upstream_error"), 502);
	assert_int_equal(gw_status_for_code("upstream_timeout"), 504);
	assert_int_equal(gw_status_for_code("unknown_method"), 501);
	assert_int_equal(gw_status_for_code("too_large"), 413);
	assert_int_equal(gw_status_for_code("internal"), 500);
	assert_int_equal(gw_status_for_code("brand_new_code"), 502);
	assert_int_equal(gw_status_for_code(NULL), 502);
	assert_string_equal(gw_status_reason(422), "Unprocessable Entity");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(literal_and_params),
		cmocka_unit_test(literal_beats_parameter),
		cmocka_unit_test(rest_parameter),
		cmocka_unit_test(not_found_and_not_allowed),
		cmocka_unit_test(patterns),
		cmocka_unit_test(role_names),
		cmocka_unit_test(statuses),
	};
	return cmocka_run_group_tests_name("gateway_router", tests, NULL,
					   NULL);
}
