/*
 * The RPC methods the gateway (and the notifier) read signals with:
 *
 *   ingest.signals.list      filters strategy_id, pair, action, level,
 *                            since, until (received_at); keyset paging
 *                            on id (after_id / before_id, order, limit)
 *   ingest.signals.get       one signal with its raw body
 *   ingest.signal_stats.get  counts per level and per strategy and level
 *
 * Shapes: proto/schemas/methods/ingest.*. Every value goes to PostgreSQL
 * as a parameter; the SQL text only ever holds our own fragments.
 */
#include "services/signal-ingest/ingest.h"

#include "libcommon/bus.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define MAX_PARAMS 12

#define TS(col)                                                        \
	"to_char(" col " AT TIME ZONE 'UTC', "                         \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The columns of a signal, in the order row_json reads them. */
static const char select_cols[] =
	"SELECT s.id, s.strategy_id, st.name, s.action, s.pair,"
	" s.direction, s.trade_id,"
	" coalesce(CASE WHEN s.action LIKE 'entry%' THEN s.open_rate"
	" WHEN s.action LIKE 'exit%' THEN coalesce(s.close_rate,"
	" s.limit_rate) END, s.current_rate),"
	" s.amount, s.stake_amount, s.stake_currency, s.profit_ratio,"
	" s.profit_abs, s.enter_tag, s.exit_reason, s.strength, s.level,"
	" s.priority, s.indicators::text, s.message, " TS("s.event_at") ","
	" " TS("s.received_at");

enum { C_NUM, C_TEXT, C_JSON };

static const struct {
	const char *name;
	int kind;
} out_cols[] = {
	{ "id", C_NUM },           { "strategy_id", C_NUM },
	{ "strategy_name", C_TEXT }, { "action", C_TEXT },
	{ "pair", C_TEXT },        { "direction", C_TEXT },
	{ "trade_id", C_NUM },     { "rate", C_NUM },
	{ "amount", C_NUM },       { "stake_amount", C_NUM },
	{ "stake_currency", C_TEXT }, { "profit_ratio", C_NUM },
	{ "profit_abs", C_NUM },   { "enter_tag", C_TEXT },
	{ "exit_reason", C_TEXT }, { "strength", C_NUM },
	{ "level", C_TEXT },       { "priority", C_TEXT },
	{ "indicators", C_JSON },  { "message", C_TEXT },
	{ "event_at", C_TEXT },    { "received_at", C_TEXT },
	{ "raw", C_JSON },
};
#define NOUT (sizeof(out_cols) / sizeof(*out_cols))

/* A request being answered. */
struct q {
	struct lc_bus_req *req;
	bool with_raw;
	int limit;
	char since[40], until[40];
	bool has_since, has_until;
};

/* Query parameters being collected (text, as libpq takes them). */
struct qp {
	char text[MAX_PARAMS][80];
	const char *v[MAX_PARAMS];
	int n;
	struct lc_buf sql;
	bool oom;           /* the SQL could not be built */
};

/* Append text to the SQL; a failure is remembered, not returned, so
 * that -1 from a filter always means "refused and answered". */
static void sql_add(struct qp *p, const char *text)
{
	if (lc_buf_append_str(&p->sql, text) != 0)
		p->oom = true;
}

/* Append " AND <lhs>$n<cast>" with value as the next parameter. */
static int where(struct qp *p, const char *lhs, const char *cast,
		 const char *value)
{
	int i = p->n++;
	snprintf(p->text[i], sizeof(p->text[i]), "%s", value);
	p->v[i] = p->text[i];
	if (lc_buf_printf(&p->sql, " AND %s$%d%s", lhs, i + 1, cast) != 0)
		p->oom = true;
	return 0;
}

/* ---- replies ---- */

