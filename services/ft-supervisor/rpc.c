/*
 * supervisor.strategies.create / get / list / update / delete, and the
 * helpers every handler shares (rpc.h).
 *
 * Live strategies are answered from memory (their lifecycle columns
 * there are newer than the database's by up to one flush); deleted ones
 * come from the database. Every invalid input is refused before
 * anything is written, with the field it concerns in details.field.
 */
#include "services/ft-supervisor/rpc.h"

#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/ft-supervisor/sup.h"
#include "services/ft-supervisor/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIST_DEFAULT 1000

/* ---- helpers ---- */

bool rpc_ready(struct sup *s, struct lc_bus_req *req)
{
	if (s->shutting_down) {
		lc_bus_reply_err(req, BTCW_ERR_UNAVAILABLE,
				 "the supervisor is shutting down");
		return false;
	}
	if (!s->reconciled) {
		lc_bus_reply_err(req, BTCW_ERR_UNAVAILABLE,
				 "the supervisor is still reconciling its "
				 "bots; retry shortly");
		return false;
	}
	return true;
}

static cJSON *field_details(const char *field)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "field", field);
	return d;
}

bool rpc_only(struct lc_bus_req *req, const cJSON *params,
	      const char *const *keys)
{
	for (const cJSON *c = params->child; c; c = c->next) {
		const char *const *k = keys;
		while (*k && strcmp(*k, c->string) != 0)
			k++;
		if (!*k) {
			lc_bus_reply_err_details(req, BTCW_ERR_INVALID,
						 field_details(c->string),
						 "unknown field '%.64s'",
						 c->string);
			return false;
		}
	}
	return true;
}

void rpc_reply_verr(struct lc_bus_req *req, const struct verr *e)
{
	lc_bus_reply_err_details(req, e->code, field_details(e->field), "%s",
				 e->msg);
}

int rpc_handle(struct sup *s, const char *method, rpc_fn fn)
{
	return lc_bus_server_handle(s->svc->rpc, method, fn, s);
}

/* A request waiting on the database. */
struct pending {
	struct sup *s;
	struct lc_bus_req *req;
	int id;
	const char *deleted_code;
	cJSON *spec;           /* update: the merged spec */
};

static struct pending *pending_new(struct sup *s, struct lc_bus_req *req,
				   int id)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (!p) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	p->s = s;
	p->req = req;
	p->id = id;
	return p;
}

static void pending_free(struct pending *p)
{
	cJSON_Delete(p->spec);
	free(p);
}

/* A failed statement: unavailable when the database is away. */
static void reply_db_error(struct lc_bus_req *req, const PGresult *res,
			   const char *err)
{
	if (!res) {
		lc_bus_reply_err(req, BTCW_ERR_UNAVAILABLE,
				 "database unavailable: %s", err);
		return;
	}
	log_error("rpc.db_error", LF_S("error", err));
	lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
}

static void on_missing(const PGresult *res, const char *err, void *arg)
{
	struct pending *p = arg;
	if (err)
		reply_db_error(p->req, res, err);
	else if (PQntuples(res) == 1 && p->deleted_code)
		lc_bus_reply_err(p->req, p->deleted_code,
				 "strategy %d is deleted", p->id);
	else
		lc_bus_reply_err(p->req, BTCW_ERR_NOT_FOUND,
				 "no strategy %d", p->id);
	pending_free(p);
}

struct bot *rpc_bot(struct sup *s, struct lc_bus_req *req,
		    const cJSON *params, const char *key,
		    const char *deleted_code)
{
	struct verr e;
	int id = validate_id(params, key, &e);
	if (id < 0) {
		rpc_reply_verr(req, &e);
		return NULL;
	}
	struct bot *b = bots_find(s, id);
	if (b)
		return b;
	struct pending *p = pending_new(s, req, id);
	if (!p)
		return NULL;
	p->deleted_code = deleted_code;
	char idtxt[16];
	snprintf(idtxt, sizeof(idtxt), "%d", id);
	const char *prm[] = { idtxt };
	if (lc_db_query(s->svc->db, "SELECT 1 FROM strategies WHERE id = $1"
			" AND deleted_at IS NOT NULL", 1, prm, on_missing,
			p) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
		pending_free(p);
	}
	return NULL;
}

/* ---- create ---- */

/* The spec as the 12 text parameters of INSERT / UPDATE, $first.. */
struct spec_params {
	char strong[32], medium[32], weak[32], proxy[24];
	char *pairs, *extra;
	const char *v[12];
};

