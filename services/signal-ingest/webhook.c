/*
 * The webhook endpoint:
 *
 *   POST /api/v1/signals/webhook/{strategy_id}/{token}
 *   POST /api/v1/signals/webhook/{strategy_id}?token={token}
 *   POST /api/v1/signals/webhook?strategy_id={id}&token={token}
 *        (or strategy_id / token as fields of the body)
 *
 * In order: the route (404), the method (405), the content type (415),
 * the strategy and token (404, the same answer for both, so strategies
 * cannot be probed), the body (400), the message (400 naming the field,
 * 422 for a type that is not a signal), then the commit: 200 once the
 * signal is committed (or was already), 202 once it is fsynced in the
 * spool, 503 if neither could be done. A token is never stored: a token
 * field is dropped from the body before anything else reads it.
 */
#include "services/signal-ingest/ingest.h"

#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"
#include "services/signal-ingest/body.h"
#include "services/signal-ingest/httpd.h"
#include "services/signal-ingest/parse.h"
#include "services/signal-ingest/strategies.h"
#include "services/signal-ingest/values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/api/v1/signals/webhook"
#define TOKEN_MAX 256

/* One webhook on its way. */
struct wh {
	struct ingest *in;
	struct httpd_req *r;
	int64_t strategy_id;       /* 0 until known */
	int64_t arrival_ms;        /* monotonic, for the cache's verdict */
	const char *token;         /* borrowed from r or a kvlist */
	size_t token_len;
	enum body_format fmt;
	bool decoded;              /* raw and fields hold the body */
	bool stripped;             /* credentials were removed from it */
	struct kvlist raw, fields, query;
	char level[8], priority[4];
	char warning[PARSE_WARNING_MAX]; /* for the answer, or "" */
};

static void wh_free(struct wh *w)
{
	kvlist_release(&w->raw);
	kvlist_release(&w->fields);
	kvlist_release(&w->query);
	free(w);
}

static void answer_error(struct wh *w, const struct ierr *e)
{
	stats_rejected(w->in, e->code);
	httpd_reply_error(w->r, e->status, e->code, e->detail);
	wh_free(w);
}

static void answer(struct wh *w, int status, const char *body, size_t n)
{
	struct ingest *in = w->in;
	lc_series_inc(in->m.accepted);
	lc_series_observe(in->m.ack_s,
			  (double)(val_now_us() - w->r->received_us) / 1e6);
	httpd_reply(w->r, status, body, n, NULL);
	wh_free(w);
}

static void not_found(struct wh *w)
{
	struct ierr e;
	ierr_set(&e, 404, "not_found", "unknown strategy or wrong token");
	answer_error(w, &e);
}

/* ---- the commit's answer ---- */

static void on_committed(void *arg, enum commit_outcome o, int64_t id)
{
	struct wh *w = arg;
	struct ierr e;
	char body[192 + PARSE_WARNING_MAX], idtext[24];
	/* the warning holds nothing to escape (grade.c) */
	const char *wsep = w->warning[0] ? ",\"warning\":\"" : "";
	const char *wend = w->warning[0] ? "\"" : "";
	int n;
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	switch (o) {
	case CO_STORED:
	case CO_DUPLICATE:
		n = snprintf(body, sizeof(body),
			     "{\"status\":\"%s\",\"id\":%s,\"level\":\"%s\","
			     "\"priority\":%s%s%s%s%s%s}",
			     o == CO_STORED ? "stored" : "duplicate",
			     id > 0 ? idtext : "null", w->level,
			     w->priority[0] ? "\"" : "",
			     w->priority[0] ? w->priority : "null",
			     w->priority[0] ? "\"" : "", wsep, w->warning,
			     wend);
		answer(w, 200, body, (size_t)n);
		return;
	case CO_SPOOLED:
		n = snprintf(body, sizeof(body),
			     "{\"status\":\"spooled\",\"id\":null,"
			     "\"level\":\"%s\",\"priority\":%s%s%s%s%s%s}",
			     w->level, w->priority[0] ? "\"" : "",
			     w->priority[0] ? w->priority : "null",
			     w->priority[0] ? "\"" : "", wsep, w->warning,
			     wend);
		answer(w, 202, body, (size_t)n);
		return;
	case CO_FAILED:
		ierr_set(&e, 500, "internal",
			 "the database refused the signal");
		break;
	case CO_UNAVAILABLE:
	default:
		ierr_set(&e, 503, "unavailable",
			 "the signal could not be stored; retry later");
		break;
	}
	answer_error(w, &e);
}