static cJSON *row_json(const PGresult *res, int row, bool with_raw)
{
	cJSON *o = cJSON_CreateObject();
	int ncol = with_raw ? (int)NOUT : (int)NOUT - 1;
	for (int i = 0; o && i < ncol; i++) {
		const char *v = PQgetvalue(res, row, i);
		bool null = PQgetisnull(res, row, i), ok;
		if (null)
			ok = cJSON_AddNullToObject(o, out_cols[i].name);
		else if (out_cols[i].kind == C_TEXT)
			ok = cJSON_AddStringToObject(o, out_cols[i].name, v);
		else
			ok = cJSON_AddRawToObject(o, out_cols[i].name, v);
		if (!ok) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

static void reply_db_error(struct lc_bus_req *req, const PGresult *res,
			   const char *err)
{
	log_warn("ingest.query_failed", LF_S("error", err),
		 LF_S("method", lc_bus_req_method(req)));
	if (res)
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "the query failed");
	else
		lc_bus_reply_err(req, BTCW_ERR_UNAVAILABLE,
				 "the database is unavailable");
}

static void on_list(const PGresult *res, const char *err, void *arg)
{
	struct q *q = arg;
	cJSON *out, *list;
	int n;
	if (err) {
		reply_db_error(q->req, res, err);
		free(q);
		return;
	}
	n = PQntuples(res);
	out = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(out, "signals");
	for (int i = 0; list && i < n && i < q->limit; i++) {
		cJSON *r = row_json(res, i, q->with_raw);
		if (!r)
			break;
		cJSON_AddItemToArray(list, r);
	}
	cJSON_AddBoolToObject(out, "has_more", n > q->limit);
	lc_bus_reply_ok(q->req, out);
	free(q);
}

static void on_get(const PGresult *res, const char *err, void *arg)
{
	struct q *q = arg;
	cJSON *r;
	if (err) {
		reply_db_error(q->req, res, err);
	} else if (PQntuples(res) == 0) {
		lc_bus_reply_err(q->req, BTCW_ERR_NOT_FOUND, "no such signal");
	} else if ((r = row_json(res, 0, true)) == NULL) {
		lc_bus_reply_err(q->req, BTCW_ERR_INTERNAL, "out of memory");
	} else {
		lc_bus_reply_ok(q->req, r);
	}
	free(q);
}

/* ---- params ---- */

static int invalid(struct lc_bus_req *req, const char *field,
		   const char *why)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "field", field);
	lc_bus_reply_err_details(req, BTCW_ERR_INVALID, d, "%s: %s", field,
				 why);
	return -1;
}

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

/* RFC 3339 UTC with Z, as the proto's timestamp. */
static bool ts_ok(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9')
				    : s[i] != shape[i])
			return false;
	}
	s += i;
	if (*s == '.') {
		size_t n = strspn(++s, "0123456789");
		if (n < 1 || n > 9)
			return false;
		s += n;
	}
	return strcmp(s, "Z") == 0;
}

static bool pair_like(const char *s)
{
	size_t n = strlen(s);
	return n >= 3 && n <= 64 && strchr(s, '/') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-/:") == n;
}

/* An integer id >= 1 (a JSON number without fraction). */
static bool id_ok(const cJSON *v, int64_t *out)
{
	double d;
	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (d < 1 || d > 9007199254740991.0 || floor(d) != d)
		return false;
	*out = (int64_t)d;
	return true;
}

static const char *const actions[] = {
	"entry", "entry_fill", "entry_cancel", "exit", "exit_fill",
	"exit_cancel", "status", "warning", "exception", "startup",
	"protection_trigger", "protection_trigger_global", "strategy_msg",
	NULL
};
static const char *const levels[] = { "strong", "medium", "weak",
				      "ignore", NULL };

/* Every member of params must be one of names. */
static int only(struct lc_bus_req *req, const cJSON *params,
		const char *const *names)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, params)
		if (!one_of(m->string, names))
			return invalid(req, m->string, "unknown parameter");
	return 0;
}

/* A string filter (pair, action, level) as "s.<col> = $n". */
static int text_filter(struct lc_bus_req *req, const cJSON *params,
		       const char *name, const char *const *set,
		       struct qp *p)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	char lhs[32];
	if (!v)
		return 0;
	if (!cJSON_IsString(v) ||
	    (set ? !one_of(v->valuestring, set) : !pair_like(v->valuestring)))
		return invalid(req, name, "not an accepted value");
	snprintf(lhs, sizeof(lhs), "s.%s = ", name);
	return where(p, lhs, "", v->valuestring) != 0
		       ? invalid(req, name, "too long")
		       : 0;
}

/* since / until: received_at >= since, < until. */
static int time_filters(struct lc_bus_req *req, const cJSON *params,
			struct qp *p, struct q *q)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(params, "since");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(params, "until");
	if (s && (!cJSON_IsString(s) || !ts_ok(s->valuestring) ||
		  strlen(s->valuestring) >= sizeof(q->since)))
		return invalid(req, "since", "not an RFC 3339 UTC time");
	if (u && (!cJSON_IsString(u) || !ts_ok(u->valuestring) ||
		  strlen(u->valuestring) >= sizeof(q->until)))
		return invalid(req, "until", "not an RFC 3339 UTC time");
	if (s) {
		q->has_since = true;
		snprintf(q->since, sizeof(q->since), "%s", s->valuestring);
		if (where(p, "s.received_at >= ", "::timestamptz", q->since))
			return invalid(req, "since", "too long");
	}
	if (u) {
		q->has_until = true;
		snprintf(q->until, sizeof(q->until), "%s", u->valuestring);
		if (where(p, "s.received_at < ", "::timestamptz", q->until))
			return invalid(req, "until", "too long");
	}
	return 0;
}

