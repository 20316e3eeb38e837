#ifndef LC_ENVELOPE_H
#define LC_ENVELOPE_H
/*
 * The JSON envelope carried by every bus message (version 1). Pure JSON:
 * no nng, no event loop, so the gateway can reuse it for WebSocket push.
 *
 *   request  {"v":1,"id":7,"method":"supervisor.start","params":{...}}
 *   reply    {"v":1,"id":7,"ok":true,"result":...}
 *            {"v":1,"id":7,"ok":false,
 *             "error":{"code":"not_found","message":"no strategy 42"}}
 *   event    signal.new {"v":1,"id":"<unique>","topic":"signal.new",
 *                        "ts":"2026-11-21T11:28:00.123Z","data":{...}}
 *
 * Request ids are chosen by the caller: a JSON string or an integer
 * (|id| <= 2^53 - 1, so every JSON implementation reads it exactly); the
 * reply echoes it. "params" is an object; absent or null means {}.
 * An event is the topic, one space, then the JSON envelope, so that a
 * subscription to the prefix "<topic> " matches exactly one topic.
 * Topics are 1..LC_ENV_TOPIC_MAX printable ASCII characters, no space.
 *
 * Text handed in is a byte range (an nng message body is not
 * NUL-terminated); trailing whitespace and NUL bytes after the JSON value
 * are accepted (nngcat and C strings may add them), anything else is not.
 * Every formatted text returned is allocated with cJSON's allocator: the
 * caller frees it with cJSON_free().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define LC_ENV_VERSION 1
#define LC_ENV_TOPIC_MAX 64 /* as proto/schemas/envelope/event */
#define LC_ENV_MSG_MAX 256 /* room for an error message we generate */

/* Error codes the bus itself produces. */
#define LC_ENV_E_BAD_REQUEST "bad_request"       /* malformed envelope */
#define LC_ENV_E_TOO_LARGE "too_large"           /* over max size */
#define LC_ENV_E_UNKNOWN_METHOD "unknown_method" /* no such handler */
#define LC_ENV_E_TIMEOUT "timeout"               /* sent, no reply */
#define LC_ENV_E_UNAVAILABLE "unavailable"       /* not sent / busy */
#define LC_ENV_E_CANCELLED "cancelled"           /* client freed */
#define LC_ENV_E_INTERNAL "internal"             /* bug, ENOMEM, bad reply */
/* Codes handlers choose (proto/schemas/common/error.schema.json). */
#define LC_ENV_E_NOT_FOUND "not_found"
#define LC_ENV_E_INVALID "invalid"
#define LC_ENV_E_CONFLICT "conflict"
#define LC_ENV_E_FORBIDDEN "forbidden"
#define LC_ENV_E_LIMIT_REACHED "limit_reached"
#define LC_ENV_E_UPSTREAM_ERROR "upstream_error"
#define LC_ENV_E_UPSTREAM_TIMEOUT "upstream_timeout"

/* Why a parse failed: code is one of the LC_ENV_E_* strings (static). */
struct lc_env_error {
	const char *code;              /* static string, never NULL */
	char message[LC_ENV_MSG_MAX];  /* lowercase, says what was wrong */
};

/* A parsed request. Every pointer borrows root. */
struct lc_env_request {
	cJSON *root;        /* owned; NULL if the text was not JSON */
	const cJSON *id;    /* string or integer; NULL if unreadable */
	const char *method; /* non-empty */
	cJSON *params;      /* an object; {} added to root when absent */
};

/* A parsed reply. Every pointer borrows root. */
struct lc_env_reply {
	cJSON *root;         /* owned */
	const cJSON *id;     /* as sent by the server (may be JSON null) */
	bool ok;
	const cJSON *result; /* ok: never NULL (JSON null when absent) */
	const char *code;    /* !ok: non-empty */
	const char *message; /* !ok: never NULL ("" when absent) */
	const cJSON *details; /* !ok: the error's "details" object or NULL */
};

