/* One FreqTrade message to one graded signal row. */
#include "services/signal-ingest/parse.h"

#include "services/signal-ingest/body.h"
#include "services/signal-ingest/dedupe.h"
#include "services/signal-ingest/sig.h"
#include "services/signal-ingest/values.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TEXT_MAX 4096  /* proto text fields */
#define CURRENCY_MAX 16
#define PAIR_MAX 64

/* Families of message types: which fields a message may carry. */
enum fam {
	F_ENTRY = 1 << 0,
	F_EXIT = 1 << 1,
	F_CANCEL = 1 << 2,
	F_STATUS = 1 << 3,
	F_MSG = 1 << 4,
	F_PROT = 1 << 5,
};
#define F_TRADE (F_ENTRY | F_EXIT)

enum kind {
	K_TEXT,     /* cut at TEXT_MAX */
	K_CURRENCY, /* at most CURRENCY_MAX bytes */
	K_PAIR,     /* BASE/QUOTE[:SETTLE]; "*" means none */
	K_DIR,      /* long / short, any case; "*" means none */
	K_UINT,     /* integer >= 0 */
	K_NUM,      /* any finite number; nan/inf stored as NULL */
	K_NNUM,     /* a number >= 0 */
	K_TIME,     /* a time */
};

static const struct {
	const char *type;
	const char *action;
	unsigned fam;
} types[] = {
	{ "entry", "entry", F_ENTRY },
	{ "entry_fill", "entry_fill", F_ENTRY },
	{ "entry_cancel", "entry_cancel", F_ENTRY | F_CANCEL },
	{ "exit", "exit", F_EXIT },
	{ "exit_fill", "exit_fill", F_EXIT },
	{ "exit_cancel", "exit_cancel", F_EXIT | F_CANCEL },
	{ "status", "status", F_STATUS },
	{ "warning", "warning", F_STATUS },
	{ "exception", "exception", F_STATUS },
	{ "startup", "startup", F_STATUS },
	{ "strategy_msg", "strategy_msg", F_MSG },
	{ "protection_trigger", "protection_trigger", F_PROT },
	{ "protection_trigger_global", "protection_trigger_global", F_PROT },
	/* FreqTrade's names before 2022 */
	{ "buy", "entry", F_ENTRY },
	{ "buy_fill", "entry_fill", F_ENTRY },
	{ "buy_cancel", "entry_cancel", F_ENTRY | F_CANCEL },
	{ "sell", "exit", F_EXIT },
	{ "sell_fill", "exit_fill", F_EXIT },
	{ "sell_cancel", "exit_cancel", F_EXIT | F_CANCEL },
	/* real types, but not signals (the proto has no action for them) */
	{ "whitelist", NULL, 0 },
	{ "analyzed_df", NULL, 0 },
	{ "new_candle", NULL, 0 },
};

/* Body field -> column. Earlier rows win: a later row whose column is
 * already set is an alias and is skipped. */
static const struct {
	const char *key;
	enum sig_col col;
	enum kind kind;
	unsigned fam;
} fields_map[] = {
	{ "trade_id", SC_TRADE_ID, K_UINT, F_TRADE },
	{ "pair", SC_PAIR, K_PAIR, F_TRADE | F_PROT },
	{ "direction", SC_DIRECTION, K_DIR, F_TRADE },
	{ "enter_tag", SC_ENTER_TAG, K_TEXT, F_TRADE },
	{ "exit_reason", SC_EXIT_REASON, K_TEXT, F_EXIT },
	{ "open_rate", SC_OPEN_RATE, K_NNUM, F_TRADE },
	{ "close_rate", SC_CLOSE_RATE, K_NNUM, F_EXIT },
	{ "limit", SC_LIMIT_RATE, K_NNUM, F_TRADE },
	{ "order_rate", SC_LIMIT_RATE, K_NNUM, F_EXIT },
	{ "current_rate", SC_CURRENT_RATE, K_NNUM, F_TRADE },
	{ "amount", SC_AMOUNT, K_NNUM, F_TRADE },
	{ "stake_amount", SC_STAKE_AMOUNT, K_NNUM, F_TRADE },
	{ "stake_currency", SC_STAKE_CURRENCY, K_CURRENCY, F_TRADE },
	{ "profit_ratio", SC_PROFIT_RATIO, K_NUM, F_EXIT },
	{ "profit_amount", SC_PROFIT_ABS, K_NUM, F_EXIT },
	{ "open_date", SC_OPEN_DATE, K_TIME, F_TRADE },
	{ "close_date", SC_CLOSE_DATE, K_TIME, F_EXIT },
	{ "reason", SC_MESSAGE, K_TEXT, F_CANCEL | F_PROT },
	{ "status", SC_MESSAGE, K_TEXT, F_STATUS },
	{ "msg", SC_MESSAGE, K_TEXT, F_MSG },
	{ "lock_time", SC_EVENT_AT, K_TIME, F_PROT },
	{ "side", SC_DIRECTION, K_DIR, F_PROT },
	/* aliases */
	{ "id", SC_TRADE_ID, K_UINT, F_TRADE },
	{ "rate", SC_OPEN_RATE, K_NNUM, F_ENTRY },
	{ "rate", SC_CLOSE_RATE, K_NNUM, F_EXIT },
	{ "profit_abs", SC_PROFIT_ABS, K_NUM, F_EXIT },
};

