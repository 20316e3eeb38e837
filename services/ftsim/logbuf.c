/*
 * logbuf: FreqTrade's logging. Lines "<asctime> - <logger> - <LEVEL> -
 * <message>" go to stderr and to the --logfile (rotated at 10 MB, 10
 * backups, like its RotatingFileHandler), and the last records stay in a
 * buffer of 1000 that keeps its newest 500 when full (loggers/
 * buffering_handler.py FTBufferingHandler), for GET /api/v1/logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "services/ftsim/ftsim.h"

#define BUF_CAP 1000
#define MAX_BYTES (10L * 1024 * 1024)
#define BACKUPS 10

struct record {
	double created;   /* epoch seconds */
	const char *name; /* static */
	int level;
	char *msg;
};

static struct {
	char *path;
	int fd;
	long size;
	int min_level;
	struct record buf[BUF_CAP];
	size_t n;
} L = { .fd = -1, .min_level = FTL_INFO };

static const char *level_name(int l)
{
	switch (l) {
	case FTL_DEBUG: return "DEBUG";
	case FTL_INFO: return "INFO";
	case FTL_WARNING: return "WARNING";
	case FTL_ERROR: return "ERROR";
	default: return "CRITICAL";
	}
}

int ftlog_open(const char *path, int verbosity)
{
	L.min_level = verbosity > 0 ? FTL_DEBUG : FTL_INFO;
	if (!path || strcmp(path, "journald") == 0 ||
	    strncmp(path, "syslog", 6) == 0)
		return 0;
	L.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (L.fd < 0)
		return -1;
	struct stat st;
	L.size = fstat(L.fd, &st) == 0 ? (long)st.st_size : 0;
	L.path = strdup(path);
	return 0;
}

void ftlog_close(void)
{
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
	free(L.path);
	L.path = NULL;
	for (size_t i = 0; i < L.n; i++)
		free(L.buf[i].msg);
	L.n = 0;
}

static void rotate(void)
{
	char a[4096], b[4096];
	close(L.fd);
	for (int i = BACKUPS - 1; i >= 1; i--) {
		snprintf(a, sizeof(a), "%s.%d", L.path, i);
		snprintf(b, sizeof(b), "%s.%d", L.path, i + 1);
		(void)rename(a, b);
	}
	snprintf(a, sizeof(a), "%s.1", L.path);
	(void)rename(L.path, a);
	L.fd = open(L.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	L.size = 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* BufferingHandler.emit: append, then flush once full; FreqTrade's
 * flush keeps the newest half. So 1000 records are never shown: the
 * 1000th leaves 500. */
static void keep(double created, const char *name, int level, char *msg)
{
	L.buf[L.n++] = (struct record){ created, name, level, msg };
	if (L.n == BUF_CAP) {
		size_t half = BUF_CAP / 2;
		for (size_t i = 0; i < BUF_CAP - half; i++)
			free(L.buf[i].msg);
		memmove(L.buf, L.buf + (BUF_CAP - half),
		        half * sizeof(L.buf[0]));
		L.n = half;
	}
}

static void emit(int level, const char *name, char *msg)
{
	if (level < L.min_level) {
		free(msg);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	char *line = NULL;
	int n = asprintf(&line, "%s,%03ld - %s - %s - %s\n", when,
	                 ts.tv_nsec / 1000000, name, level_name(level), msg);
	if (n > 0) {
		write_all(2, line, (size_t)n);
		if (L.fd >= 0) {
			if (L.size + n > MAX_BYTES && L.path)
				rotate();
			if (L.fd >= 0)
				write_all(L.fd, line, (size_t)n);
			L.size += n;
		}
	}
	free(line);
	keep((double)ts.tv_sec + ts.tv_nsec / 1e9, name, level, msg);
}

void ftlog(int level, const char *logger, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n >= 0)
		emit(level, logger, msg);
}

void ftlog_exc(int level, const char *logger, const char *exc, const char *fmt,
               ...)
{
	va_list ap;
	char *msg = NULL, *all = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (asprintf(&all, "%s\n%s", msg, exc) < 0) {
		emit(level, logger, msg);
		return;
	}
	free(msg);
	emit(level, logger, all);
}

cJSON *ftlog_json(int limit)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *logs = cJSON_CreateArray();
	size_t from =
	        limit > 0 && (size_t)limit < L.n ? L.n - (size_t)limit : 0;
	for (size_t i = from; i < L.n; i++) {
		const struct record *r = &L.buf[i];
		char date[24];
		time_t t = (time_t)r->created;
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(row, cJSON_CreateString(date));
		cJSON_AddItemToArray(row, json_float(r->created * 1000));
		cJSON_AddItemToArray(row, cJSON_CreateString(r->name));
		cJSON_AddItemToArray(row,
		                     cJSON_CreateString(level_name(r->level)));
		cJSON_AddItemToArray(row, cJSON_CreateString(r->msg));
		cJSON_AddItemToArray(logs, row);
	}
	json_add_int(o, "log_count", (int64_t)(L.n - from));
	cJSON_AddItemToObject(o, "logs", logs);
	return o;
}
