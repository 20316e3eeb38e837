#ifndef INGEST_DEDUPE_H
#define INGEST_DEDUPE_H
/*
 * The dedupe key: what makes a retried webhook (FreqTrade retries a
 * failed or timed-out call with the very same body) or a spool replay
 * land on the row that is already there, via the unique index
 * (strategy_id, dedupe_key) and INSERT ... ON CONFLICT DO NOTHING.
 *
 *   <128 bits of SHA-256 of the content, base64url>[@<first seen>]
 *
 * The content is every decoded field, sorted by name (so json and form
 * renderings of one message agree), plus the strategy id: the message
 * type, trade id and times are among the fields. A trade or
 * protection message carries its own times (open_date, close_date,
 * lock_time...), so its content alone is unique. A message without any
 * time of its own (a status "running", a warning) may legitimately be
 * sent twice, hours apart, with the same content: for those the key adds
 * the second at which this content was first seen, remembered for
 * DEDUPE_WINDOW_S, so a retry within the window gets the same key and a
 * later repeat a new one. The window lives in memory: a retry that
 * arrives after a restart of the ingester may be stored twice (only for
 * such time-less messages).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvlist;

#define DEDUPE_KEY_MAX 48       /* the key, NUL included */
#define DEDUPE_HASH_BITS 132    /* 22 base64 characters */
#define DEDUPE_WINDOW_S 900     /* retries of time-less messages */
#define DEDUPE_WINDOW_MAX 65536 /* contents remembered at most */

struct dedupe; /* the window of first sightings */

/* A new, empty window; NULL on ENOMEM. Free with dedupe_free. */
struct dedupe *dedupe_new(void);
void dedupe_free(struct dedupe *d);

/*
 * The key of one message into out (DEDUPE_KEY_MAX bytes).
 * fields: the decoded body (borrowed), type and trade id included.
 * timeless: the message has no time of its own; then w (may be NULL:
 * every sighting is a first one) gives the first-seen second, now_s
 * being the current wall time in seconds. Returns 0, or -1 on ENOMEM.
 */
int dedupe_key(struct dedupe *w, int64_t strategy_id,
	       const struct kvlist *fields, bool timeless, int64_t now_s,
	       char *out)
	__attribute__((warn_unused_result));

#endif