/* ---- after authentication ---- */

/* The credentials are not part of the message, and a token is never
 * stored: drop them from the pairs (w->token may point into a list's
 * arena, which stays). */
static void strip_credentials(struct wh *w)
{
	static const char *const keys[] = { "token", "strategy_id" };
	for (size_t i = 0; i < 2; i++) {
		if (kvlist_get(&w->raw, keys[i]) ||
		    kvlist_get(&w->fields, keys[i]))
			w->stripped = true;
		kvlist_remove(&w->raw, keys[i]);
		kvlist_remove(&w->fields, keys[i]);
	}
}

static int decode(struct wh *w, struct ierr *e)
{
	if (w->decoded)
		return 0;
	w->decoded = true;
	if (body_decode(w->fmt, w->r->body, w->r->body_len, &w->raw,
			&w->fields, e) != 0)
		return -1;
	strip_credentials(w);
	return 0;
}

/* The strategy is known and the token right: read and store it. */
static void accept_signal(struct wh *w, const struct strat_info *st)
{
	struct ierr e;
	struct sig s;
	struct parse_ctx pc = { st, w->r->received_us, w->in->dd, NULL, 0,
				w->warning, sizeof(w->warning) };
	const char *prio;
	if (decode(w, &e) != 0) {
		answer_error(w, &e);
		return;
	}
	sig_init(&s);
	/* the row holds the body (raw) plus what is read from it */
	sig_reserve(&s, w->r->body_len + w->r->body_len / 2 + 1024);
	if (w->fmt == BODY_JSON && !w->stripped) {
		/* checked by the decoder: stored as it came, not re-made */
		pc.raw_json = w->r->body;
		pc.raw_json_len = w->r->body_len;
	}
	if (parse_signal(body_fields(w->fmt, &w->raw, &w->fields), &w->raw,
			 &pc, &s, &e) != 0) {
		sig_release(&s);
		answer_error(w, &e);
		return;
	}
	if (w->warning[0]) {
		/* kept rather than refused (grade.h): the sender is told in
		 * the answer, which FreqTrade does not read, so the log and
		 * a counter tell the operator */
		lc_series_inc(w->in->m.bad_strength);
		log_warn("ingest.strength_unreadable",
			 LF_I("strategy_id", st->id),
			 LF_S("warning", w->warning));
	}
	snprintf(w->level, sizeof(w->level), "%s", sig_get(&s, SC_LEVEL));
	prio = sig_get(&s, SC_PRIORITY);
	snprintf(w->priority, sizeof(w->priority), "%s", prio ? prio : "");
	if (commit_submit(w->in->commit, &s, on_committed, w) != 0) {
		sig_release(&s);
		ierr_set(&e, 503, "unavailable", "out of memory");
		answer_error(w, &e);
	}
}

static void after_reload(void *arg, bool refreshed)
{
	struct wh *w = arg;
	struct strat_info st;
	struct ierr e;
	enum st_verdict v = strategies_check(w->in->strats, w->strategy_id,
					     w->token, w->token_len,
					     w->arrival_ms, &st);
	if (v == ST_OK) {
		accept_signal(w, &st);
	} else if (v == ST_NO) {
		not_found(w);
	} else if (refreshed) {
		/* that reload began before this webhook: wait for one more */
		if (strategies_wait(w->in->strats, after_reload, w) != 0) {
			ierr_set(&e, 503, "unavailable",
				 "too many webhooks waiting; retry later");
			answer_error(w, &e);
		}
	} else {
		/* a wrong token or a strategy the cache may not know yet,
		 * and the registry cannot be read: the sender retries */
		ierr_set(&e, 503, "unavailable",
			 "the strategy registry cannot be read; retry later");
		answer_error(w, &e);
	}
}