/* The shortest text that reads back as d (as cJSON prints numbers), so
 * that numeric columns keep "0.9", not "0.90000000000000002". */
static void fmt_double(char *out, size_t n, double d)
{
	snprintf(out, n, "%.15g", d);
	if (strtod(out, NULL) != d)
		snprintf(out, n, "%.17g", d);
}

static void spec_params_init(struct spec_params *sp, const cJSON *spec)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "thresholds");
	const cJSON *px = cJSON_GetObjectItemCaseSensitive(spec, "proxy_id");
	fmt_double(sp->strong, sizeof(sp->strong),
		   cJSON_GetObjectItem(t, "strong")->valuedouble);
	fmt_double(sp->medium, sizeof(sp->medium),
		   cJSON_GetObjectItem(t, "medium")->valuedouble);
	fmt_double(sp->weak, sizeof(sp->weak),
		   cJSON_GetObjectItem(t, "weak")->valuedouble);
	if (cJSON_IsNumber(px))
		snprintf(sp->proxy, sizeof(sp->proxy), "%d",
			 (int)px->valuedouble);
	sp->pairs = cJSON_PrintUnformatted(
		cJSON_GetObjectItem(spec, "pair_whitelist"));
	sp->extra = cJSON_PrintUnformatted(
		cJSON_GetObjectItem(spec, "extra_config"));
	const char *const keys[] = { "name", "strategy_class", "exchange",
				     "timeframe" };
	for (int i = 0; i < 4; i++)
		sp->v[i] = cJSON_GetObjectItem(spec, keys[i])->valuestring;
	sp->v[4] = sp->pairs;
	sp->v[5] = cJSON_IsNumber(px) ? sp->proxy : NULL;
	sp->v[6] = sp->strong;
	sp->v[7] = sp->medium;
	sp->v[8] = sp->weak;
	sp->v[9] = cJSON_GetObjectItem(spec, "version")->valuestring;
	sp->v[10] = cJSON_IsTrue(cJSON_GetObjectItem(spec, "auto_start"))
			    ? "true" : "false";
	sp->v[11] = sp->extra;
}

static void spec_params_release(struct spec_params *sp)
{
	cJSON_free(sp->pairs);
	cJSON_free(sp->extra);
}

/* Unique name (23505) is a conflict; a CHECK the validator missed is an
 * invalid input, named after its constraint. */
static void reply_write_error(struct lc_bus_req *req, const PGresult *res,
			      const char *err, const cJSON *spec)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
				: NULL;
	const char *con = res ? PQresultErrorField(res,
						   PG_DIAG_CONSTRAINT_NAME)
			      : NULL;
	if (state && strcmp(state, "23505") == 0) {
		lc_bus_reply_err_details(
			req, BTCW_ERR_CONFLICT, field_details("name"),
			"a strategy named '%s' already exists",
			cJSON_GetObjectItem(spec, "name")->valuestring);
		return;
	}
	if (state && strcmp(state, "23514") == 0) {
		lc_bus_reply_err(req, BTCW_ERR_INVALID,
				 "refused by the registry's rule %s",
				 con ? con : "(unknown)");
		return;
	}
	reply_db_error(req, res, err);
}

static void on_created(const PGresult *res, const char *err, void *arg)
{
	struct pending *p = arg;
	struct sup *s = p->s;
	struct bot *b = err ? NULL : bot_from_row(s, res, 0);
	if (err || !b || bots_add(s, b) != 0) {
		if (err)
			reply_write_error(p->req, res, err, p->spec);
		else
			lc_bus_reply_err(p->req, BTCW_ERR_INTERNAL,
					 "cannot register the new strategy");
		bot_free(b);
		pending_free(p);
		return;
	}
	ev_state(s, b, (enum bot_status)-1, "created", NULL);
	if (cJSON_IsTrue(cJSON_GetObjectItem(b->spec, "auto_start")) &&
	    !upgrade_active(s)) {
		const char *code;
		char msg[256];
		if (bot_request_start(b, &code, msg, sizeof(msg)) != 0)
			log_warn("rpc.auto_start_refused", LF_I("id", b->id),
				 LF_S("error", msg));
	}
	lc_bus_reply_ok(p->req, bot_json(b));
	pending_free(p);
}