const char *parse_action(const char *type, int *known)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		if (strcmp(types[i].type, type) == 0) {
			*known = 1;
			return types[i].action;
		}
	}
	*known = 0;
	return NULL;
}

static unsigned family_of(const char *action)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
		if (types[i].action && strcmp(types[i].action, action) == 0)
			return types[i].fam;
	return 0;
}

static bool pair_ok(const char *p)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				  "opqrstuvwxyz0123456789._-";
	size_t n = strlen(p), a = strspn(p, set), b;
	if (n < 3 || n > PAIR_MAX || a == 0 || p[a] != '/')
		return false;
	p += a + 1;
	b = strspn(p, set);
	if (b == 0)
		return false;
	p += b;
	if (*p == ':') {
		p++;
		if (strspn(p, set) == 0)
			return false;
		p += strspn(p, set);
	}
	return *p == '\0';
}

static int bad(struct ierr *e, const char *key, const char *what)
{
	return ierr_set(e, 400, "invalid_field", "field '%.64s' must be %s",
			key, what);
}

static int nomem(struct ierr *e)
{
	return ierr_set(e, 503, "unavailable", "out of memory");
}

static int set_text(struct sig *s, enum sig_col col, const char *v,
		    size_t max, struct ierr *e)
{
	size_t len = strlen(v);
	if (sig_set(s, col, v, val_utf8_cut(v, len, max)) != 0)
		return nomem(e);
	return 0;
}

/* A direction value: 1 set, 0 none, -1 not long/short. */
static int direction_of(const char *v, const char **out)
{
	if (val_none(v) || strcmp(v, "*") == 0)
		return 0;
	if (strcasecmp(v, "long") == 0)
		*out = "long";
	else if (strcasecmp(v, "short") == 0)
		*out = "short";
	else
		return -1;
	return 1;
}

static int set_number(struct sig *s, enum sig_col col, const char *key,
		      const char *v, bool nonneg, struct ierr *e)
{
	char num[VAL_NUM_MAX];
	double d;
	switch (val_number(v, num, &d)) {
	case VAL_OK:
		if (nonneg && d < 0)
			return bad(e, key, "a number >= 0");
		return sig_set_str(s, col, num) != 0 ? nomem(e) : 0;
	case VAL_BAD:
		return bad(e, key, nonneg ? "a number >= 0" : "a number");
	default:
		return 0; /* None, nan, inf: not stored */
	}
}