static void authenticate(struct wh *w)
{
	struct strat_info st;
	struct ierr e;
	if (w->strategy_id <= 0 || !w->token || w->token_len == 0 ||
	    w->token_len > TOKEN_MAX) {
		not_found(w);
		return;
	}
	switch (strategies_check(w->in->strats, w->strategy_id, w->token,
				 w->token_len, w->arrival_ms, &st)) {
	case ST_OK:
		accept_signal(w, &st);
		return;
	case ST_NO:
		not_found(w);
		return;
	case ST_RETRY:
	default:
		if (strategies_wait(w->in->strats, after_reload, w) != 0) {
			ierr_set(&e, 503, "unavailable",
				 "too many webhooks waiting; retry later");
			answer_error(w, &e);
		}
		return;
	}
}

/* ---- routing ---- */

/* "123" -> 123; anything else (or 0) -> 0. */
static int64_t parse_id(const char *s, size_t n)
{
	int64_t v = 0;
	if (n == 0 || n > 10)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 2147483647 ? v : 0;
}

/* The path after PREFIX: "", "/{id}" or "/{id}/{token}". 0, or -1 when
 * it is none of them. */
static int route(struct wh *w, const char *rest)
{
	const char *slash;
	if (*rest == '\0')
		return 0;
	if (*rest != '/' || rest[1] == '\0')
		return -1;
	rest++;
	slash = strchr(rest, '/');
	if (!slash) {
		w->strategy_id = parse_id(rest, strlen(rest));
		return w->strategy_id > 0 ? 0 : -2;
	}
	w->strategy_id = parse_id(rest, (size_t)(slash - rest));
	if (w->strategy_id <= 0 || strchr(slash + 1, '/'))
		return -2;
	w->token = slash + 1;
	w->token_len = strlen(w->token);
	return 0;
}

/* Strategy id and token from the query string or the body, where the
 * path did not give them. Not from a raw body: it is stored whole. */
static int credentials(struct wh *w, struct ierr *e)
{
	const char *id, *tok;
	if (w->r->query &&
	    body_decode_query(w->r->query, w->r->query_len, &w->query, e))
		return -1;
	id = kvlist_get(&w->query, "strategy_id");
	tok = kvlist_get(&w->query, "token");
	if (((!w->strategy_id && !id) || (!w->token && !tok)) &&
	    w->fmt != BODY_RAW) {
		const struct kvlist *f;
		if (body_decode(w->fmt, w->r->body, w->r->body_len, &w->raw,
				&w->fields, e) != 0)
			return -1;
		f = body_fields(w->fmt, &w->raw, &w->fields);
		if (!id)
			id = kvlist_get(f, "strategy_id");
		if (!tok)
			tok = kvlist_get(f, "token");
	}
	if (!w->strategy_id && id)
		w->strategy_id = parse_id(id, strlen(id));
	if (!w->token && tok) {
		w->token = tok;
		w->token_len = strlen(tok);
	}
	return 0;
}

void webhook_handle(struct httpd_req *r, void *arg)
{
	struct ingest *in = arg;
	struct wh *w = calloc(1, sizeof(*w));
	struct ierr e;
	int rv;
	if (!w) {
		httpd_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	w->in = in;
	w->r = r;
	w->arrival_ms = lc_clock_mono_ms();
	kvlist_init(&w->raw);
	kvlist_init(&w->fields);
	kvlist_init(&w->query);
	rv = strncmp(r->path, PREFIX, sizeof(PREFIX) - 1) == 0
		     ? route(w, r->path + sizeof(PREFIX) - 1)
		     : -1;
	if (rv == -1) {
		ierr_set(&e, 404, "not_found", "no such endpoint");
		answer_error(w, &e);
		return;
	}
	if (strcmp(r->method, "POST") != 0) {
		ierr_set(&e, 405, "method_not_allowed",
			 "webhooks are sent with POST");
		answer_error(w, &e);
		return;
	}
	if (rv == -2) { /* a malformed id: as unknown as any other */
		not_found(w);
		return;
	}
	if (body_format_of(r->content_type, &w->fmt) != 0) {
		ierr_set(&e, 415, "unsupported_media_type",
			 "send application/json, "
			 "application/x-www-form-urlencoded or text/plain");
		answer_error(w, &e);
		return;
	}
	if ((!w->strategy_id || !w->token) && credentials(w, &e) != 0) {
		answer_error(w, &e);
		return;
	}
	w->decoded = w->raw.items != NULL;
	if (w->decoded)
		strip_credentials(w);
	authenticate(w);
}

void webhook_refused(int status, const char *code, void *arg)
{
	(void)status;
	stats_rejected(arg, code);
}
