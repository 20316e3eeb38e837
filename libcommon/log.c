/* Structured JSON-lines logging with secret redaction. */
#include "libcommon/log.h"

#include "libcommon/buf.h"
#include "libcommon/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LOG_LINE_MAX (64 * 1024)
#define REDACT_MAX 256
#define REDACTED "[redacted]"

static const char *g_service = "btcw";
static enum lc_log_level g_min = LC_LOG_INFO;
static int g_fd = STDERR_FILENO;
/* Registered secrets, a ring: when full the oldest is forgotten, so a
 * daemon whose secrets rotate on every reload keeps redacting the newest
 * ones. */
static char *g_redact[REDACT_MAX];
static int g_nredact;
static int g_redact_next; /* slot the next secret replaces when full */

static const char *const level_names[] = { "debug", "info", "warn",
					   "error" };

void lc_log_init(const char *service, enum lc_log_level min)
{
	g_service = service;
	g_min = min;
}

void lc_log_set_level(enum lc_log_level min)
{
	g_min = min;
}

void lc_log_set_fd(int fd)
{
	g_fd = fd < 0 ? STDERR_FILENO : fd;
}

bool lc_log_parse_level(const char *s, enum lc_log_level *out)
{
	static const struct {
		const char *name;
		enum lc_log_level lvl;
	} map[] = { { "debug", LC_LOG_DEBUG }, { "info", LC_LOG_INFO },
		    { "warn", LC_LOG_WARN },   { "warning", LC_LOG_WARN },
		    { "error", LC_LOG_ERROR } };
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcasecmp(s, map[i].name) == 0) {
			*out = map[i].lvl;
			return true;
		}
	}
	return false;
}

void lc_log_redact(const char *secret)
{
	if (!secret || strlen(secret) < 4)
		return;
	for (int i = 0; i < g_nredact; i++)
		if (strcmp(g_redact[i], secret) == 0)
			return;
	char *copy = strdup(secret);
	if (!copy)
		return;
	if (g_nredact < REDACT_MAX) {
		g_redact[g_nredact++] = copy;
		return;
	}
	free(g_redact[g_redact_next]);
	g_redact[g_redact_next] = copy;
	g_redact_next = (g_redact_next + 1) % REDACT_MAX;
}

/* Keys whose values are secret whatever they hold. */
static bool secret_key(const char *key)
{
	static const char *const words[] = { "password", "passwd", "secret",
					     "token",    "authorization",
					     "api_key",  "apikey", "dsn",
					     "cookie" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(key, words[i]))
			return true;
	return false;
}

/* The first registered secret found in s, or NULL. */
static const char *find_secret(const char *s, const char **which)
{
	const char *best = NULL;
	for (int i = 0; i < g_nredact; i++) {
		const char *hit = strstr(s, g_redact[i]);
		if (hit && (!best || hit < best)) {
			best = hit;
			*which = g_redact[i];
		}
	}
	return best;
}

/* Append s as a JSON string with registered secrets replaced. */
static int append_redacted(struct lc_buf *b, const char *s)
{
	const char *which = NULL;
	if (!find_secret(s, &which))
		return lc_buf_append_json_str(b, s);
	struct lc_buf tmp;
	lc_buf_init(&tmp, LOG_LINE_MAX);
	int rv = 0;
	for (;;) {
		const char *hit = find_secret(s, &which);
		if (!hit) {
			rv = lc_buf_append_str(&tmp, s);
			break;
		}
		if (lc_buf_append(&tmp, s, (size_t)(hit - s)) != 0 ||
		    lc_buf_append_str(&tmp, REDACTED) != 0) {
			rv = -1;
			break;
		}
		s = hit + strlen(which);
	}
	if (rv == 0)
		rv = lc_buf_append_json_str(b, tmp.data ? tmp.data : "");
	lc_buf_release(&tmp);
	return rv;
}

static int append_field(struct lc_buf *b, const struct lc_log_field *f)
{
	int rv = lc_buf_append_str(b, ",");
	rv |= lc_buf_append_json_str(b, f->key);
	rv |= lc_buf_append_str(b, ":");
	if (rv)
		return -1;
	if (f->type == LC_LF_SECRET ||
	    ((f->type == LC_LF_STR || f->type == LC_LF_RAW) && f->s &&
	     secret_key(f->key)))
		return lc_buf_append_str(b, "\"" REDACTED "\"");
	switch (f->type) {
	case LC_LF_STR:
		return f->s ? append_redacted(b, f->s)
			    : lc_buf_append_str(b, "null");
	case LC_LF_RAW:
		return lc_buf_append_str(b, f->s ? f->s : "null");
	case LC_LF_INT:
		return lc_buf_printf(b, "%lld", (long long)f->i);
	case LC_LF_DBL:
		if (f->d != f->d || f->d > 1e308 || f->d < -1e308)
			return lc_buf_append_str(b, "null");
		return lc_buf_printf(b, "%.17g", f->d);
	case LC_LF_BOOL:
		return lc_buf_append_str(b, f->i ? "true" : "false");
	default:
		return lc_buf_append_str(b, "null");
	}
}

void lc_log_emit(enum lc_log_level lvl, const char *file, int line,
		 const char *event, const struct lc_log_field *fields)
{
	if (lvl < g_min)
		return;
	int saved = errno;
	char ts[LC_CLOCK_RFC3339_LEN];
	struct lc_buf b;
	lc_buf_init(&b, LOG_LINE_MAX);
	int rv = lc_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",",
			       lc_clock_rfc3339(ts, lc_clock_wall_ms()),
			       level_names[lvl]);
	rv |= lc_buf_append_str(&b, "\"service\":");
	rv |= lc_buf_append_json_str(&b, g_service);
	rv |= lc_buf_append_str(&b, ",\"event\":");
	rv |= lc_buf_append_json_str(&b, event);
	for (const struct lc_log_field *f = fields; rv == 0 && f->key; f++)
		rv |= append_field(&b, f);
	if (lvl >= LC_LOG_WARN && rv == 0) {
		const char *base = strrchr(file, '/');
		rv |= lc_buf_printf(&b, ",\"src\":\"%s:%d\"",
				    base ? base + 1 : file, line);
	}
	if (rv != 0) {
		/* A line too long to format: say so rather than lose it. */
		lc_buf_reset(&b);
		rv = lc_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\","
				       "\"event\":\"log.truncated\"",
				   ts, level_names[lvl]);
	}
	if (rv == 0 && lc_buf_append_str(&b, "}\n") == 0) {
		ssize_t n = write(g_fd, b.data, b.len);
		(void)n;
	}
	lc_buf_release(&b);
	errno = saved;
}
