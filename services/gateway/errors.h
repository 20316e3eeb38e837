#ifndef GW_ERRORS_H
#define GW_ERRORS_H
/*
 * The public error vocabulary: every error the gateway answers is
 * {"error": <code>, "detail": <sentence>} with one of these statuses.
 * Pure (tests/unit/test_gateway_router.c).
 */

/*
 * The HTTP status for a bus error code (proto/README.md, "Error codes"):
 * timeout 504, unavailable and cancelled 503, not_found 404, invalid 422
 * (the gateway answers every "this field is wrong" with 422, whether it
 * found it or the owning service did), conflict and limit_reached 409,
 * forbidden 403, bad_request 400, too_large 413, unknown_method 501,
 * upstream_error 502, upstream_timeout 504, internal 500; any other code
 * (a newer service) 502.
 */
int gw_status_for_code(const char *code);

/* The reason phrase for a status we send ("Unprocessable Entity"). */
const char *gw_status_reason(int status);

#endif
