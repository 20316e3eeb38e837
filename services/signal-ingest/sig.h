#ifndef INGEST_SIG_H
#define INGEST_SIG_H
/*
 * One signal as it is stored: the columns of a `signals` row (without
 * id), each a text value or SQL NULL, exactly what the INSERT sends and
 * what the spool keeps. Everything about the signal is decided before
 * the row exists (grading, received_at, dedupe key), so a row replayed
 * from the spool is the same row that would have been committed.
 *
 * The values live in one growable buffer (offsets, not pointers, so the
 * buffer may move while the row is being built).
 *
 * Also here: struct ierr, the error answered to a webhook's sender (HTTP
 * status, code, detail), shared by every step that can refuse one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcommon/buf.h"

struct cJSON;

/* The columns, in the order of the INSERT (and of a spool record). */
enum sig_col {
	SC_STRATEGY_ID,
	SC_DEDUPE_KEY,
	SC_ACTION,
	SC_PAIR,
	SC_DIRECTION,
	SC_TRADE_ID,
	SC_ENTER_TAG,
	SC_EXIT_REASON,
	SC_MESSAGE,
	SC_OPEN_RATE,
	SC_CLOSE_RATE,
	SC_LIMIT_RATE,
	SC_CURRENT_RATE,
	SC_AMOUNT,
	SC_STAKE_AMOUNT,
	SC_STAKE_CURRENCY,
	SC_PROFIT_RATIO,
	SC_PROFIT_ABS,
	SC_OPEN_DATE,
	SC_CLOSE_DATE,
	SC_EVENT_AT,
	SC_RECEIVED_AT,
	SC_STRENGTH,
	SC_LEVEL,
	SC_PRIORITY,
	SC_STRATEGY_VERSION,
	SC_INDICATORS,
	SC_RAW,
	SC_NCOL
};

#define SIG_NULL UINT32_MAX   /* offset of a NULL column */
#define SIG_MAX_BYTES (64u << 20) /* one row's values, all together */

struct sig {
	struct lc_buf buf;       /* owned: the values, each NUL-ended */
	uint32_t off[SC_NCOL];   /* where each value starts, or SIG_NULL */
};

/* An error for the webhook's caller. */
struct ierr {
	int status;              /* HTTP status: 400, 404, 422, 503 ... */
	const char *code;        /* static, e.g. "invalid_field" */
	char detail[256];        /* one lowercase sentence, no secrets */
};

/* Fill *e and return -1 (so `return ierr_set(...)` reads well). */
int ierr_set(struct ierr *e, int status, const char *code, const char *fmt,
	     ...) __attribute__((format(printf, 4, 5)));

/* An empty row, every column NULL. */
void sig_init(struct sig *s);
/* Free the values; the row is empty again. */
void sig_release(struct sig *s);
/* Allocate room for n bytes of values at once (the row is about to be
 * built: no repeated growth). Only on an empty row; a hint, no error. */
void sig_reserve(struct sig *s, size_t n);

/* Move src into dst (dst must be empty or released); src is left empty. */
void sig_move(struct sig *dst, struct sig *src);

/* Set col to v[0..len) (copied; must not contain NUL; may be another
 * column's value of s). 0, or -1 when out of memory or past
 * SIG_MAX_BYTES. Setting a column twice keeps the last value (the first
 * stays in the buffer, unused). */
int sig_set(struct sig *s, enum sig_col col, const char *v, size_t len)
	__attribute__((warn_unused_result));
int sig_set_str(struct sig *s, enum sig_col col, const char *v)
	__attribute__((warn_unused_result));

/* The value of col (borrowed from s), or NULL for SQL NULL. */
const char *sig_get(const struct sig *s, enum sig_col col);

/* The column's name in the signals table. */
const char *sig_col_name(enum sig_col col);

/* The price the signal is about (proto: `rate`): open_rate for entries,
 * close_rate (else the order's limit) for exits, else current_rate; NULL
 * if none. Borrowed from s. */
const char *sig_rate(const struct sig *s);

/*
 * The signal as the proto's signal object (common/signal.schema.json)
 * without `raw`, for the signal.new event: id is the row's id,
 * strategy_name the strategy's name. Numbers are written as the stored
 * decimal text. The object refers to s's values and to strategy_name
 * (both must outlive it; cJSON_Duplicate(obj, 1) gives an independent
 * copy). Returns a new object (caller deletes) or NULL on ENOMEM.
 */
struct cJSON *sig_to_json(const struct sig *s, int64_t id,
			  const char *strategy_name);

/* "2025-06-01T08:00:02.117000Z" (our stored form) to the proto's
 * millisecond form "2025-06-01T08:00:02.117Z" in out (>= 32 bytes). */
void sig_time_ms(const char *us_time, char *out, size_t outlen);

#endif
