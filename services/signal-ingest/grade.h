#ifndef INGEST_GRADE_H
#define INGEST_GRADE_H
/*
 * Signal strength and grading. Strength is not a FreqTrade field: a
 * strategy reports it
 *   - in its enter_tag / exit_reason as a key=value token
 *     ("ema_cross strength=0.82 rsi=28.4"; tokens split on spaces , ; |
 *     &; the key may be strength or signal_strength), the other numeric
 *     or text tokens becoming indicators;
 *   - as a strategy_msg whose msg is a JSON object with signal_strength
 *     and any indicators (scalars at the top level or in an "indicators"
 *     object), plus optionally pair, direction and rate;
 *   - or in a signal_strength field of the body (custom senders).
 * Missing strength is 0. The strategy's thresholds grade it:
 * >= strong: strong/P0, >= medium: medium/P1, >= weak: weak/P2, else
 * ignore (no priority). Pure code.
 *
 * A strength that is not a number from 0 to 1 is refused (400) only in
 * the signal_strength field, which a custom sender writes and can fix.
 * In a tag or a strategy_msg it is the strategy's free text relayed by
 * FreqTrade, which cannot fix it: a 400 there makes FreqTrade retry and
 * then drop the whole signal. So the signal is kept, graded as if it
 * had no strength (0: a value we cannot read must not raise an alert,
 * as clamping 85 or 1.5 to 1 would, P0), the value as sent goes into
 * the indicators as signal_strength_invalid (raw keeps the message) and
 * struct strength says so, for a warning in the answer and the log.
 */
#include <stdbool.h>
#include <stddef.h>

#include "libcommon/buf.h"
#include "services/signal-ingest/values.h"

struct ierr;

#define IND_MAX 64       /* indicators kept (proto: maxProperties) */
#define IND_KEY_MAX 64   /* longest indicator name */

/* Indicators being collected: a JSON object's members, unique keys. */
struct ind {
	struct lc_buf json;       /* owned: "k":v,"k":v (no braces) */
	char keys[IND_MAX][IND_KEY_MAX + 1];
	unsigned n;
};

#define STRENGTH_BAD_MAX 32 /* of an unreadable value, for a warning */

/* A strength found in a message. */
struct strength {
	bool found;
	double v;                 /* 0..1 */
	char text[VAL_NUM_MAX];   /* as stored: "0.82" */
	/* found but unreadable (then v is 0 and text "0"): where, and the
	 * start of the value as sent (printable ASCII, the rest '?') */
	bool invalid;
	const char *bad_field;    /* static: "enter_tag", "msg"... */
	char bad_value[STRENGTH_BAD_MAX + 1];
};

/* What a strategy_msg's JSON may say besides indicators (borrowed from
 * the parse, valid until grade_msg_release). */
struct msg_fields {
	void *root;               /* owned cJSON tree, NULL if not JSON */
	const char *pair;         /* or NULL */
	const char *direction;    /* or NULL */
	char rate[VAL_NUM_MAX];   /* "" if none */
	bool has_time;            /* carries a time of its own */
};

void ind_init(struct ind *in);
void ind_release(struct ind *in);
/* Add a member unless the key is there already or IND_MAX are; value is
 * JSON text (a number, "string", true, null). 0, or -1 on ENOMEM. */
int ind_add_raw(struct ind *in, const char *key, const char *json)
	__attribute__((warn_unused_result));
int ind_add_str(struct ind *in, const char *key, const char *v)
	__attribute__((warn_unused_result));
/* "{...}" of everything added, into out (caller's, reset first). */
int ind_object(const struct ind *in, struct lc_buf *out)
	__attribute__((warn_unused_result));

/*
 * Read key=value tokens of text (an enter_tag, exit_reason or msg):
 * a strength into *st (the first one wins, readable or not: see above),
 * the rest into in. field names the body field (static storage).
 * Returns 0, or -1 with *e set on ENOMEM (503).
 */
int grade_tags(const char *text, const char *field, struct ind *in,
	       struct strength *st, struct ierr *e)
	__attribute__((warn_unused_result));

/*
 * A strategy_msg's msg: if it is a JSON object, take its strength (an
 * unreadable one as in grade_tags), indicators and mf's fields; returns
 * 1. If it is not JSON, returns 0 (mf->root NULL). -1 with *e set on
 * ENOMEM. Release mf with grade_msg_release in every case.
 */
int grade_msg_json(const char *msg, struct ind *in, struct strength *st,
		   struct msg_fields *mf, struct ierr *e)
	__attribute__((warn_unused_result));
void grade_msg_release(struct msg_fields *mf);

/* Check a strength given as text (the signal_strength field): 0, or
 * -1 with *e set (400 naming field) when it is not from 0 to 1. */
int grade_strength_text(const char *v, const char *field,
			struct strength *st, struct ierr *e)
	__attribute__((warn_unused_result));

struct thresholds {
	double strong, medium, weak;
};

/* level ("strong" ...) and priority ("P0" ... or NULL for ignore). */
void grade_level(double strength, const struct thresholds *t,
		 const char **level, const char **priority);

#endif
