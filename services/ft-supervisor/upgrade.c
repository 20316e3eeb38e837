/*
 * The manual FreqTrade upgrade (supervisor.upgrade.start / get):
 *
 *   stopping     every strategy that should run is stopped (its desired
 *                state stays running)
 *   backing_up   backup.backups.run {trigger: pre_upgrade} and wait for
 *                it; a backup daemon that is not there (unavailable,
 *                unknown method, timeout) is noted and skipped, a backup
 *                that fails aborts the upgrade
 *   switching    the new command and version label are put in force
 *                (recorded in freqtrade_upgrades: a restarted
 *                supervisor keeps using them)
 *   starting     the same strategies start; each must answer /ping
 *                within startup_timeout (a crash before that is a
 *                failure too, not a restart)
 *   succeeded    all came up
 *   rolling_back one did not: stop them all, put the previous command
 *                back, start them again -> rolled_back, or failed when
 *                even that did not work (a human is needed; P0 alert)
 *
 * Progress is driven by the bots' own events: each one reaching idle or
 * its start outcome wakes a step that checks the whole set. While an
 * upgrade runs, start/stop/delete requests are refused (conflict).
 */
#include "services/ft-supervisor/rpc.h"

#include "libcommon/bus.h"
#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/ft-supervisor/sup.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKUP_CALL_MS 5000
#define BACKUP_POLL_MS 1000
#define BACKUP_MAX_MS (10 * 60 * 1000)
#define CMD_MAX_ARGS 32

enum up_state {
	UP_IDLE, UP_STOPPING, UP_BACKING_UP, UP_SWITCHING, UP_STARTING,
	UP_SUCCEEDED, UP_ROLLING_BACK, UP_ROLLED_BACK, UP_FAILED,
};

static const char *const up_names[] = {
	"idle", "stopping", "backing_up", "switching", "starting",
	"succeeded", "rolling_back", "rolled_back", "failed",
};

struct upgrade {
	struct sup *s;
	enum up_state state;
	bool rollback;          /* the stop/start round is the roll back */
	bool aborted;           /* stopped before the switch (backup) */
	long long db_id;        /* freqtrade_upgrades.id */
	char target[40];
	char previous[40];
	struct lc_cfg_strlist new_cmd; /* owned */
	struct lc_cfg_strlist old_cmd; /* owned */
	bool old_from_upgrade;
	int *ids;               /* the strategies it stops and restarts */
	int *outcome;           /* per id: 0 waiting, 1 up, -1 failed */
	bool *failed;           /* per id: did not come up on the target */
	size_t nids;
	int64_t started_ms, finished_ms, backup_deadline;
	char backup_id[64];
	char message[1024];
	struct event *ev_step;
	struct event *ev_backup;
};

