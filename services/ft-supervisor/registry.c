/*
 * The registry in memory and its write-back.
 *
 * Every live strategy (not deleted) is a struct bot, kept in an array
 * sorted by id (binary search; a few thousand at most). Registry fields
 * (name ... extra_config) are written by create/update/delete with their
 * own statements (rpc.c), because their errors go back to the caller.
 * Lifecycle columns (status, port, pid, crash counters ...) change
 * often and from the loop's own events, so they are written back in
 * batches: a changed bot is marked dirty, and one flush at a time sends
 * every dirty bot in a single UPDATE ... FROM jsonb_to_recordset.
 *
 * Why batched: 999 bots starting at once would otherwise queue thousands
 * of single-row statements; and one flush at a time keeps the writes in
 * order (two statements for one row on two pool connections could land
 * in either order). A failed flush marks its bots dirty again and the
 * next tick retries: the bots keep running while PostgreSQL is away.
 *
 * Why two statements in a transaction: the unique index on port is
 * checked row by row, so a batch where one bot hands a port to another
 * would fail depending on row order; clearing the batch's ports first
 * makes any order valid.
 */
#include "services/ft-supervisor/sup.h"

#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/metrics.h"
#include "libcommon/svc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_DELAY_MS 20     /* gather changes made in one burst */
#define FLUSH_RETRY_MS 1000   /* after a failed flush */

static const char *const status_names[ST_NSTATUS] = {
	[ST_CREATED] = "created",   [ST_STARTING] = "starting",
	[ST_RUNNING] = "running",   [ST_STOPPING] = "stopping",
	[ST_STOPPED] = "stopped",   [ST_FAILED] = "failed",
	[ST_DELETED] = "deleted",
};

const char *status_name(enum bot_status st)
{
	return (unsigned)st < ST_NSTATUS ? status_names[st] : "failed";
}

