/* The strategy cache: tokens, thresholds, names; reloaded whole. */
#include "services/signal-ingest/strategies.h"

#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static const char load_sql[] =
	"SELECT id, name, webhook_token, threshold_strong, threshold_medium,"
	" threshold_weak, version, deleted_at IS NOT NULL"
	" FROM strategies ORDER BY id";

struct strat {
	int64_t id;
	char *name;      /* owned */
	char *version;   /* owned */
	unsigned char digest[SHA256_DIGEST_LENGTH]; /* of the token */
	struct thresholds th;
	bool deleted;
};

struct waiter {
	strategies_wait_fn fn;
	void *arg;
};

struct strategies {
	struct event_base *base;   /* borrowed */
	struct lc_db *db;          /* borrowed */
	struct strat *v;           /* owned, sorted by id */
	size_t n;
	bool loaded;               /* one reload succeeded */
	bool loading;              /* a reload query is out */
	bool dead;                 /* freed while loading: the query's
				      callback frees the rest */
	bool failing;              /* the last reload failed (logged) */
	int64_t last_start_ms;     /* monotonic start of the last reload */
	int64_t last_ok_ms;        /* ...of the last one that succeeded */
	int64_t due_ms;            /* when the timer fires, 0 if idle */
	struct event *timer;       /* owned */
	struct waiter *w;          /* owned */
	size_t nw;
	void (*on_loaded)(void *arg);
	void *arg;
	uint64_t reloads;          /* successful loads */
};

static void start_reload(struct strategies *c);

static void free_rows(struct strat *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].version);
	}
	free(v);
}