static void strlist_free(struct lc_cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int strlist_copy(struct lc_cfg_strlist *dst, char **v, size_t n)
{
	dst->v = calloc(n + 1, sizeof(char *));
	dst->n = 0;
	if (!dst->v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		dst->v[i] = strdup(v[i]);
		if (!dst->v[i])
			return -1;
		dst->n++;
	}
	return 0;
}

void upgrade_free(struct upgrade *u)
{
	if (!u)
		return;
	strlist_free(&u->new_cmd);
	strlist_free(&u->old_cmd);
	free(u->ids);
	free(u->outcome);
	free(u->failed);
	if (u->ev_step)
		event_free(u->ev_step);
	if (u->ev_backup)
		event_free(u->ev_backup);
	free(u);
}

static bool running_state(enum up_state st)
{
	return st == UP_STOPPING || st == UP_BACKING_UP ||
	       st == UP_SWITCHING || st == UP_STARTING ||
	       st == UP_ROLLING_BACK;
}

bool upgrade_active(const struct sup *s)
{
	return s->up && running_state(s->up->state);
}

static void wake(struct upgrade *u)
{
	if (u->ev_step)
		event_active(u->ev_step, 0, 0);
}

static int index_of(const struct upgrade *u, int id)
{
	for (size_t i = 0; i < u->nids; i++)
		if (u->ids[i] == id)
			return (int)i;
	return -1;
}

void upgrade_bot_idle(struct sup *s, struct bot *b)
{
	if (upgrade_active(s) && index_of(s->up, b->id) >= 0)
		wake(s->up);
}

void upgrade_bot_outcome(struct sup *s, struct bot *b, bool ok)
{
	struct upgrade *u = s->up;
	int i = u ? index_of(u, b->id) : -1;
	if (i < 0)
		return;
	u->outcome[i] = ok ? 1 : -1;
	wake(u);
}

/* ---- status ---- */

static void add_ts(cJSON *o, const char *key, int64_t ms)
{
	char ts[LC_CLOCK_RFC3339_LEN];
	if (ms > 0)
		cJSON_AddStringToObject(o, key, lc_clock_rfc3339(ts, ms));
	else
		cJSON_AddNullToObject(o, key);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *status_json(const struct sup *s, const struct upgrade *u)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", u ? up_names[u->state] : "idle");
	cJSON_AddStringToObject(o, "current_version", s->version);
	add_str(o, "target_version", u ? u->target : NULL);
	add_str(o, "previous_version", u ? u->previous : NULL);
	add_str(o, "backup_id", u ? u->backup_id : NULL);
	cJSON *ids = cJSON_AddArrayToObject(o, "strategy_ids");
	cJSON *failed = cJSON_AddArrayToObject(o, "failed_strategy_ids");
	for (size_t i = 0; u && i < u->nids; i++) {
		cJSON_AddItemToArray(ids, cJSON_CreateNumber(u->ids[i]));
		if (u->failed[i])
			cJSON_AddItemToArray(failed,
					     cJSON_CreateNumber(u->ids[i]));
	}
	add_ts(o, "started_at", u ? u->started_ms : 0);
	add_ts(o, "finished_at", u ? u->finished_ms : 0);
	add_str(o, "message", u ? u->message : NULL);
	return o;
}

/* ---- recording ---- */

static const char *db_status(const struct upgrade *u)
{
	switch (u->state) {
	case UP_SUCCEEDED:
		return "succeeded";
	case UP_ROLLED_BACK:
		return "rolled_back";
	default:
		return u->rollback && !u->aborted ? "rollback_failed"
						  : "failed";
	}
}

static void on_recorded(const PGresult *res, const char *err, void *arg)
{
	(void)res;
	if (err)
		log_warn("upgrade.record_failed", LF_S("error", err),
			 LF_I("id", (long long)(intptr_t)arg));
}

static void record_end(struct upgrade *u, int restarted)
{
	static const char *const sql =
		"UPDATE freqtrade_upgrades SET status = $2, finished_at ="
		" now(), strategies_stopped = $3, strategies_restarted = $4,"
		" failed_strategies = $5::jsonb, error = $6, output = $7"
		" WHERE id = $1";
	char id[24], stopped[16], rest[16], out[128];
	cJSON *failed = cJSON_CreateArray();
	for (size_t i = 0; i < u->nids; i++)
		if (u->failed[i]) {
			cJSON *f = cJSON_CreateObject();
			cJSON_AddNumberToObject(f, "id", u->ids[i]);
			cJSON_AddStringToObject(f, "reason",
						"did not come up");
			cJSON_AddItemToArray(failed, f);
		}
	char *ftxt = cJSON_PrintUnformatted(failed);
	snprintf(id, sizeof(id), "%lld", u->db_id);
	snprintf(stopped, sizeof(stopped), "%zu", u->nids);
	snprintf(rest, sizeof(rest), "%d", restarted);
	snprintf(out, sizeof(out), "backup: %s",
		 u->backup_id[0] ? u->backup_id : "none");
	const char *prm[] = { id, db_status(u), stopped, rest, ftxt,
			      u->state == UP_SUCCEEDED ? NULL : u->message,
			      out };
	if (lc_db_query(u->s->svc->db, sql, 7, prm, on_recorded,
			(void *)(intptr_t)u->db_id) != 0)
		log_warn("upgrade.record_failed", LF_S("error", "refused"));
	cJSON_free(ftxt);
	cJSON_Delete(failed);
}

/* ---- the steps ---- */

static void set_state(struct upgrade *u, enum up_state st)
{
	u->state = st;
	log_info("upgrade.state", LF_S("state", up_names[st]),
		 LF_S("target", u->target));
}

static void stop_all(struct upgrade *u)
{
	for (size_t i = 0; i < u->nids; i++) {
		struct bot *b = bots_find(u->s, u->ids[i]);
		if (b && b->state != BOT_IDLE)
			bot_request_stop(b, STOP_UPGRADE);
	}
	wake(u);
}

static bool all_idle(const struct upgrade *u)
{
	for (size_t i = 0; i < u->nids; i++) {
		const struct bot *b = bots_find(u->s, u->ids[i]);
		if (b && b->state != BOT_IDLE)
			return false;
	}
	return true;
}

static void start_all(struct upgrade *u)
{
	for (size_t i = 0; i < u->nids; i++) {
		struct bot *b = bots_find(u->s, u->ids[i]);
		const char *code;
		char msg[256];
		u->outcome[i] = 0;
		if (!b) {
			u->outcome[i] = -1;
			continue;
		}
		b->upgrading = true;
		if (bot_request_start(b, &code, msg, sizeof(msg)) != 0) {
			b->upgrading = false;
			u->outcome[i] = -1;
			log_warn("upgrade.start_refused", LF_I("id", b->id),
				 LF_S("error", msg));
		}
	}
	wake(u);
}

/* 1 all up, -1 some failed (all decided), 0 still waiting. */
static int outcome(const struct upgrade *u, int *up)
{
	int failed = 0;
	*up = 0;
	for (size_t i = 0; i < u->nids; i++) {
		if (u->outcome[i] == 0)
			return 0;
		if (u->outcome[i] > 0)
			(*up)++;
		else
			failed++;
	}
	return failed ? -1 : 1;
}

static void use_command(struct upgrade *u, const struct lc_cfg_strlist *c,
			const char *version, bool from_upgrade)
{
	sup_set_command(u->s, c, version);
	u->s->cmd_from_upgrade = from_upgrade;
}

static void finish(struct upgrade *u, enum up_state st, int restarted)
{
	u->finished_ms = lc_clock_wall_ms();
	set_state(u, st);
	record_end(u, restarted);
	if (st != UP_SUCCEEDED)
		ev_alert(u->s, NULL, BTCW_ALERT_UPGRADE_FAILED, "P0",
			 "FreqTrade upgrade failed", NULL, "%s", u->message);
}

static void failed_first_round(struct upgrade *u)
{
	size_t nf = 0;
	int first = 0;
	for (size_t i = 0; i < u->nids; i++) {
		u->failed[i] = u->outcome[i] < 0;
		if (u->failed[i] && nf++ == 0)
			first = u->ids[i];
	}
	const struct bot *b = bots_find(u->s, first);
	snprintf(u->message, sizeof(u->message),
		 "%zu strategies did not come up on %s (strategy %d: %.300s)",
		 nf, u->target, first,
		 b && b->last_error[0] ? b->last_error : "failed");
	u->rollback = true;
	set_state(u, UP_ROLLING_BACK);
	stop_all(u);
}

static void step_starting(struct upgrade *u)
{
	int up;
	int r = outcome(u, &up);
	if (r == 0)
		return;
	if (r > 0 && !u->rollback) {
		snprintf(u->message, sizeof(u->message),
			 "%d strategies running on %s", up, u->target);
		finish(u, UP_SUCCEEDED, up);
		return;
	}
	if (!u->rollback) {
		failed_first_round(u);
		return;
	}
	if (u->aborted) {
		finish(u, UP_FAILED, up);
		return;
	}
	char note[256];
	snprintf(note, sizeof(note), r > 0 ? "; rolled back to %s"
		 : "; the roll back to %s failed too", u->previous);
	size_t len = strlen(u->message);
	snprintf(u->message + len, sizeof(u->message) - len, "%s", note);
	finish(u, r > 0 ? UP_ROLLED_BACK : UP_FAILED, up);
}

static void backup_begin(struct upgrade *u);

static void step(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct upgrade *u = arg;
	if (u->s->dying || u->s->shutting_down)
		return;
	switch (u->state) {
	case UP_STOPPING:
		if (all_idle(u)) {
			set_state(u, UP_BACKING_UP);
			backup_begin(u);
		}
		break;
	case UP_SWITCHING:
		use_command(u, &u->new_cmd, u->target, true);
		set_state(u, UP_STARTING);
		start_all(u);
		break;
	case UP_STARTING:
		step_starting(u);
		break;
	case UP_ROLLING_BACK:
		if (!all_idle(u))
			break;
		use_command(u, &u->old_cmd, u->previous,
			    u->old_from_upgrade);
		set_state(u, UP_STARTING);
		start_all(u);
		break;
	default:
		break;
	}
}

/* ---- backup ---- */

static void backup_done(struct upgrade *u, const char *note)
{
	if (note)
		snprintf(u->message, sizeof(u->message), "%s", note);
	set_state(u, UP_SWITCHING);
	wake(u);
}

/* The backup itself failed: nothing was switched; bring them back. */
static void backup_failed(struct upgrade *u, const char *why)
{
	snprintf(u->message, sizeof(u->message),
		 "the pre-upgrade backup failed (%.300s); nothing changed",
		 why);
	u->rollback = true;
	u->aborted = true;
	set_state(u, UP_STARTING);
	start_all(u);
}

static void backup_poll(struct upgrade *u, int64_t ms);

static void on_backup_reply(const struct lc_bus_result *r, void *arg)
{
	struct upgrade *u = arg;
	if (u->s->dying || u->state != UP_BACKING_UP)
		return;
	if (!r->ok) {
		bool absent = !strcmp(r->code, BTCW_ERR_UNAVAILABLE) ||
			      !strcmp(r->code, BTCW_ERR_UNKNOWN_METHOD) ||
			      !strcmp(r->code, BTCW_ERR_TIMEOUT);
		if (absent && !u->backup_id[0]) {
			log_warn("upgrade.no_backup", LF_S("code", r->code),
				 LF_S("error", r->message));
			backup_done(u, "no pre-upgrade backup: the backup "
				       "service did not answer");
		} else {
			backup_failed(u, r->message);
		}
		return;
	}
	const cJSON *id = cJSON_GetObjectItem(r->result, "id");
	const cJSON *st = cJSON_GetObjectItem(r->result, "status");
	if (cJSON_IsString(id))
		snprintf(u->backup_id, sizeof(u->backup_id), "%s",
			 id->valuestring);
	const char *status = cJSON_IsString(st) ? st->valuestring : "";
	if (strcmp(status, "ok") == 0)
		backup_done(u, NULL);
	else if (strcmp(status, "running") == 0 &&
		 lc_clock_mono_ms() < u->backup_deadline)
		backup_poll(u, BACKUP_POLL_MS);
	else
		backup_failed(u, strcmp(status, "running") ? status
				 : "timed out");
}

static void backup_call(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct upgrade *u = arg;
	cJSON *p = cJSON_CreateObject();
	const char *method = BTCW_METHOD_BACKUP_BACKUPS_RUN;
	if (u->backup_id[0]) {
		method = BTCW_METHOD_BACKUP_BACKUPS_GET;
		cJSON_AddStringToObject(p, "id", u->backup_id);
	} else {
		cJSON_AddStringToObject(p, "trigger", "pre_upgrade");
		char note[128];
		snprintf(note, sizeof(note), "before FreqTrade upgrade to %s",
			 u->target);
		cJSON_AddStringToObject(p, "note", note);
	}
	if (!u->s->backup ||
	    lc_bus_call(u->s->backup, method, p, BACKUP_CALL_MS,
			on_backup_reply, u) != 0) {
		cJSON_Delete(p);
		backup_done(u, "no pre-upgrade backup: no backup client");
	}
}

static void backup_poll(struct upgrade *u, int64_t ms)
{
	struct timeval tv;
	lc_clock_tv(&tv, ms);
	evtimer_add(u->ev_backup, &tv);
}

static void backup_begin(struct upgrade *u)
{
	struct sup *s = u->s;
	if (!s->backup) {
		char err[256];
		const char *url =
			sup_cfg(s)->services.svc[LC_CFG_SVC_BACKUP].rpc;
		s->backup = lc_bus_client_new(s->base, url, NULL, err,
					      sizeof(err));
		if (!s->backup)
			log_warn("upgrade.backup_client", LF_S("error", err));
	}
	u->backup_deadline = lc_clock_mono_ms() + BACKUP_MAX_MS;
	backup_poll(u, 0);
}

/* ---- upgrade.start ---- */

static int parse_command(struct lc_bus_req *req, const cJSON *c,
			 struct lc_cfg_strlist *out)
{
	int n = cJSON_GetArraySize(c);
	bool ok = cJSON_IsArray(c) && n >= 1 && n <= CMD_MAX_ARGS;
	size_t total = 0;
	for (const cJSON *a = ok ? c->child : NULL; a && ok; a = a->next) {
		ok = cJSON_IsString(a) && a->valuestring[0];
		total += ok ? strlen(a->valuestring) + 1 : 0;
	}
	if (!ok || total > 4000) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "field", "command");
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID, d,
					 "command must be a list of 1-%d "
					 "non-empty strings", CMD_MAX_ARGS);
		return -1;
	}
	char *v[CMD_MAX_ARGS];
	int k = 0;
	for (const cJSON *a = c->child; a; a = a->next)
		v[k++] = a->valuestring;
	return strlist_copy(out, v, (size_t)k);
}