int status_parse(const char *s)
{
	for (int i = 0; i < ST_NSTATUS; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

/* ---- the bots in memory ---- */

struct bot *bot_new(struct sup *s, int id)
{
	struct bot *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->sup = s;
	b->id = id;
	b->pidfd = -1;
	b->exit_code = -1;
	b->status = ST_CREATED;
	const struct lc_cfg_sys_restart *r =
		&sup_cfg(s)->system.freqtrade.restart;
	lc_backoff_init(&b->backoff, r->backoff_base_ms, r->backoff_max_ms,
			(uint64_t)id * 0x9E3779B97F4A7C15ull ^
				(uint64_t)lc_clock_mono_ms());
	return b;
}

void bot_free(struct bot *b)
{
	if (!b)
		return;
	if (b->ev_timer)
		event_free(b->ev_timer);
	if (b->ev_poll)
		event_free(b->ev_poll);
	if (b->ev_pidfd)
		event_free(b->ev_pidfd);
	if (b->pidfd >= 0)
		close(b->pidfd);
	cJSON_Delete(b->spec);
	free(b);
}

/* Index of id, or of where it would go (*found false). */
static size_t bots_index(const struct sup *s, int id, bool *found)
{
	size_t lo = 0, hi = s->nbots;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->bots[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->nbots && s->bots[lo]->id == id;
	return lo;
}

struct bot *bots_find(const struct sup *s, int id)
{
	bool found;
	size_t i = bots_index(s, id, &found);
	return found ? s->bots[i] : NULL;
}

int bots_add(struct sup *s, struct bot *b)
{
	bool found;
	size_t i = bots_index(s, b->id, &found);
	if (found)
		return -1;
	if (s->nbots == s->capbots) {
		size_t cap = s->capbots ? s->capbots * 2 : 64;
		struct bot **v = realloc(s->bots, cap * sizeof(*v));
		if (!v)
			return -1;
		s->bots = v;
		s->capbots = cap;
	}
	memmove(&s->bots[i + 1], &s->bots[i],
		(s->nbots - i) * sizeof(*s->bots));
	s->bots[i] = b;
	s->nbots++;
	s->status_count[b->status]++;
	sup_update_gauges(s);
	return 0;
}

void bots_remove(struct sup *s, struct bot *b)
{
	bool found;
	size_t i = bots_index(s, b->id, &found);
	if (!found || s->bots[i] != b)
		return;
	memmove(&s->bots[i], &s->bots[i + 1],
		(s->nbots - i - 1) * sizeof(*s->bots));
	s->nbots--;
	s->status_count[b->status]--;
	sup_update_gauges(s);
}

void bot_set_status(struct bot *b, enum bot_status st)
{
	struct sup *s = b->sup;
	if (b->status == st)
		return;
	if (bots_find(s, b->id) == b) {
		s->status_count[b->status]--;
		s->status_count[st]++;
	}
	b->status = st;
	sup_update_gauges(s);
}

const char *bot_name(const struct bot *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->spec, "name");
	return cJSON_IsString(v) ? v->valuestring : "?";
}

const char *bot_version(const struct bot *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->spec,
							  "version");
	return cJSON_IsString(v) ? v->valuestring : "v1.0";
}

/* ---- rows ---- */

#define MS(c) "(extract(epoch FROM " c ") * 1000)::int8"

/* Keep in step with enum col. */
const char *const registry_columns =
	"id, name, strategy_class, exchange, timeframe, pair_whitelist::text,"
	" proxy_id, threshold_strong::float8, threshold_medium::float8,"
	" threshold_weak::float8, version, auto_start, extra_config::text,"
	" status, desired_state, port, webhook_token, api_username,"
	" api_password, pid, pid_starttime, restart_count, recent_restarts, "
	MS("recent_restarts_since") ", last_failure_reason, "
	MS("last_failure_at") ", " MS("started_at") ", " MS("stopped_at") ", "
	MS("created_at") ", " MS("updated_at") ", " MS("deleted_at") ","
	" pid_boot_id::text";

enum col {
	C_ID, C_NAME, C_CLASS, C_EXCHANGE, C_TIMEFRAME, C_PAIRS, C_PROXY,
	C_STRONG, C_MEDIUM, C_WEAK, C_VERSION, C_AUTO, C_EXTRA, C_STATUS,
	C_DESIRED, C_PORT, C_TOKEN, C_USER, C_PASS, C_PID, C_STARTTIME,
	C_RESTARTS, C_RECENT, C_RECENT_SINCE, C_REASON, C_FAILED_AT,
	C_STARTED, C_STOPPED, C_CREATED, C_UPDATED, C_DELETED, C_BOOT,
	C_NCOLS,
};

static const char *val(const PGresult *r, int row, enum col c)
{
	return PQgetisnull(r, row, (int)c) ? NULL
					    : PQgetvalue(r, row, (int)c);
}

static long long num(const PGresult *r, int row, enum col c)
{
	const char *v = val(r, row, c);
	return v ? strtoll(v, NULL, 10) : 0;
}

static void spec_add_json(cJSON *spec, const char *key, const char *text)
{
	cJSON *v = text ? cJSON_Parse(text) : NULL;
	cJSON_AddItemToObject(spec, key, v ? v : cJSON_CreateNull());
}

static cJSON *spec_from_row(const PGresult *r, int row)
{
	cJSON *spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "name", val(r, row, C_NAME));
	cJSON_AddStringToObject(spec, "strategy_class", val(r, row, C_CLASS));
	cJSON_AddStringToObject(spec, "exchange", val(r, row, C_EXCHANGE));
	cJSON_AddStringToObject(spec, "timeframe", val(r, row, C_TIMEFRAME));
	spec_add_json(spec, "pair_whitelist", val(r, row, C_PAIRS));
	const char *px = val(r, row, C_PROXY);
	long long pid = px ? strtoll(px, NULL, 10) : 0;
	if (pid > 0)
		cJSON_AddNumberToObject(spec, "proxy_id", (double)pid);
	else
		cJSON_AddNullToObject(spec, "proxy_id");
	cJSON *t = cJSON_AddObjectToObject(spec, "thresholds");
	cJSON_AddNumberToObject(t, "strong",
				strtod(val(r, row, C_STRONG), NULL));
	cJSON_AddNumberToObject(t, "medium",
				strtod(val(r, row, C_MEDIUM), NULL));
	cJSON_AddNumberToObject(t, "weak", strtod(val(r, row, C_WEAK), NULL));
	cJSON_AddBoolToObject(spec, "auto_start",
			      strcmp(val(r, row, C_AUTO), "t") == 0);
	cJSON_AddStringToObject(spec, "version", val(r, row, C_VERSION));
	spec_add_json(spec, "extra_config", val(r, row, C_EXTRA));
	return spec;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

struct bot *bot_from_row(struct sup *s, const void *pgres, int row)
{
	const PGresult *r = pgres;
	if (PQnfields(r) != C_NCOLS || !val(r, row, C_NAME))
		return NULL;
	struct bot *b = bot_new(s, (int)num(r, row, C_ID));
	if (!b)
		return NULL;
	b->spec = spec_from_row(r, row);
	int st = status_parse(val(r, row, C_STATUS));
	b->status = st < 0 ? ST_FAILED : (enum bot_status)st;
	b->want_run = strcmp(val(r, row, C_DESIRED), "running") == 0;
	b->port = (int)num(r, row, C_PORT);
	copy_str(b->token, sizeof(b->token), val(r, row, C_TOKEN));
	copy_str(b->api_user, sizeof(b->api_user), val(r, row, C_USER));
	copy_str(b->api_pass, sizeof(b->api_pass), val(r, row, C_PASS));
	b->pid = (pid_t)num(r, row, C_PID);
	b->starttime = (unsigned long long)num(r, row, C_STARTTIME);
	b->restart_count = (int)num(r, row, C_RESTARTS);
	b->recent_restarts = (int)num(r, row, C_RECENT);
	b->recent_since = num(r, row, C_RECENT_SINCE);
	copy_str(b->last_error, sizeof(b->last_error),
		 val(r, row, C_REASON));
	b->failed_ms = num(r, row, C_FAILED_AT);
	b->started_ms = num(r, row, C_STARTED);
	b->stopped_ms = num(r, row, C_STOPPED);
	b->created_ms = num(r, row, C_CREATED);
	b->updated_ms = num(r, row, C_UPDATED);
	b->deleted_ms = num(r, row, C_DELETED);
	copy_str(b->db_boot_id, sizeof(b->db_boot_id), val(r, row, C_BOOT));
	return b;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	if (ms > 0)
		cJSON_AddStringToObject(o, key, lc_clock_rfc3339(ts, ms));
	else
		cJSON_AddNullToObject(o, key);
}

cJSON *bot_json(const struct bot *b)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", b->id);
	for (const cJSON *c = b->spec ? b->spec->child : NULL; c; c = c->next)
		cJSON_AddItemToObject(o, c->string, cJSON_Duplicate(c, 1));
	cJSON_AddStringToObject(o, "status", status_name(b->status));
	if (b->port > 0)
		cJSON_AddNumberToObject(o, "port", b->port);
	else
		cJSON_AddNullToObject(o, "port");
	cJSON_AddNumberToObject(o, "restart_count", b->restart_count);
	if (b->last_error[0])
		cJSON_AddStringToObject(o, "last_error", b->last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	add_time(o, "created_at", b->created_ms);
	add_time(o, "updated_at", b->updated_ms);
	add_time(o, "started_at", b->started_ms);
	add_time(o, "deleted_at", b->deleted_ms);
	return o;
}

/* ---- write-back ---- */

static const char *const sql_clear_ports =
	"UPDATE strategies SET port = NULL"
	" WHERE id = ANY($1::int[]) AND port IS NOT NULL";

#define TS(x) "to_timestamp(v." x " / 1000.0)"
static const char *const sql_flush =
	"UPDATE strategies s SET status = v.status,"
	" desired_state = v.desired, port = v.port, pid = v.pid,"
	" pid_starttime = v.pid_starttime, pid_boot_id = v.pid_boot_id,"
	" started_at = " TS("started_ms") ", stopped_at = " TS("stopped_ms")
	", restart_count = v.restart_count,"
	" recent_restarts = v.recent_restarts,"
	" recent_restarts_since = " TS("recent_since_ms") ","
	" last_failure_reason = v.last_error,"
	" last_failure_at = " TS("failed_ms") ","
	" freqtrade_version = v.ft_version"
	" FROM jsonb_to_recordset($1::jsonb) AS v(id int, status text,"
	" desired text, port int, pid int, pid_starttime int8,"
	" pid_boot_id uuid, started_ms float8, stopped_ms float8,"
	" restart_count int, recent_restarts int, recent_since_ms float8,"
	" last_error text, failed_ms float8, ft_version text)"
	" WHERE s.id = v.id AND s.deleted_at IS NULL";

struct flush {
	struct sup *s;
	int *ids;         /* the bots in this batch */
	size_t n;
	int pending;      /* statements not yet called back */
	bool failed;
};

static void add_ms(cJSON *o, const char *key, int64_t ms)
{
	if (ms > 0)
		cJSON_AddNumberToObject(o, key, (double)ms);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *flush_row(const struct bot *b)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", b->id);
	cJSON_AddStringToObject(o, "status", status_name(b->status));
	cJSON_AddStringToObject(o, "desired",
				b->want_run ? "running" : "stopped");
	if (b->port > 0)
		cJSON_AddNumberToObject(o, "port", b->port);
	if (b->pid > 0) {
		cJSON_AddNumberToObject(o, "pid", b->pid);
		cJSON_AddNumberToObject(o, "pid_starttime",
					(double)b->starttime);
		cJSON_AddStringToObject(o, "pid_boot_id",
					b->sup->kernel_boot_id);
		cJSON_AddStringToObject(o, "ft_version", b->sup->version);
	}
	add_ms(o, "started_ms", b->started_ms);
	add_ms(o, "stopped_ms", b->stopped_ms);
	cJSON_AddNumberToObject(o, "restart_count", b->restart_count);
	cJSON_AddNumberToObject(o, "recent_restarts", b->recent_restarts);
	add_ms(o, "recent_since_ms", b->recent_since);
	if (b->last_error[0])
		cJSON_AddStringToObject(o, "last_error", b->last_error);
	add_ms(o, "failed_ms", b->failed_ms);
	return o;
}

static void schedule_flush(struct sup *s, int64_t ms)
{
	struct timeval tv;
	lc_clock_tv(&tv, ms);
	if (s->ev_flush && !evtimer_pending(s->ev_flush, NULL))
		evtimer_add(s->ev_flush, &tv);
}

void bot_mark_dirty(struct bot *b)
{
	b->dirty = true;
	if (!b->sup->flush_busy)
		schedule_flush(b->sup, FLUSH_DELAY_MS);
}

bool registry_flush_idle(const struct sup *s)
{
	if (s->flush_busy)
		return false;
	for (size_t i = 0; i < s->nbots; i++)
		if (s->bots[i]->dirty)
			return false;
	return true;
}

static void flush_done(struct flush *f)
{
	struct sup *s = f->s;
	s->flush_busy = false;
	if (f->failed && !s->dying) {
		for (size_t i = 0; i < f->n; i++) {
			struct bot *b = bots_find(s, f->ids[i]);
			if (b)
				b->dirty = true;
		}
		s->flush_failures++;
	} else if (!f->failed) {
		s->flush_failures = 0;
	}
	free(f->ids);
	free(f);
	if (s->dying)
		return;
	if (!registry_flush_idle(s))
		schedule_flush(s, s->flush_failures ? FLUSH_RETRY_MS
						     : FLUSH_DELAY_MS);
	if (s->shutting_down)
		sup_check_drained(s);
}

/* Each statement of the batch calls back once; the last one finishes. */
static void step_done(struct flush *f)
{
	if (--f->pending == 0)
		flush_done(f);
}

static void on_step(const PGresult *res, const char *err, void *arg)
{
	struct flush *f = arg;
	(void)res;
	if (err && !f->failed) {
		f->failed = true;
		if (!f->s->dying)
			log_warn("registry.flush_failed", LF_S("error", err),
				 LF_I("bots", f->n));
	}
	step_done(f);
}

static void on_commit(const PGresult *res, const char *err, void *arg)
{
	struct flush *f = arg;
	if (!err && strcmp(PQcmdStatus((PGresult *)res), "COMMIT") != 0)
		f->failed = true;
	on_step(res, err, arg);
}

static char *ids_array(const struct flush *f)
{
	size_t cap = f->n * 12 + 3;
	char *a = malloc(cap);
	if (!a)
		return NULL;
	size_t len = 0;
	a[len++] = '{';
	for (size_t i = 0; i < f->n; i++)
		len += (size_t)snprintf(a + len, cap - len, "%s%d",
					i ? "," : "", f->ids[i]);
	snprintf(a + len, cap - len, "}");
	return a;
}

static void submit(struct flush *f, struct lc_db_conn *c, const char *sql,
		   const char *param, lc_db_result_cb cb)
{
	const char *p[] = { param };
	if (lc_db_conn_query(c, sql, param ? 1 : 0, param ? p : NULL, cb,
			     f) == 0)
		f->pending++;
	else
		f->failed = true;
}

static void run_flush(struct flush *f, struct lc_db_conn *c,
		      const char *json)
{
	char *ids = ids_array(f);
	f->pending = 1; /* held until every statement is submitted */
	if (ids) {
		submit(f, c, "BEGIN", NULL, on_step);
		submit(f, c, sql_clear_ports, ids, on_step);
		submit(f, c, sql_flush, json, on_step);
		submit(f, c, "COMMIT", NULL, on_commit);
	} else {
		f->failed = true;
	}
	free(ids);
	lc_db_release(c);
	step_done(f);
}

/* The batch's JSON, rebuilt from the bots at send time. */
static char *batch_json(struct flush *f)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < f->n; i++) {
		struct bot *b = bots_find(f->s, f->ids[i]);
		if (b)
			cJSON_AddItemToArray(arr, flush_row(b));
	}
	char *txt = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return txt;
}

