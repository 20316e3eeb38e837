/* HTTP calls to a bot's REST API (botapi.h). */
#include "services/ft-supervisor/botapi.h"

#include "services/ft-supervisor/sup.h"

#include <stdio.h>
#include <string.h>

void botapi_target_of(const struct bot *b, struct botapi_target *t)
{
	t->port = b->port;
	snprintf(t->user, sizeof(t->user), "%s", b->api_user);
	snprintf(t->pass, sizeof(t->pass), "%s", b->api_pass);
}

struct lc_curl_req *botapi_call(struct lc_curl *c,
				const struct botapi_target *t,
				const char *method, const char *path,
				int64_t timeout_ms, lc_curl_cb cb, void *arg)
{
	char url[256], userpwd[200];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/%s", t->port,
		 path);
	snprintf(userpwd, sizeof(userpwd), "%s:%s", t->user, t->pass);
	bool post = strcmp(method, "POST") == 0;
	static const char *const json_hdr[] = {
		"Content-Type: application/json", NULL,
	};
	struct lc_curl_opts o = {
		.method = method,
		.url = url,
		.headers = post ? json_hdr : NULL,
		.body = post ? "{}" : NULL,
		.body_len = post ? 2 : 0,
		.userpwd = strcmp(path, "ping") == 0 ? NULL : userpwd,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = timeout_ms < 10000 ? timeout_ms : 10000,
		.max_response_bytes = 4u << 20,
	};
	return lc_curl_start(c, &o, cb, arg);
}

bool botapi_is_pong(const struct lc_curl_response *r)
{
	if (r->error || r->status != 200)
		return false;
	cJSON *j = cJSON_Parse(r->body);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	bool ok = cJSON_IsString(st) && strcmp(st->valuestring, "pong") == 0;
	cJSON_Delete(j);
	return ok;
}

void botapi_status_text(const struct lc_curl_response *r, char *out,
			size_t n)
{
	cJSON *j = cJSON_Parse(r->body);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (!cJSON_IsString(st))
		st = cJSON_GetObjectItemCaseSensitive(j, "detail");
	if (!cJSON_IsString(st))
		st = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsString(st))
		snprintf(out, n, "%s", st->valuestring);
	else
		snprintf(out, n, "%.200s", r->body ? r->body : "");
	cJSON_Delete(j);
}