static bool version_ok(const char *v)
{
	size_t n = strlen(v);
	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		bool alnum = (c >= '0' && c <= '9') ||
			     (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (!alnum && (i == 0 || !strchr(".+_-", c)))
			return false;
	}
	return true;
}

static struct upgrade *upgrade_new(struct sup *s, const char *target)
{
	struct upgrade *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->s = s;
	snprintf(u->target, sizeof(u->target), "%s", target);
	snprintf(u->previous, sizeof(u->previous), "%s", s->version);
	u->ids = calloc(s->nbots + 1, sizeof(int));
	u->outcome = calloc(s->nbots + 1, sizeof(int));
	u->failed = calloc(s->nbots + 1, sizeof(bool));
	u->ev_step = event_new(s->base, -1, 0, step, u);
	u->ev_backup = evtimer_new(s->base, backup_call, u);
	if (!u->ids || !u->outcome || !u->failed || !u->ev_step ||
	    !u->ev_backup || strlist_copy(&u->old_cmd, s->cmd, s->ncmd) != 0) {
		upgrade_free(u);
		return NULL;
	}
	u->old_from_upgrade = s->cmd_from_upgrade;
	for (size_t i = 0; i < s->nbots; i++)
		if (s->bots[i]->want_run || s->bots[i]->state != BOT_IDLE)
			u->ids[u->nids++] = s->bots[i]->id;
	return u;
}