static int id_filter(struct lc_bus_req *req, const cJSON *params,
		     const char *name, const char *lhs, struct qp *p)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	char text[24];
	int64_t id;
	if (!v)
		return 0;
	if (!id_ok(v, &id))
		return invalid(req, name, "not an id (an integer >= 1)");
	snprintf(text, sizeof(text), "%lld", (long long)id);
	return where(p, lhs, "", text) != 0 ? invalid(req, name, "too long")
					    : 0;
}

static int list_paging(struct lc_bus_req *req, const cJSON *params,
		       struct q *q, bool *asc)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(params, "order");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(params, "limit");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(params,
							  "include_raw");
	static const char *const orders[] = { "asc", "desc", NULL };
	int64_t lim = LIST_DEFAULT;
	if (o && (!cJSON_IsString(o) || !one_of(o->valuestring, orders)))
		return invalid(req, "order", "asc or desc");
	*asc = o && strcmp(o->valuestring, "asc") == 0;
	if (l && (!id_ok(l, &lim) || lim > LIST_MAX))
		return invalid(req, "limit", "an integer from 1 to 1000");
	q->limit = (int)lim;
	if (r && !cJSON_IsBool(r))
		return invalid(req, "include_raw", "true or false");
	q->with_raw = r && cJSON_IsTrue(r);
	return 0;
}

/* The filters every list and stats query shares. */
static int filters(struct lc_bus_req *req, const cJSON *params,
		   struct qp *p, struct q *q)
{
	if (id_filter(req, params, "strategy_id", "s.strategy_id = ", p) ||
	    time_filters(req, params, p, q))
		return -1;
	return 0;
}

static void run(struct ingest *in, struct lc_bus_req *req, struct qp *p,
		struct q *q, lc_db_result_cb cb)
{
	if (p->oom || !p->sql.data ||
	    lc_db_query(in->svc->db, p->sql.data, p->n, p->v, cb, q) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
		free(q);
	}
	lc_buf_release(&p->sql);
}

static struct q *q_new(struct lc_bus_req *req, struct qp *p)
{
	struct q *q = calloc(1, sizeof(*q));
	memset(p, 0, sizeof(*p));
	lc_buf_init(&p->sql, 8192);
	if (!q)
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
	else
		q->req = req;
	return q;
}

/* A parameter was refused (and answered). */
static void q_refused(struct q *q, struct qp *p)
{
	lc_buf_release(&p->sql);
	free(q);
}

static const char from_where[] =
	" FROM signals s JOIN strategies st ON st.id = s.strategy_id"
	" WHERE true";

static void rpc_list(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const names[] = {
		"strategy_id", "pair", "action", "level", "since", "until",
		"after_id", "before_id", "order", "limit", "include_raw", NULL
	};
	struct qp p;
	struct q *q = q_new(req, &p);
	bool asc = false;
	char tail[64];
	if (!q)
		return;
	if (only(req, params, names) || list_paging(req, params, q, &asc)) {
		q_refused(q, &p);
		return;
	}
	sql_add(&p, select_cols);
	if (q->with_raw)
		sql_add(&p, ", s.raw::text");
	sql_add(&p, from_where);
	if (filters(req, params, &p, q) ||
	    text_filter(req, params, "pair", NULL, &p) ||
	    text_filter(req, params, "action", actions, &p) ||
	    text_filter(req, params, "level", levels, &p) ||
	    id_filter(req, params, "after_id", "s.id > ", &p) ||
	    id_filter(req, params, "before_id", "s.id < ", &p)) {
		q_refused(q, &p);
		return;
	}
	snprintf(tail, sizeof(tail), " ORDER BY s.id %s LIMIT %d",
		 asc ? "ASC" : "DESC", q->limit + 1);
	sql_add(&p, tail);
	run(arg, req, &p, q, on_list);
}