static void on_conn(struct lc_db_conn *c, const char *err, void *arg)
{
	struct flush *f = arg;
	if (!c) {
		f->failed = true;
		if (!f->s->dying)
			log_warn("registry.flush_failed",
				 LF_S("error", err), LF_I("bots", f->n));
		flush_done(f);
		return;
	}
	char *json = f->s->dying ? NULL : batch_json(f);
	if (!json) {
		f->failed = true;
		lc_db_release(c);
		flush_done(f);
		return;
	}
	run_flush(f, c, json);
	cJSON_free(json);
}

void registry_flush(struct sup *s)
{
	if (s->flush_busy || s->dying)
		return;
	struct flush *f = calloc(1, sizeof(*f));
	f->ids = calloc(s->nbots + 1, sizeof(int));
	if (!f || !f->ids) {
		if (f)
			free(f->ids);
		free(f);
		schedule_flush(s, FLUSH_RETRY_MS);
		return;
	}
	f->s = s;
	for (size_t i = 0; i < s->nbots; i++)
		if (s->bots[i]->dirty) {
			f->ids[f->n++] = s->bots[i]->id;
			s->bots[i]->dirty = false;
		}
	if (f->n == 0) {
		free(f->ids);
		free(f);
		return;
	}
	s->flush_busy = true;
	if (lc_db_acquire(s->svc->db, on_conn, f) != 0) {
		f->failed = true;
		flush_done(f);
	}
}