struct start_ctx {
	struct upgrade *u;
	struct lc_bus_req *req;
};

static void on_inserted(const PGresult *res, const char *err, void *arg)
{
	struct start_ctx *c = arg;
	struct upgrade *u = c->u;
	struct sup *s = u->s;
	if (err) {
		const char *st = res ? PQresultErrorField(res,
							  PG_DIAG_SQLSTATE)
				     : NULL;
		if (st && strcmp(st, "23505") == 0)
			lc_bus_reply_err(c->req, BTCW_ERR_CONFLICT,
					 "an upgrade is already running");
		else
			lc_bus_reply_err(c->req, BTCW_ERR_UNAVAILABLE,
					 "cannot record the upgrade: %s", err);
		upgrade_free(u);
		free(c);
		return;
	}
	u->db_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	upgrade_free(s->up);
	s->up = u;
	u->started_ms = lc_clock_wall_ms();
	set_state(u, UP_STOPPING);
	stop_all(u);
	lc_bus_reply_ok(c->req, status_json(s, u));
	free(c);
}

static char *command_text(const struct lc_cfg_strlist *l)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < l->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
	char *t = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	return t;
}

static void insert_row(struct upgrade *u, struct lc_bus_req *req)
{
	static const char *const sql =
		"INSERT INTO freqtrade_upgrades (from_version, to_version,"
		" from_command, to_command) VALUES ($1, $2, $3, $4)"
		" RETURNING id";
	struct start_ctx *c = calloc(1, sizeof(*c));
	char *from = command_text(&u->old_cmd);
	char *to = command_text(&u->new_cmd);
	const char *prm[] = { u->previous, u->target, from, to };
	if (c)
		*c = (struct start_ctx){ .u = u, .req = req };
	if (!c || !from || !to ||
	    lc_db_query(u->s->svc->db, sql, 4, prm, on_inserted, c) != 0) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "database error");
		upgrade_free(u);
		free(c);
	}
	cJSON_free(from);
	cJSON_free(to);
}