/* One body field into its column. */
static int take(struct sig *s, enum sig_col col, enum kind kind,
		const char *key, const char *v, struct ierr *e)
{
	char buf[VAL_TIME_LEN > 24 ? VAL_TIME_LEN : 24];
	const char *dir;
	int64_t n;
	switch (kind) {
	case K_TEXT:
		return val_none(v) ? 0 : set_text(s, col, v, TEXT_MAX, e);
	case K_CURRENCY:
		if (val_none(v))
			return 0;
		if (strlen(v) > CURRENCY_MAX)
			return bad(e, key, "at most 16 characters");
		return set_text(s, col, v, CURRENCY_MAX, e);
	case K_PAIR:
		if (val_none(v) || strcmp(v, "*") == 0)
			return 0;
		if (!pair_ok(v))
			return bad(e, key, "a pair such as BTC/USDT");
		return set_text(s, col, v, PAIR_MAX, e);
	case K_DIR:
		switch (direction_of(v, &dir)) {
		case 1:
			return sig_set_str(s, col, dir) ? nomem(e) : 0;
		case 0:
			return 0;
		default:
			return bad(e, key, "long or short");
		}
	case K_UINT:
		switch (val_uint(v, &n)) {
		case VAL_OK:
			snprintf(buf, sizeof(buf), "%lld", (long long)n);
			return sig_set_str(s, col, buf) ? nomem(e) : 0;
		case VAL_NULL:
			return 0;
		default:
			return bad(e, key, "an integer >= 0");
		}
	case K_TIME:
		switch (val_time(v, buf)) {
		case VAL_OK:
			return sig_set_str(s, col, buf) ? nomem(e) : 0;
		case VAL_NULL:
			return 0;
		default:
			return bad(e, key, "a time such as 2025-06-01 "
				   "08:00:02.117000+00:00");
		}
	case K_NUM:
	case K_NNUM:
	default:
		return set_number(s, col, key, v, kind == K_NNUM, e);
	}
}

#define NMAP (sizeof(fields_map) / sizeof(*fields_map))

/* The map's rows for one body field name (a name may have several). */
static void rows_of(const char *key, const char **vals, const char *v)
{
	/* the names differ early: comparing first characters first keeps
	 * this one pass over the body cheap */
	for (size_t i = 0; i < NMAP; i++)
		if (fields_map[i].key[0] == key[0] &&
		    strcmp(fields_map[i].key, key) == 0)
			vals[i] = v;
}

static int take_fields(const struct kvlist *f, unsigned fam, struct sig *s,
		       struct ierr *e)
{
	const char *vals[NMAP] = { 0 };
	for (size_t i = 0; i < f->n; i++)
		rows_of(f->items[i].key, vals, f->items[i].val);
	for (size_t i = 0; i < NMAP; i++) {
		if (!vals[i] || !(fields_map[i].fam & fam) ||
		    sig_get(s, fields_map[i].col))
			continue;
		if (take(s, fields_map[i].col, fields_map[i].kind,
			 fields_map[i].key, vals[i], e) != 0)
			return -1;
	}
	return 0;
}

/* What a strategy_msg's JSON says about pair, direction and rate
 * (leniently: a free-form message is not refused for them). */
static int take_msg_fields(const struct msg_fields *mf, struct sig *s,
			   struct ierr *e)
{
	const char *dir;
	if (mf->pair && pair_ok(mf->pair) && !sig_get(s, SC_PAIR) &&
	    sig_set_str(s, SC_PAIR, mf->pair) != 0)
		return nomem(e);
	if (mf->direction && direction_of(mf->direction, &dir) == 1 &&
	    sig_set_str(s, SC_DIRECTION, dir) != 0)
		return nomem(e);
	if (mf->rate[0] && sig_set_str(s, SC_CURRENT_RATE, mf->rate) != 0)
		return nomem(e);
	return 0;
}

/* Strength and indicators from wherever the message carries them; the
 * first strength found wins, in this order. */
static int strength_of(const struct kvlist *f, unsigned fam, struct sig *s,
		       struct ind *in, struct strength *st,
		       struct msg_fields *mf, struct ierr *e)
{
	const char *v = kvlist_get(f, "signal_strength");
	if (v && grade_strength_text(v, "signal_strength", st, e) != 0)
		return -1;
	if (fam & F_MSG) {
		const char *msg = kvlist_get(f, "msg");
		int rv = grade_msg_json(msg, in, st, mf, e);
		if (rv < 0 || (rv == 0 && grade_tags(msg, "msg", in, st, e)))
			return -1;
		if (rv == 1 && take_msg_fields(mf, s, e) != 0)
			return -1;
	}
	if ((fam & F_EXIT) &&
	    grade_tags(kvlist_get(f, "exit_reason"), "exit_reason", in, st,
		       e) != 0)
		return -1;
	if ((fam & F_TRADE) &&
	    grade_tags(kvlist_get(f, "enter_tag"), "enter_tag", in, st,
		       e) != 0)
		return -1;
	return 0;
}