static void rpc_create(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct sup *s = arg;
	if (!rpc_ready(s, req))
		return;
	struct verr e;
	cJSON *spec = validate_create(params, sup_cfg(s), &e);
	if (!spec) {
		rpc_reply_verr(req, &e);
		return;
	}
	struct pending *p = pending_new(s, req, 0);
	if (!p) {
		cJSON_Delete(spec);
		return;
	}
	p->spec = spec;
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO strategies (name, strategy_class, exchange,"
		 " timeframe, pair_whitelist, proxy_id, threshold_strong,"
		 " threshold_medium, threshold_weak, version, auto_start,"
		 " extra_config) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7,"
		 " $8, $9, $10, $11, $12::jsonb) RETURNING %s",
		 registry_columns);
	struct spec_params sp;
	spec_params_init(&sp, spec);
	if (lc_db_query(s->svc->db, sql, 12, sp.v, on_created, p) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
		pending_free(p);
	}
	spec_params_release(&sp);
}

/* ---- get / list ---- */

static void on_got(const PGresult *res, const char *err, void *arg)
{
	struct pending *p = arg;
	struct bot *b = !err && PQntuples(res) == 1
				? bot_from_row(p->s, res, 0) : NULL;
	if (err)
		reply_db_error(p->req, res, err);
	else if (!b)
		lc_bus_reply_err(p->req, BTCW_ERR_NOT_FOUND,
				 "no strategy %d", p->id);
	else
		lc_bus_reply_ok(p->req, bot_json(b));
	bot_free(b);
	pending_free(p);
}

static void rpc_get(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const keys[] = { "id", NULL };
	struct sup *s = arg;
	struct verr e;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	int id = validate_id(params, "id", &e);
	if (id < 0) {
		rpc_reply_verr(req, &e);
		return;
	}
	struct bot *b = bots_find(s, id);
	if (b) {
		lc_bus_reply_ok(req, bot_json(b));
		return;
	}
	struct pending *p = pending_new(s, req, id);
	if (!p)
		return;
	char sql[2048], idtxt[16];
	snprintf(sql, sizeof(sql), "SELECT %s FROM strategies WHERE id = $1",
		 registry_columns);
	snprintf(idtxt, sizeof(idtxt), "%d", id);
	const char *prm[] = { idtxt };
	if (lc_db_query(s->svc->db, sql, 1, prm, on_got, p) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
		pending_free(p);
	}
}

struct list_args {
	int status;         /* -1: any */
	bool deleted;       /* include deleted ones */
	int after_id;
	int limit;
};

static bool parse_list(struct lc_bus_req *req, const cJSON *params,
		       struct list_args *a)
{
	static const char *const keys[] = { "status", "include_deleted",
					    "after_id", "limit", NULL };
	struct verr e;
	*a = (struct list_args){ .status = -1, .limit = LIST_DEFAULT };
	if (!rpc_only(req, params, keys))
		return false;
	const cJSON *st = cJSON_GetObjectItem(params, "status");
	const cJSON *inc = cJSON_GetObjectItem(params, "include_deleted");
	if (st && (!cJSON_IsString(st) ||
		   (a->status = status_parse(st->valuestring)) < 0)) {
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID,
					 field_details("status"),
					 "unknown status");
		return false;
	}
	if (inc && !cJSON_IsBool(inc)) {
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID,
					 field_details("include_deleted"),
					 "include_deleted must be a boolean");
		return false;
	}
	a->deleted = cJSON_IsTrue(inc) || a->status == ST_DELETED;
	if (cJSON_HasObjectItem(params, "after_id") &&
	    (a->after_id = validate_id(params, "after_id", &e)) < 0) {
		rpc_reply_verr(req, &e);
		return false;
	}
	if (cJSON_HasObjectItem(params, "limit") &&
	    ((a->limit = validate_id(params, "limit", &e)) < 0 ||
	     a->limit > 1000)) {
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID,
					 field_details("limit"),
					 "limit must be an integer 1-1000");
		return false;
	}
	return true;
}

static cJSON *list_result(cJSON *arr, bool more)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "strategies", arr);
	cJSON_AddBoolToObject(r, "has_more", more);
	return r;
}

static void list_memory(struct sup *s, struct lc_bus_req *req,
			const struct list_args *a)
{
	cJSON *arr = cJSON_CreateArray();
	int n = 0;
	bool more = false;
	for (size_t i = 0; i < s->nbots; i++) {
		const struct bot *b = s->bots[i];
		if (b->id <= a->after_id ||
		    (a->status >= 0 && (int)b->status != a->status))
			continue;
		if (n == a->limit) {
			more = true;
			break;
		}
		cJSON_AddItemToArray(arr, bot_json(b));
		n++;
	}
	lc_bus_reply_ok(req, list_result(arr, more));
}