static void rpc_get(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const names[] = { "id", NULL };
	struct qp p;
	struct q *q = q_new(req, &p);
	if (!q)
		return;
	if (!cJSON_GetObjectItemCaseSensitive(params, "id")) {
		invalid(req, "id", "required");
		q_refused(q, &p);
		return;
	}
	sql_add(&p, select_cols);
	sql_add(&p, ", s.raw::text");
	sql_add(&p, from_where);
	if (only(req, params, names) ||
	    id_filter(req, params, "id", "s.id = ", &p)) {
		q_refused(q, &p);
		return;
	}
	run(arg, req, &p, q, on_get);
}

/* ---- stats ---- */

static void add_count(cJSON *o, const char *name, const char *v)
{
	cJSON_AddRawToObject(o, name, v && *v ? v : "0");
}

static cJSON *strategy_stats(const PGresult *res, int row, int64_t *sum)
{
	static const char *const names[] = { "total", "strong", "medium",
					     "weak", "ignore" };
	cJSON *o = cJSON_CreateObject();
	cJSON_AddRawToObject(o, "strategy_id", PQgetvalue(res, row, 0));
	cJSON_AddStringToObject(o, "strategy_name", PQgetvalue(res, row, 1));
	for (int i = 0; i < 5; i++) {
		add_count(o, names[i], PQgetvalue(res, row, 2 + i));
		sum[i] += strtoll(PQgetvalue(res, row, 2 + i), NULL, 10);
	}
	if (PQgetisnull(res, row, 7))
		cJSON_AddNullToObject(o, "last_signal_at");
	else
		cJSON_AddStringToObject(o, "last_signal_at",
					PQgetvalue(res, row, 7));
	return o;
}

static void on_stats(const PGresult *res, const char *err, void *arg)
{
	struct q *q = arg;
	int64_t sum[5] = { 0 };
	char num[24];
	cJSON *out, *by_level, *by_strategy;
	if (err) {
		reply_db_error(q->req, res, err);
		free(q);
		return;
	}
	out = cJSON_CreateObject();
	if (q->has_since)
		cJSON_AddStringToObject(out, "since", q->since);
	else
		cJSON_AddNullToObject(out, "since");
	if (q->has_until)
		cJSON_AddStringToObject(out, "until", q->until);
	else
		cJSON_AddNullToObject(out, "until");
	by_strategy = cJSON_CreateArray();
	for (int i = 0; i < PQntuples(res); i++)
		cJSON_AddItemToArray(by_strategy,
				     strategy_stats(res, i, sum));
	snprintf(num, sizeof(num), "%lld", (long long)sum[0]);
	cJSON_AddRawToObject(out, "total", num);
	by_level = cJSON_AddObjectToObject(out, "by_level");
	for (int i = 1; i < 5; i++) {
		static const char *const lv[] = { "", "strong", "medium",
						  "weak", "ignore" };
		snprintf(num, sizeof(num), "%lld", (long long)sum[i]);
		cJSON_AddRawToObject(by_level, lv[i], num);
	}
	cJSON_AddItemToObject(out, "by_strategy", by_strategy);
	lc_bus_reply_ok(q->req, out);
	free(q);
}

static void rpc_stats(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const names[] = { "strategy_id", "since", "until",
					     NULL };
	struct qp p;
	struct q *q = q_new(req, &p);
	if (!q)
		return;
	sql_add(&p, "SELECT s.strategy_id, st.name, count(*),"
		    " count(*) FILTER (WHERE s.level = 'strong'),"
		    " count(*) FILTER (WHERE s.level = 'medium'),"
		    " count(*) FILTER (WHERE s.level = 'weak'),"
		    " count(*) FILTER (WHERE s.level = 'ignore'), "
		    TS("max(s.received_at)"));
	sql_add(&p, from_where);
	if (only(req, params, names) || filters(req, params, &p, q)) {
		q_refused(q, &p);
		return;
	}
	sql_add(&p, " GROUP BY s.strategy_id, st.name ORDER BY s.strategy_id");
	run(arg, req, &p, q, on_stats);
}

int query_register(struct ingest *in)
{
	struct lc_bus_server *rpc = in->svc->rpc;
	if (lc_bus_server_handle(rpc, BTCW_METHOD_INGEST_SIGNALS_LIST,
				 rpc_list, in) != 0 ||
	    lc_bus_server_handle(rpc, BTCW_METHOD_INGEST_SIGNALS_GET, rpc_get,
				 in) != 0 ||
	    lc_bus_server_handle(rpc, BTCW_METHOD_INGEST_SIGNAL_STATS_GET,
				 rpc_stats, in) != 0)
		return -1;
	return 0;
}