/* Strength, level, priority and indicators columns. */
static int grade(const struct kvlist *f, unsigned fam,
		 const struct parse_ctx *c, struct sig *s, bool *has_time,
		 struct ierr *e)
{
	struct ind in;
	struct strength st = { 0 };
	struct msg_fields mf = { 0 };
	struct lc_buf obj;
	const char *level, *prio;
	int rv;
	ind_init(&in);
	lc_buf_init(&obj, (size_t)1 << 20);
	rv = strength_of(f, fam, s, &in, &st, &mf, e);
	*has_time = mf.has_time;
	grade_msg_release(&mf);
	if (rv == 0 && st.invalid && c->warning)
		snprintf(c->warning, c->warning_size,
			 "field '%s': strength '%s' is not a number from 0 "
			 "to 1; graded as if none was sent",
			 st.bad_field, st.bad_value);
	if (rv == 0) {
		grade_level(st.found ? st.v : 0, &c->st->th, &level, &prio);
		if (sig_set_str(s, SC_STRENGTH, st.found ? st.text : "0") ||
		    sig_set_str(s, SC_LEVEL, level) ||
		    (prio && sig_set_str(s, SC_PRIORITY, prio)) ||
		    ind_object(&in, &obj) ||
		    sig_set(s, SC_INDICATORS, obj.data, obj.len))
			rv = nomem(e);
	}
	ind_release(&in);
	lc_buf_release(&obj);
	return rv;
}

/* event_at, received_at, strategy, version, action, raw. */
static int fill_context(const struct kvlist *raw, const char *action,
			const struct parse_ctx *c, struct sig *s,
			struct ierr *e)
{
	char t[VAL_TIME_LEN], id[24];
	const char *at = sig_get(s, SC_CLOSE_DATE);
	struct lc_buf b;
	int rv;
	if (!at)
		at = sig_get(s, SC_OPEN_DATE);
	if (at && !sig_get(s, SC_EVENT_AT) &&
	    sig_set_str(s, SC_EVENT_AT, at) != 0)
		return nomem(e);
	val_time_from_us(c->received_us, t);
	snprintf(id, sizeof(id), "%lld", (long long)c->st->id);
	if (sig_set_str(s, SC_RECEIVED_AT, t) ||
	    sig_set_str(s, SC_STRATEGY_ID, id) ||
	    sig_set_str(s, SC_ACTION, action) ||
	    (c->st->version &&
	     sig_set_str(s, SC_STRATEGY_VERSION, c->st->version)))
		return nomem(e);
	if (c->raw_json) /* a json body: stored as it came */
		return sig_set(s, SC_RAW, c->raw_json, c->raw_json_len) != 0
			       ? nomem(e)
			       : 0;
	lc_buf_init(&b, SIG_MAX_BYTES / 2);
	rv = kvlist_to_json(raw, &b);
	if (rv == 0)
		rv = sig_set(s, SC_RAW, b.data, b.len);
	lc_buf_release(&b);
	return rv == 0 ? 0 : nomem(e);
}

static int action_of(const struct kvlist *f, const char **action,
		     struct ierr *e)
{
	const char *type = kvlist_get(f, "type");
	int known;
	if (!type)
		type = kvlist_get(f, "event");
	if (!type)
		return ierr_set(e, 400, "invalid_field",
				"missing field 'type' (the message type)");
	*action = parse_action(type, &known);
	if (*action)
		return 0;
	if (known)
		return ierr_set(e, 422, "unsupported_message_type",
				"message type '%s' is not a signal", type);
	return ierr_set(e, 422, "unknown_message_type",
			"unknown message type '%.64s'", type);
}

int parse_signal(const struct kvlist *fields, const struct kvlist *raw,
		 const struct parse_ctx *c, struct sig *out, struct ierr *e)
{
	const char *action;
	char key[DEDUPE_KEY_MAX];
	bool msg_time = false, timeless;
	unsigned fam;
	if (c->warning && c->warning_size)
		c->warning[0] = '\0';
	if (action_of(fields, &action, e) != 0)
		return -1;
	fam = family_of(action);
	if (take_fields(fields, fam, out, e) != 0 ||
	    grade(fields, fam, c, out, &msg_time, e) != 0 ||
	    fill_context(raw, action, c, out, e) != 0)
		return -1;
	timeless = !sig_get(out, SC_EVENT_AT) && !msg_time;
	if (dedupe_key(c->dd, c->st->id, fields, timeless,
		       c->received_us / 1000000, key) != 0 ||
	    sig_set_str(out, SC_DEDUPE_KEY, key) != 0)
		return nomem(e);
	return 0;
}
