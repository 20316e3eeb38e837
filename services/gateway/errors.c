/* Bus error codes to HTTP statuses. */
#include "services/gateway/errors.h"

#include <stddef.h>
#include <string.h>

static const struct {
	const char *code;
	int status;
} code_status[] = {
	{ "bad_request", 400 },    { "too_large", 413 },
	{ "unknown_method", 501 }, { "timeout", 504 },
	{ "unavailable", 503 },    { "cancelled", 503 },
	{ "internal", 500 },       { "not_found", 404 },
	{ "invalid", 422 },        { "conflict", 409 },
	{ "forbidden", 403 },      { "limit_reached", 409 },
	{ "upstream_error", 502 }, { "upstream_timeout", 504 },
};

int gw_status_for_code(const char *code)
{
	for (size_t i = 0; code && i < sizeof(code_status) /
					       sizeof(*code_status); i++)
		if (strcmp(code_status[i].code, code) == 0)
			return code_status[i].status;
	return 502;
}

static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 409, "Conflict" },
	{ 413, "Payload Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Entity" },
	{ 429, "Too Many Requests" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

const char *gw_status_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(*reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}