struct list_pending {
	struct pending p;
	struct list_args a;
};

static void on_listed(const PGresult *res, const char *err, void *arg)
{
	struct list_pending *lp = arg;
	struct sup *s = lp->p.s;
	if (err) {
		reply_db_error(lp->p.req, res, err);
		free(lp);
		return;
	}
	cJSON *arr = cJSON_CreateArray();
	int rows = PQntuples(res), n = 0;
	for (int r = 0; r < rows && n < lp->a.limit; r++) {
		struct bot *row = bot_from_row(s, res, r);
		if (!row)
			continue;
		const struct bot *live = bots_find(s, row->id);
		const struct bot *b = live ? live : row;
		if (lp->a.status < 0 || (int)b->status == lp->a.status) {
			cJSON_AddItemToArray(arr, bot_json(b));
			n++;
		}
		bot_free(row);
	}
	lc_bus_reply_ok(lp->p.req, list_result(arr, rows > lp->a.limit));
	free(lp);
}

static void rpc_list(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct sup *s = arg;
	struct list_args a;
	if (!rpc_ready(s, req) || !parse_list(req, params, &a))
		return;
	if (!a.deleted) {
		list_memory(s, req, &a);
		return;
	}
	struct list_pending *lp = calloc(1, sizeof(*lp));
	if (!lp) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
		return;
	}
	lp->p.s = s;
	lp->p.req = req;
	lp->a = a;
	char sql[2048], after[16], lim[16];
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM strategies WHERE id > $1 AND ($2::text IS"
		 " NULL OR status = $2) ORDER BY id LIMIT $3",
		 registry_columns);
	snprintf(after, sizeof(after), "%d", a.after_id);
	snprintf(lim, sizeof(lim), "%d", a.limit + 1);
	const char *prm[] = { after,
			      a.status >= 0 ? status_name(a.status) : NULL,
			      lim };
	if (lc_db_query(s->svc->db, sql, 3, prm, on_listed, lp) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
		free(lp);
	}
}

/* ---- update ---- */

static void on_updated(const PGresult *res, const char *err, void *arg)
{
	struct pending *p = arg;
	struct bot *b = bots_find(p->s, p->id);
	if (b)
		b->updating = false;
	if (err || PQntuples(res) != 1 || !b) {
		if (err)
			reply_write_error(p->req, res, err, p->spec);
		else
			lc_bus_reply_err(p->req, BTCW_ERR_NOT_FOUND,
					 "no strategy %d", p->id);
		pending_free(p);
		return;
	}
	cJSON_Delete(b->spec);
	b->spec = p->spec;
	p->spec = NULL;
	b->updated_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	ev_state(p->s, b, b->status, "updated", NULL);
	lc_bus_reply_ok(p->req, bot_json(b));
	pending_free(p);
}

static void rpc_update(struct lc_bus_req *req, cJSON *params, void *arg)
{
	struct sup *s = arg;
	if (!rpc_ready(s, req))
		return;
	struct bot *b = rpc_bot(s, req, params, "id", NULL);
	if (!b)
		return;
	if (b->pending_delete || b->updating) {
		lc_bus_reply_err(req, BTCW_ERR_CONFLICT,
				 b->updating ? "another update of strategy %d "
				 "is in progress" : "strategy %d is being "
				 "deleted", b->id);
		return;
	}
	struct verr e;
	cJSON *spec = validate_update(params, b->spec, sup_cfg(s), &e);
	if (!spec) {
		rpc_reply_verr(req, &e);
		return;
	}
	struct pending *p = pending_new(s, req, b->id);
	if (!p) {
		cJSON_Delete(spec);
		return;
	}
	p->spec = spec;
	static const char *const sql =
		"UPDATE strategies SET name = $2, strategy_class = $3,"
		" exchange = $4, timeframe = $5, pair_whitelist = $6::jsonb,"
		" proxy_id = $7, threshold_strong = $8, threshold_medium = $9,"
		" threshold_weak = $10, version = $11, auto_start = $12,"
		" extra_config = $13::jsonb"
		" WHERE id = $1 AND deleted_at IS NULL"
		" RETURNING (extract(epoch FROM updated_at) * 1000)::int8";
	struct spec_params sp;
	spec_params_init(&sp, spec);
	char idtxt[16];
	snprintf(idtxt, sizeof(idtxt), "%d", b->id);
	const char *prm[13] = { idtxt };
	memcpy(&prm[1], sp.v, sizeof(sp.v));
	b->updating = true;
	if (lc_db_query(s->svc->db, sql, 13, prm, on_updated, p) != 0) {
		b->updating = false;
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
		pending_free(p);
	}
	spec_params_release(&sp);
}