static void schedule(struct strategies *c, int64_t in_ms)
{
	int64_t due = lc_clock_mono_ms() + in_ms;
	struct timeval tv;
	if (c->due_ms && c->due_ms <= due)
		return;
	c->due_ms = due;
	lc_clock_tv(&tv, in_ms);
	event_add(c->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct strategies *c = arg;
	(void)fd;
	(void)what;
	c->due_ms = 0;
	start_reload(c);
}

/* Tell every waiter; they may add new waiters (for the next reload). */
static void wake_waiters(struct strategies *c, bool refreshed)
{
	struct waiter *w = c->w;
	size_t n = c->nw;
	c->w = NULL;
	c->nw = 0;
	for (size_t i = 0; i < n; i++)
		w[i].fn(w[i].arg, refreshed);
	free(w);
}

static double num(const PGresult *res, int row, int col)
{
	return strtod(PQgetvalue(res, row, col), NULL);
}

static int build(const PGresult *res, struct strat **out, size_t *nout)
{
	int n = PQntuples(res);
	struct strat *v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *tok = PQgetvalue(res, i, 2);
		v[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		v[i].name = strdup(PQgetvalue(res, i, 1));
		v[i].version = PQgetisnull(res, i, 6)
				       ? NULL
				       : strdup(PQgetvalue(res, i, 6));
		SHA256((const unsigned char *)tok, strlen(tok), v[i].digest);
		v[i].th.strong = num(res, i, 3);
		v[i].th.medium = num(res, i, 4);
		v[i].th.weak = num(res, i, 5);
		v[i].deleted = PQgetvalue(res, i, 7)[0] == 't';
		if (!v[i].name) {
			free_rows(v, (size_t)i + 1);
			return -1;
		}
	}
	*out = v;
	*nout = (size_t)n;
	return 0;
}

static void on_result(const PGresult *res, const char *err, void *arg)
{
	struct strategies *c = arg;
	struct strat *v = NULL;
	size_t n = 0;
	c->loading = false;
	if (c->dead) {
		free(c);
		return;
	}
	if (!err && build(res, &v, &n) != 0)
		err = "out of memory";
	if (err) {
		if (!c->failing)
			log_warn("strategies.reload_failed",
				 LF_S("error", err));
		c->failing = true;
		schedule(c, STRAT_MIN_GAP_MS * 5);
		wake_waiters(c, false);
		return;
	}
	free_rows(c->v, c->n);
	c->v = v;
	c->n = n;
	if (!c->loaded || c->failing)
		log_info("strategies.loaded", LF_I("count", n));
	c->loaded = true;
	c->failing = false;
	c->reloads++;
	c->last_ok_ms = c->last_start_ms;
	schedule(c, STRAT_REFRESH_MS);
	wake_waiters(c, true);
	if (c->on_loaded)
		c->on_loaded(c->arg);
}

/* Start a reload now, or when the minimum gap allows. */
static void start_reload(struct strategies *c)
{
	int64_t now = lc_clock_mono_ms();
	if (c->loading)
		return;
	if (c->last_start_ms && now - c->last_start_ms < STRAT_MIN_GAP_MS) {
		schedule(c, STRAT_MIN_GAP_MS - (now - c->last_start_ms));
		return;
	}
	c->last_start_ms = now;
	if (lc_db_query(c->db, load_sql, 0, NULL, on_result, c) != 0) {
		/* not taken (ENOMEM): waiters wait for the next try */
		schedule(c, STRAT_MIN_GAP_MS);
		return;
	}
	c->loading = true;
}

struct strategies *strategies_new(struct event_base *base, struct lc_db *db,
				  void (*on_loaded)(void *arg), void *arg)
{
	struct strategies *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->db = db;
	c->on_loaded = on_loaded;
	c->arg = arg;
	c->timer = evtimer_new(base, on_timer, c);
	if (!c->timer) {
		free(c);
		return NULL;
	}
	/* the pool is not connected yet: the first try fails fast and is
	 * retried; a short delay saves that noise */
	schedule(c, 100);
	return c;
}

void strategies_free(struct strategies *c)
{
	if (!c)
		return;
	event_free(c->timer);
	c->timer = NULL;
	free_rows(c->v, c->n);
	c->v = NULL;
	c->n = 0;
	wake_waiters(c, false);
	if (c->loading)
		c->dead = true; /* lc_db answers the query, then it is freed */
	else
		free(c);
}

static const struct strat *find(const struct strategies *c, int64_t id)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->v[mid].id == id)
			return &c->v[mid];
		if (c->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

enum st_verdict strategies_check(struct strategies *c, int64_t id,
				 const char *token, size_t len,
				 int64_t arrival_ms, struct strat_info *info)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	const struct strat *s = find(c, id);
	bool match;
	SHA256((const unsigned char *)token, len, d);
	match = s && CRYPTO_memcmp(s->digest, d, sizeof(d)) == 0;
	if (match && !s->deleted) {
		info->id = s->id;
		info->version = s->version;
		info->th = s->th;
		return ST_OK;
	}
	if (match)
		return ST_NO; /* deleted: its webhooks are refused */
	if (c->loaded && c->last_ok_ms >= arrival_ms)
		return ST_NO;
	return ST_RETRY;
}

int strategies_wait(struct strategies *c, strategies_wait_fn fn, void *arg)
{
	struct waiter *w;
	if (c->nw >= STRAT_MAX_WAITERS)
		return -1;
	w = realloc(c->w, (c->nw + 1) * sizeof(*w));
	if (!w)
		return -1;
	c->w = w;
	c->w[c->nw++] = (struct waiter){ fn, arg };
	start_reload(c);
	return 0;
}

void strategies_poke(struct strategies *c)
{
	start_reload(c);
}

const char *strategies_name(const struct strategies *c, int64_t id)
{
	const struct strat *s = find(c, id);
	return s ? s->name : NULL;
}

bool strategies_loaded(const struct strategies *c)
{
	return c->loaded;
}

size_t strategies_count(const struct strategies *c)
{
	return c->n;
}

uint64_t strategies_reloads(const struct strategies *c)
{
	return c->reloads;
}
