#ifndef INGEST_PARSE_H
#define INGEST_PARSE_H
/*
 * Normalisation: the decoded fields of one FreqTrade webhook into the
 * signal row we store, graded. Which fields each message type carries
 * is FREQTRADE.md §4; a template may name them as FreqTrade's
 * placeholders (type, trade_id, pair, open_rate, ...) and every field is
 * optional except the type. Accepted aliases: event for type, id for
 * trade_id (trade messages), rate for open_rate (entries) or close_rate
 * (exits), profit_abs for profit_amount, side for direction. The legacy
 * names buy / sell (and _fill, _cancel) mean entry / exit.
 *
 * Refusals (struct ierr): a missing type 400; a type that is not a
 * signal (whitelist, analyzed_df, new_candle) or unknown 422; a field
 * whose value is not what it must be (a number, a non-negative number,
 * an integer, a time, a pair, long/short) 400 naming the field. Text
 * columns longer than 4096 bytes are cut there (raw keeps all of it).
 * Pure code.
 */
#include <stdint.h>

#include "services/signal-ingest/grade.h"

struct kvlist;
struct sig;
struct ierr;
struct dedupe;

/* The strategy a webhook is for, as the cache knows it. */
struct strat_info {
	int64_t id;
	const char *version;     /* borrowed; may be NULL */
	struct thresholds th;
};

struct parse_ctx {
	const struct strat_info *st; /* borrowed */
	int64_t received_us;     /* wall time of acceptance */
	struct dedupe *dd;       /* window for time-less messages, or NULL */
	const char *raw_json;    /* raw's pairs as JSON text already (a
				    json body as received), or NULL */
	size_t raw_json_len;
	/* where to write a warning about a signal kept anyway (a strength
	 * that cannot be read, grade.h), "" when there is none; or NULL */
	char *warning;
	size_t warning_size;
};

#define PARSE_WARNING_MAX 160 /* a warning fits in this many bytes */

/*
 * Build *out (initialised, empty) from fields (the message) and raw (the
 * pairs stored as `raw`). Returns 0, or -1 with *e set; *out is then
 * partly filled and the caller releases it either way.
 */
int parse_signal(const struct kvlist *fields, const struct kvlist *raw,
		 const struct parse_ctx *c, struct sig *out, struct ierr *e)
	__attribute__((warn_unused_result));

/* The action for a message type value (legacy names mapped), or NULL
 * when it is not a signal type; *known tells whether FreqTrade has such
 * a type at all. */
const char *parse_action(const char *type, int *known);

#endif