/* A parsed event. Every pointer borrows root. */
struct lc_env_event {
	cJSON *root;        /* owned: the envelope object */
	const char *topic;  /* equals the topic before the space */
	const char *id;     /* the publisher's unique event id */
	const char *ts;     /* RFC 3339 as sent (not re-validated) */
	const cJSON *data;  /* an object */
};

/*
 * Parse a request from buf[0..len) (borrowed). Returns 0 and fills *out,
 * or -1 and fills *err (code bad_request, or internal on ENOMEM); on -1
 * out->id still points at the request's id if one could be read, so the
 * error reply can echo it. In both cases the caller releases *out with
 * lc_env_request_release().
 */
int lc_env_parse_request(const void *buf, size_t len,
			 struct lc_env_request *out, struct lc_env_error *err)
	__attribute__((warn_unused_result));
/* Free r->root and clear *r (every borrowed pointer dies with it). */
void lc_env_request_release(struct lc_env_request *r);

/*
 * Parse a reply from buf[0..len) (borrowed). Returns 0 and fills *out
 * (release it with lc_env_reply_release()), or -1 with *err filled and
 * nothing to release.
 */
int lc_env_parse_reply(const void *buf, size_t len, struct lc_env_reply *out,
		       struct lc_env_error *err)
	__attribute__((warn_unused_result));
/* Free r->root and clear *r. */
void lc_env_reply_release(struct lc_env_reply *r);

/*
 * Parse an event message "<topic> <json>" from buf[0..len) (borrowed).
 * Returns 0 and fills *out (release with lc_env_event_release()), or -1
 * with *err filled and nothing to release.
 */
int lc_env_parse_event(const void *buf, size_t len, struct lc_env_event *out,
		       struct lc_env_error *err)
	__attribute__((warn_unused_result));
/* Free e->root and clear *e. */
void lc_env_event_release(struct lc_env_event *e);

/* Is id (borrowed, may be NULL) a valid request id: a string or an
 * integer within +-(2^53 - 1)? */
bool lc_env_id_valid(const cJSON *id) __attribute__((warn_unused_result));

/* Is topic (borrowed) a valid topic name? */
bool lc_env_topic_valid(const char *topic)
	__attribute__((warn_unused_result));

/*
 * Format a request. Borrows id (must be lc_env_id_valid), method and
 * params (an object, or NULL for {}). Returns the text (caller frees with
 * cJSON_free()) and its length in *len, or NULL on bad arguments or
 * ENOMEM.
 */
char *lc_env_format_request(const cJSON *id, const char *method,
			    const cJSON *params, size_t *len);

/*
 * Format a success reply. Borrows id (NULL is written as JSON null) and
 * result (any JSON value; NULL is written as null). Returns the text
 * (caller frees with cJSON_free()) and its length, or NULL on ENOMEM.
 */
char *lc_env_format_reply_ok(const cJSON *id, const cJSON *result,
			     size_t *len);

/*
 * Format an error reply. Borrows id (NULL: JSON null), code (NULL or ""
 * becomes "internal"), message (NULL or "" becomes the code: the schema
 * wants a non-empty message) and details (an object added as
 * error.details, or NULL for none). Returns the text (caller frees with
 * cJSON_free()) and its length, or NULL on ENOMEM or if details is not an
 * object.
 */
char *lc_env_format_reply_err(const cJSON *id, const char *code,
			      const char *message, const cJSON *details,
			      size_t *len);

/*
 * Format an event message "<topic> <json>". Borrows topic (must be
 * lc_env_topic_valid), id (the unique event id) and data (an object, or
 * NULL for {}); ts is wall_ms in RFC 3339 with milliseconds. Returns the
 * text (caller frees with cJSON_free()) and its length, or NULL on bad
 * arguments or ENOMEM.
 */
char *lc_env_format_event(const char *topic, const char *id, int64_t wall_ms,
			  const cJSON *data, size_t *len);

#endif