static void rpc_upgrade_start(struct lc_bus_req *req, cJSON *params,
			      void *arg)
{
	static const char *const keys[] = { "target_version", "command",
					    NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, keys))
		return;
	const cJSON *tv = cJSON_GetObjectItem(params, "target_version");
	if (!cJSON_IsString(tv) || !version_ok(tv->valuestring)) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "field", "target_version");
		lc_bus_reply_err_details(req, BTCW_ERR_INVALID, d,
					 "target_version must be a version "
					 "like 2025.9 (1-32 characters)");
		return;
	}
	if (upgrade_active(s)) {
		lc_bus_reply_err(req, BTCW_ERR_CONFLICT,
				 "an upgrade is already running");
		return;
	}
	struct upgrade *u = upgrade_new(s, tv->valuestring);
	if (!u) {
		lc_bus_reply_err(req, BTCW_ERR_INTERNAL, "out of memory");
		return;
	}
	const cJSON *cmd = cJSON_GetObjectItem(params, "command");
	if (cmd ? parse_command(req, cmd, &u->new_cmd) != 0
		: strlist_copy(&u->new_cmd, s->cmd, s->ncmd) != 0) {
		if (!cmd)
			lc_bus_reply_err(req, BTCW_ERR_INTERNAL,
					 "out of memory");
		upgrade_free(u);
		return;
	}
	insert_row(u, req);
}

/* ---- upgrade.get ---- */

/* The current or last upgrade of this supervisor's life ("idle" after
 * a restart: the history is in freqtrade_upgrades). */
static void rpc_upgrade_get(struct lc_bus_req *req, cJSON *params,
			    void *arg)
{
	static const char *const none[] = { NULL };
	struct sup *s = arg;
	if (!rpc_ready(s, req) || !rpc_only(req, params, none))
		return;
	lc_bus_reply_ok(req, status_json(s, s->up));
}

int upgrade_register(struct sup *s)
{
	int rv = rpc_handle(s, BTCW_METHOD_SUPERVISOR_UPGRADE_START,
			    rpc_upgrade_start);
	rv |= rpc_handle(s, BTCW_METHOD_SUPERVISOR_UPGRADE_GET,
			 rpc_upgrade_get);
	return rv ? -1 : 0;
}