/* ---- delete ---- */

static void remove_files(struct sup *s, int id)
{
	static const char *const kinds[] = { "config", "log", "stderr",
					     "sqlite" };
	static const char *const more[] = { "", "-wal", "-shm", "-journal",
					    ".1", ".2", ".3" };
	char path[4096], p2[4200];
	for (size_t k = 0; k < 4; k++) {
		if (sup_path(s, id, kinds[k], path, sizeof(path)) != 0)
			continue;
		for (size_t m = 0; m < sizeof(more) / sizeof(*more); m++) {
			snprintf(p2, sizeof(p2), "%s%s", path, more[m]);
			(void)unlink(p2);
		}
	}
}

static void on_deleted(const PGresult *res, const char *err, void *arg)
{
	struct pending *p = arg;
	struct sup *s = p->s;
	struct bot *b = bots_find(s, p->id);
	struct bot *row = !err && PQntuples(res) == 1
				  ? bot_from_row(s, res, 0) : NULL;
	if (b)
		b->pending_delete = NULL;
	if (!row || !b) {
		if (err)
			reply_db_error(p->req, res, err);
		else
			lc_bus_reply_err(p->req, BTCW_ERR_NOT_FOUND,
					 "no strategy %d", p->id);
		bot_free(row);
		pending_free(p);
		return;
	}
	enum bot_status prev = b->status;
	bots_remove(s, b);
	bot_free(b);
	remove_files(s, p->id);
	ev_state(s, row, prev, "deleted", NULL);
	lc_bus_reply_ok(p->req, bot_json(row));
	bot_free(row);
	pending_free(p);
}

void rpc_delete_stopped(struct bot *b)
{
	struct sup *s = b->sup;
	struct pending *p = calloc(1, sizeof(*p));
	char sql[2048], idtxt[16];
	if (!p) {
		lc_bus_reply_err(b->pending_delete, BTCW_ERR_INTERNAL,
				 "out of memory");
		b->pending_delete = NULL;
		return;
	}
	p->s = s;
	p->req = b->pending_delete;
	p->id = b->id;
	snprintf(sql, sizeof(sql),
		 "UPDATE strategies SET status = 'deleted',"
		 " deleted_at = now(), desired_state = 'stopped',"
		 " port = NULL, pid = NULL, pid_starttime = NULL,"
		 " pid_boot_id = NULL"
		 " WHERE id = $1 AND deleted_at IS NULL RETURNING %s",
		 registry_columns);
	snprintf(idtxt, sizeof(idtxt), "%d", b->id);
	const char *prm[] = { idtxt };
	if (lc_db_query(s->svc->db, sql, 1, prm, on_deleted, p) != 0) {
		lc_bus_reply_err(p->req, BTCW_ERR_INTERNAL, "database error");
		b->pending_delete = NULL;
		free(p);
	}
}

static void rpc_delete(struct lc_bus_req *req, cJSON *params, void *arg)
{
	static const char *const keys[] = { "id", NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	struct bot *b = rpc_bot(s, req, params, "id", NULL);
	if (!b)
		return;
	if (b->pending_delete || upgrade_active(s)) {
		lc_bus_reply_err(req, BTCW_ERR_CONFLICT,
				 b->pending_delete ? "strategy %d is already "
				 "being deleted" : "an upgrade is in progress "
				 "(strategy %d)", b->id);
		return;
	}
	/* Answered once the bot has stopped (slow: up to
	 * shutdown_timeout) and the row is marked deleted. */
	b->pending_delete = req;
	if (b->state == BOT_IDLE)
		rpc_delete_stopped(b);
	else
		bot_request_stop(b, STOP_DELETE);
}

int rpc_register(struct sup *s)
{
	int rv = rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_CREATE,
			    rpc_create);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_GET, rpc_get);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_LIST, rpc_list);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_UPDATE,
			 rpc_update);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_STRATEGIES_DELETE,
			 rpc_delete);
	rv |= rpc_register_ops(s);
	return rv ? -1 : 0;
}
