/*
 * A bot's recent log records for supervisor.logs.get, from its own
 * /api/v1/logs while it runs, else from the tail of its logfile.
 *
 * FreqTrade's /logs rows are [date, epoch_ms, logger, level, message];
 * its logfile lines are "YYYY-MM-DD HH:MM:SS,mmm - logger - LEVEL - msg"
 * (times taken as UTC), and a line that does not start that way (a
 * traceback) continues the previous record. The reply stays well under
 * the bus's 1 MiB: each message is cut at LOG_MSG_MAX bytes and the
 * oldest records are dropped past LOG_REPLY_MAX.
 */
#include "services/ft-supervisor/logs.h"

#include "libcommon/buf.h"
#include "libcommon/clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX 4096
#define LOG_REPLY_MAX (768 * 1024)
#define LOG_TAIL_BYTES (1024 * 1024)

/* Valid UTF-8, control characters but tab as spaces, at most max bytes
 * (a message is for a human; invalid bytes become '?'). */
static char *clean_text(const char *s, size_t len, size_t max)
{
	char *out = malloc((len < max ? len : max) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len && s[i];) {
		size_t n = lc_buf_utf8_len((const unsigned char *)s + i);
		if (n == 0 || i + n > len) {
			n = 1;
			if (o + 1 > max)
				break;
			out[o++] = '?';
		} else {
			if (o + n > max)
				break;
			unsigned char c = (unsigned char)s[i];
			if (n == 1 && c < 0x20 && c != '\t' && c != '\n')
				out[o++] = ' ';
			else {
				memcpy(out + o, s + i, n);
				o += n;
			}
		}
		i += n;
	}
	out[o] = '\0';
	return out;
}

static const char *level_of(const char *l)
{
	static const char *const known[] = { "DEBUG", "INFO", "WARNING",
					     "ERROR", "CRITICAL", NULL };
	for (int i = 0; known[i]; i++)
		if (strcmp(l, known[i]) == 0)
			return known[i];
	if (strcmp(l, "WARN") == 0)
		return "WARNING";
	if (strcmp(l, "FATAL") == 0)
		return "CRITICAL";
	return "INFO";
}

struct records {
	cJSON *arr;
	size_t bytes;
};

static void add_record(struct records *r, int64_t ms, const char *logger,
		       const char *level, const char *msg, size_t msglen)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	char *m = clean_text(msg, msglen, LOG_MSG_MAX);
	char *lg = clean_text(logger, strlen(logger), 256);
	if (!m || !lg) {
		free(m);
		free(lg);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "ts", lc_clock_rfc3339(ts, ms));
	cJSON_AddStringToObject(o, "logger", lg);
	cJSON_AddStringToObject(o, "level", level_of(level));
	cJSON_AddStringToObject(o, "message", m);
	cJSON_AddItemToArray(r->arr, o);
	r->bytes += strlen(m) + strlen(lg) + 80;
	free(m);
	free(lg);
}

/* Keep the newest: drop from the front past the limits. */
static void trim(struct records *r, int limit)
{
	while (cJSON_GetArraySize(r->arr) > limit ||
	       (r->bytes > LOG_REPLY_MAX && cJSON_GetArraySize(r->arr) > 1)) {
		cJSON *first = cJSON_DetachItemFromArray(r->arr, 0);
		const cJSON *m = cJSON_GetObjectItem(first, "message");
		size_t n = cJSON_IsString(m) ? strlen(m->valuestring) : 0;
		r->bytes -= r->bytes > n + 80 ? n + 80 : r->bytes;
		cJSON_Delete(first);
	}
}

static cJSON *result(struct records *r, int id, const char *source)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "strategy_id", id);
	cJSON_AddStringToObject(o, "source", source);
	cJSON_AddNumberToObject(o, "log_count", cJSON_GetArraySize(r->arr));
	cJSON_AddItemToObject(o, "logs", r->arr);
	return o;
}

cJSON *logs_from_api(const char *body, int id, int limit)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "logs");
	if (!cJSON_IsArray(rows)) {
		cJSON_Delete(j);
		return NULL;
	}
	struct records r = { .arr = cJSON_CreateArray() };
	for (const cJSON *row = rows->child; row; row = row->next) {
		const cJSON *ms = cJSON_GetArrayItem(row, 1);
		const cJSON *lg = cJSON_GetArrayItem(row, 2);
		const cJSON *lv = cJSON_GetArrayItem(row, 3);
		const cJSON *m = cJSON_GetArrayItem(row, 4);
		if (!cJSON_IsNumber(ms) || !cJSON_IsString(lg) ||
		    !cJSON_IsString(lv) || !cJSON_IsString(m))
			continue;
		add_record(&r, (int64_t)ms->valuedouble, lg->valuestring,
			   lv->valuestring, m->valuestring,
			   strlen(m->valuestring));
		trim(&r, limit);
	}
	cJSON_Delete(j);
	return result(&r, id, "api");
}

/* "YYYY-MM-DD HH:MM:SS,mmm - " -> epoch ms, or -1. */
static int64_t parse_stamp(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;
	char sep;
	if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c%3d", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &sep,
		   &ms) != 8 || (sep != ',' && sep != '.'))
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* One logfile line: a new record, or more text for the last one. */
static void file_line(struct records *r, const char *line, size_t len,
		      int limit)
{
	char logger[257], level[17];
	int64_t ms = len > 26 ? parse_stamp(line) : -1;
	const char *p = ms >= 0 ? strstr(line, " - ") : NULL;
	int off = 0;
	if (p && sscanf(p, " - %256[^ ] - %16[A-Z] - %n", logger, level,
			&off) == 2 && off > 0) {
		const char *msg = p + off;
		add_record(r, ms, logger, level, msg,
			   len - (size_t)(msg - line));
		trim(r, limit);
		return;
	}
	cJSON *last = cJSON_GetArrayItem(r->arr,
					 cJSON_GetArraySize(r->arr) - 1);
	cJSON *m = cJSON_GetObjectItem(last, "message");
	if (!cJSON_IsString(m) || strlen(m->valuestring) >= LOG_MSG_MAX)
		return;
	struct lc_buf b;
	lc_buf_init(&b, LOG_MSG_MAX);
	char *more = clean_text(line, len, LOG_MSG_MAX);
	if (more && lc_buf_printf(&b, "%s\n%s", m->valuestring, more) == 0)
		cJSON_SetValuestring(m, b.data);
	free(more);
	lc_buf_release(&b);
}

cJSON *logs_from_file(const char *path, int id, int limit)
{
	struct records r = { .arr = cJSON_CreateArray() };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return result(&r, id, "file");
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0;
	char *buf = malloc((size_t)(size - from) + 1);
	ssize_t n = buf ? pread(fd, buf, (size_t)(size - from), from) : -1;
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		char *p = buf;
		if (from > 0) /* skip the partial first line */
			p = strchr(p, '\n') ? strchr(p, '\n') + 1 : buf + n;
		while (*p) {
			size_t len = strcspn(p, "\n");
			size_t l2 = len;
			while (l2 > 0 && p[l2 - 1] == '\r')
				l2--;
			if (l2 > 0)
				file_line(&r, p, l2, limit);
			p += len + (p[len] ? 1 : 0);
		}
	}
	free(buf);
	return result(&r, id, "file");
}
