/* PostgreSQL connection pool: requests, their lists, error text, readiness.
 * The design is explained in db.h. */
#include "libcommon/db_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void db_list_push(struct req_list *l, struct db_req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

void db_list_remove(struct req_list *l, struct db_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

struct db_req *db_list_pop(struct req_list *l)
{
	struct db_req *r = l->head;
	if (r)
		db_list_remove(l, r);
	return r;
}

/* Copy "prefix: msg" into out on one line: control characters become
 * spaces, runs of spaces and trailing space are dropped. */
void db_one_line(char *out, size_t outlen, const char *prefix,
		 const char *msg)
{
	int n = snprintf(out, outlen, "%s%s%s", prefix ? prefix : "",
			 prefix && msg && *msg ? ": " : "", msg ? msg : "");
	if (n < 0 || outlen == 0)
		return;
	size_t w = 0;
	for (size_t i = 0; out[i]; i++) {
		char ch = (unsigned char)out[i] < 0x20 ? ' ' : out[i];
		if (ch == ' ' && (w == 0 || out[w - 1] == ' '))
			continue;
		out[w++] = ch;
	}
	while (w > 0 && out[w - 1] == ' ')
		w--;
	out[w] = '\0';
}

char *db_one_line_dup(const char *prefix, const char *msg)
{
	size_t len = (prefix ? strlen(prefix) : 0) + (msg ? strlen(msg) : 0)
		     + 3;
	char *out = malloc(len);
	if (out)
		db_one_line(out, len, prefix, msg);
	return out;
}

/* A request with copies of sql and params in one allocation. */
struct db_req *db_req_new(enum req_kind kind, const char *sql,
			  int nparams, const char *const *params)
{
	size_t sl = sql ? strlen(sql) + 1 : 0;
	size_t size = sizeof(struct db_req) + (size_t)nparams * sizeof(char *)
		      + sl;
	for (int i = 0; i < nparams; i++)
		if (params[i])
			size += strlen(params[i]) + 1;
	struct db_req *r = calloc(1, size);
	if (!r)
		return NULL;
	r->kind = kind;
	/* sizeof(struct db_req) is a multiple of its pointer alignment */
	const char **pv = (const char **)(void *)(r + 1);
	char *p = (char *)(pv + nparams);
	if (sql) {
		memcpy(p, sql, sl);
		r->sql = p;
		p += sl;
	}
	for (int i = 0; i < nparams; i++) {
		if (!params[i]) {
			pv[i] = NULL;
			continue;
		}
		size_t n = strlen(params[i]) + 1;
		memcpy(p, params[i], n);
		pv[i] = p;
		p += n;
	}
	r->params = pv;
	r->nparams = nparams;
	return r;
}

void db_req_free(struct db_req *r)
{
	PQclear(r->res);
	free(r->err);
	free(r);
}

static bool internal(const struct db_req *r)
{
	return r->kind == REQ_SETUP || r->kind == REQ_ROLLBACK;
}

bool db_slot_up(const struct lc_db_conn *s)
{
	return s->state == SLOT_IDLE || s->state == SLOT_BUSY;
}

bool db_any_up(const struct lc_db *db)
{
	for (int i = 0; i < db->npool; i++)
		if (db_slot_up(&db->slots[i]))
			return true;
	return false;
}

/* Hand r to the loop: its callback runs from on_kick, never from inside
 * the caller's own call into this module. */
void db_req_done(struct lc_db *db, struct db_req *r)
{
	db_list_push(&db->done, r);
	event_active(db->kick, EV_TIMEOUT, 0);
}

void db_req_fail(struct lc_db *db, struct db_req *r, const char *prefix,
		 const char *msg)
{
	if (internal(r)) {
		db_req_free(r);
		return;
	}
	r->failed = true;
	free(r->err);
	r->err = db_one_line_dup(prefix, msg);
	db_req_done(db, r);
}

void db_fail_list(struct lc_db *db, struct req_list *l,
		  const char *prefix, const char *msg)
{
	struct db_req *r;
	while ((r = db_list_pop(l)) != NULL) {
		db->nwaiting--;
		db_req_fail(db, r, prefix, msg);
	}
}

/* Ask on_kick to tell on_state if readiness changed. */
void db_note_state(struct lc_db *db)
{
	if (db_any_up(db) != db->reported_ready)
		event_active(db->kick, EV_TIMEOUT, 0);
}
