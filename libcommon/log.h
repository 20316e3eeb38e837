#ifndef LC_LOG_H
#define LC_LOG_H
/*
 * Structured logging: one JSON object per line on stderr,
 *   {"ts":"2026-11-21T11:28:00.123Z","level":"info","service":"monitor",
 *    "event":"db.connected","host":"127.0.0.1","port":5432}
 * written with a single write(2) so lines never interleave.
 *
 * Fields are typed:   log_info("db.connected", LF_S("host", h),
 *                              LF_I("port", p));
 * Values of keys that look secret (password, secret, token, authorization,
 * key, dsn…) and any string registered with lc_log_redact() are replaced by
 * "[redacted]" before they are written.
 */
#include <stdbool.h>
#include <stdint.h>

enum lc_log_level {
	LC_LOG_DEBUG,
	LC_LOG_INFO,
	LC_LOG_WARN,
	LC_LOG_ERROR,
};

enum lc_log_ftype {
	LC_LF_END,
	LC_LF_STR,
	LC_LF_INT,
	LC_LF_DBL,
	LC_LF_BOOL,
	LC_LF_SECRET, /* always written as "[redacted]" */
	LC_LF_RAW,    /* value is already valid JSON (an object, a list…) */
};

struct lc_log_field {
	const char *key;
	enum lc_log_ftype type;
	const char *s;
	int64_t i;
	double d;
};

#define LF_S(k, v) ((struct lc_log_field){ (k), LC_LF_STR, (v), 0, 0 })
#define LF_I(k, v) \
	((struct lc_log_field){ (k), LC_LF_INT, 0, (int64_t)(v), 0 })
#define LF_F(k, v) ((struct lc_log_field){ (k), LC_LF_DBL, 0, 0, (double)(v) })
#define LF_B(k, v) ((struct lc_log_field){ (k), LC_LF_BOOL, 0, !!(v), 0 })
#define LF_SECRET(k) ((struct lc_log_field){ (k), LC_LF_SECRET, 0, 0, 0 })
#define LF_RAW(k, v) ((struct lc_log_field){ (k), LC_LF_RAW, (v), 0, 0 })
#define LF_END_ ((struct lc_log_field){ 0, LC_LF_END, 0, 0, 0 })

#define lc_log_(lvl, ev, ...)                                           \
	lc_log_emit((lvl), __FILE__, __LINE__, (ev),                    \
		    (const struct lc_log_field[]){ __VA_ARGS__ __VA_OPT__(,) \
						   LF_END_ })
#define log_debug(ev, ...) lc_log_(LC_LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) lc_log_(LC_LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) lc_log_(LC_LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) lc_log_(LC_LOG_ERROR, ev, __VA_ARGS__)

/* Set the service name written on every line (borrowed: must outlive
 * logging) and the lowest level written. */
void lc_log_init(const char *service, enum lc_log_level min);
void lc_log_set_level(enum lc_log_level min);

/* "debug", "info", "warn"/"warning", "error" -> level; false if unknown. */
bool lc_log_parse_level(const char *s, enum lc_log_level *out)
	__attribute__((warn_unused_result));

/* Register a secret value (copied) that must never appear in a log line;
 * strings shorter than 4 characters are ignored. The newest 256 are kept
 * (older ones are forgotten first). Call from the loop thread only
 * (start-up or reload). */
void lc_log_redact(const char *secret);

/* Send lines to fd instead of stderr (tests). -1 restores stderr. */
void lc_log_set_fd(int fd);

/* Write one line; fields is terminated by an LC_LF_END entry. Thread-safe
 * (one write per line); use the log_* macros rather than calling this. */
void lc_log_emit(enum lc_log_level lvl, const char *file, int line,
		 const char *event, const struct lc_log_field *fields);

#endif
