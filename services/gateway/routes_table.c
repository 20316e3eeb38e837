/* The bots' routes from ft-supervisor: resyncs and route.update. */
#include "services/gateway/routes_table.h"

#include "libcommon/bus.h"
#include "libcommon/clock.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "proto/btcw_proto.h"
#include "services/gateway/botpool.h"
#include "services/gateway/downstream.h"
#include "services/gateway/events.h"
#include "services/gateway/gateway.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_TIMEOUT_MS 5000
#define RETRY_S 1
#define GW_MAX_IDS 4096 /* ids listed in a reload's answer */

/* An "add" whose credentials are being fetched. */
struct pending {
	struct gw_routes *t;
	int64_t id;
	uint64_t gen;              /* the table's generation then */
	bool cancelled;            /* a later event or resync overtook it */
	struct pending *next;
};

struct waiter {
	gw_resync_cb cb;
	void *arg;
	struct waiter *next;
};

struct gw_routes {
	struct gw *g;                 /* borrowed */
	struct gw_bot **bots;         /* owned, sorted by id */
	size_t n, cap;
	char boot_id[65];             /* of the table; "" before a sync */
	int64_t seq;                  /* last route.update applied */
	int64_t loaded_at_ms;         /* wall time of the last resync */
	bool loaded;                  /* a resync succeeded once */
	bool syncing;                 /* a routes.list call is out */
	bool again;                   /* resync once more after it */
	uint64_t gen;                 /* +1 per applied resync */
	struct waiter *waiters;       /* for the running resync */
	struct waiter *next_waiters;  /* for the one after */
	struct pending *pending;
	struct event *timer;          /* owned: retry and periodic resync */
	int64_t ticks;
};

/* ---- bots ---- */

static void bot_free(struct gw_bot *b, bool retire)
{
	if (!b)
		return;
	if (retire)
		gw_pool_retire(b->pool);
	else
		gw_pool_free(b->pool);
	free(b->auth);
	free(b->ws_token);
	explicit_bzero(b, sizeof(*b));
	free(b);
}

static char *basic_header(const char *user, const char *pass)
{
	char plain[2 * GW_BOT_CRED_MAX + 2];
	unsigned char b64[4 * sizeof(plain) / 3 + 8];
	char *out;
	int n = snprintf(plain, sizeof(plain), "%s:%s", user, pass);
	int m = EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
	size_t len = (size_t)m + 32;

	explicit_bzero(plain, sizeof(plain));
	out = malloc(len);
	if (out)
		snprintf(out, len, "Authorization: Basic %s\r\n", b64);
	explicit_bzero(b64, sizeof(b64));
	return out;
}

static bool str_field(const cJSON *o, const char *name, char *out,
		      size_t outlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v) || !*v->valuestring ||
	    strlen(v->valuestring) >= outlen)
		return false;
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return true;
}

static bool int_field(const cJSON *o, const char *name, int64_t min,
		      int64_t max, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
	    v->valuedouble > (double)max ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

/* A bot from a route object of supervisor.routes.*, or NULL (logged). */
static struct gw_bot *bot_from_json(struct gw_routes *t, const cJSON *r)
{
	struct gw_bot *b = calloc(1, sizeof(*b));
	int64_t port = 0;

	if (!b)
		return NULL;
	if (!int_field(r, "strategy_id", 1, INT32_MAX, &b->id) ||
	    !int_field(r, "port", 1, 65535, &port) ||
	    !str_field(r, "host", b->host, sizeof(b->host)) ||
	    !str_field(r, "username", b->user, sizeof(b->user)) ||
	    !str_field(r, "password", b->pass, sizeof(b->pass))) {
		log_warn("routes.bad_route", LF_I("strategy_id", b->id));
		bot_free(b, false);
		return NULL;
	}
	b->port = (int)port;
	if (!str_field(r, "name", b->name, sizeof(b->name)))
		snprintf(b->name, sizeof(b->name), "strategy-%lld",
			 (long long)b->id);
	if (!str_field(r, "ready_at", b->ready_at, sizeof(b->ready_at)))
		b->ready_at[0] = '\0';
	lc_log_redact(b->pass);
	b->auth = basic_header(b->user, b->pass);
	b->pool = gw_pool_new(t->g->svc->d.base, b->host, b->port);
	if (!b->auth || !b->pool) {
		log_error("routes.add_failed", LF_I("strategy_id", b->id),
			  LF_S("reason", "out of memory"));
		bot_free(b, false);
		return NULL;
	}
	return b;
}

static bool same_bot(const struct gw_bot *a, const struct gw_bot *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0 &&
	       strcmp(a->user, b->user) == 0 &&
	       strcmp(a->pass, b->pass) == 0;
}

/* Index of id in the sorted array, or where it would go. */
static size_t find_pos(struct gw_bot *const *v, size_t n, int64_t id,
		       bool *found)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < n && v[lo]->id == id;
	return lo;
}

static bool insert_bot(struct gw_routes *t, struct gw_bot *b)
{
	bool found;
	size_t i = find_pos(t->bots, t->n, b->id, &found);

	if (found) {
		bot_free(t->bots[i], true);
		t->bots[i] = b;
		return true;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct gw_bot **v = realloc(t->bots, cap * sizeof(*v));
		if (!v)
			return false;
		t->bots = v;
		t->cap = cap;
	}
	memmove(t->bots + i + 1, t->bots + i, (t->n - i) * sizeof(*t->bots));
	t->bots[i] = b;
	t->n++;
	return true;
}

static void remove_bot(struct gw_routes *t, int64_t id)
{
	bool found;
	size_t i = find_pos(t->bots, t->n, id, &found);

	if (!found)
		return;
	bot_free(t->bots[i], true);
	memmove(t->bots + i, t->bots + i + 1,
		(t->n - i - 1) * sizeof(*t->bots));
	t->n--;
	log_info("routes.removed", LF_I("strategy_id", id));
}

struct gw_bot *gw_routes_find(struct gw_routes *t, int64_t id)
{
	bool found;
	size_t i;

	if (!t)
		return NULL;
	i = find_pos(t->bots, t->n, id, &found);
	return found ? t->bots[i] : NULL;
}

size_t gw_routes_count(const struct gw_routes *t)
{
	return t ? t->n : 0;
}

struct gw_bot *gw_routes_at(struct gw_routes *t, size_t i)
{
	return t && i < t->n ? t->bots[i] : NULL;
}

bool gw_routes_loaded(const struct gw_routes *t)
{
	return t && t->loaded;
}

/* ---- full resync ---- */

static void start_list(struct gw_routes *t);

static void finish_waiters(struct waiter *w,
			   const struct gw_resync_result *res)
{
	while (w) {
		struct waiter *next = w->next;
		w->cb(res, w->arg);
		free(w);
		w = next;
	}
}

static void cancel_pending(struct gw_routes *t, int64_t id)
{
	for (struct pending *p = t->pending; p; p = p->next)
		if (id == 0 || p->id == id)
			p->cancelled = true;
}

/* Replace the table with the list's routes; fills res's id lists. */
static bool apply_list(struct gw_routes *t, const cJSON *result,
		       struct gw_resync_result *res, int64_t *added,
		       int64_t *removed)
{
	const cJSON *routes = cJSON_GetObjectItem(result, "routes");
	char boot[65];
	int64_t seq;
	struct gw_routes fresh = { 0 };
	const cJSON *r;

	if (!cJSON_IsArray(routes) ||
	    !str_field(result, "boot_id", boot, sizeof(boot)) ||
	    !int_field(result, "seq", 0, INT64_MAX / 2, &seq))
		return false;
	fresh.g = t->g;
	cJSON_ArrayForEach(r, routes) {
		struct gw_bot *b = bot_from_json(t, r);
		if (!b || gw_routes_find(&fresh, b->id)) {
			bot_free(b, false);
			continue;
		}
		struct gw_bot *old = gw_routes_find(t, b->id);
		if (old && same_bot(old, b)) { /* keep its connections */
			bot_free(b, false);
			b = old;
		} else if (res->nadded < GW_MAX_IDS) {
			added[res->nadded++] = b->id;
		}
		if (!insert_bot(&fresh, b)) {
			if (b != old)
				bot_free(b, false);
			continue;
		}
		b->kept = b == old;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct gw_bot *b = t->bots[i];
		if (b->kept) {
			b->kept = false;
			continue;
		}
		if (!gw_routes_find(&fresh, b->id) &&
		    res->nremoved < GW_MAX_IDS)
			removed[res->nremoved++] = b->id;
		bot_free(b, true);
	}
	free(t->bots);
	t->bots = fresh.bots;
	t->n = fresh.n;
	t->cap = fresh.cap;
	memcpy(t->boot_id, boot, sizeof(boot));
	t->seq = seq;
	t->gen++;
	t->loaded = true;
	t->loaded_at_ms = lc_clock_wall_ms();
	cancel_pending(t, 0);
	return true;
}

static void on_list(const struct lc_bus_result *br, void *arg)
{
	struct gw_routes *t = arg;
	static int64_t added[GW_MAX_IDS], removed[GW_MAX_IDS];
	struct gw_resync_result res = { .ok = br->ok };
	struct waiter *w = t->waiters;

	t->syncing = false;
	t->waiters = NULL;
	if (br->ok && !apply_list(t, br->result, &res, added, removed)) {
		res.ok = false;
		res.code = BTCW_ERR_INTERNAL;
		res.message = "supervisor.routes.list answered a malformed "
			      "result";
	} else if (!br->ok) {
		res.code = br->code;
		res.message = br->message;
	}
	res.added = added;
	res.removed = removed;
	res.routes_loaded = t->n;
	res.seq = t->seq;
	if (res.ok)
		log_info("routes.resynced", LF_I("routes", (int64_t)t->n),
			 LF_I("added", (int64_t)res.nadded),
			 LF_I("removed", (int64_t)res.nremoved),
			 LF_S("boot_id", t->boot_id), LF_I("seq", t->seq));
	else
		log_warn("routes.resync_failed", LF_S("code", res.code),
			 LF_S("error", res.message));
	finish_waiters(w, &res);
	if (t->again || t->next_waiters) {
		t->again = false;
		t->waiters = t->next_waiters;
		t->next_waiters = NULL;
		start_list(t);
	}
}

static void start_list(struct gw_routes *t)
{
	struct lc_bus_client *c =
		gw_downstream_client(t->g->down, LC_CFG_SVC_SUPERVISOR);

	t->syncing = true;
	if (c && lc_bus_call(c, BTCW_METHOD_SUPERVISOR_ROUTES_LIST, NULL,
			     LIST_TIMEOUT_MS, on_list, t) == 0)
		return;
	t->syncing = false;
	struct gw_resync_result res = { .ok = false,
					.code = BTCW_ERR_UNAVAILABLE,
					.message = "the bus call could not "
						   "be made" };
	struct waiter *w = t->waiters;
	t->waiters = NULL;
	finish_waiters(w, &res);
}

void gw_routes_resync(struct gw_routes *t, gw_resync_cb cb, void *arg)
{
	struct waiter *w;

	if (t->g->svc->d.stopping) {
		struct gw_resync_result res = {
			.ok = false, .code = BTCW_ERR_UNAVAILABLE,
			.message = "the gateway is stopping" };
		if (cb)
			cb(&res, arg);
		return;
	}
	w = cb ? calloc(1, sizeof(*w)) : NULL;

	if (w) {
		w->cb = cb;
		w->arg = arg;
		struct waiter **list = t->syncing ? &t->next_waiters
						  : &t->waiters;
		w->next = *list;
		*list = w;
	} else if (cb) {
		struct gw_resync_result res = { .ok = false,
						.code = BTCW_ERR_INTERNAL,
						.message = "out of memory" };
		cb(&res, arg);
	}
	if (t->syncing)
		t->again = true;
	else
		start_list(t);
}

/* ---- route.update ---- */

static void on_get(const struct lc_bus_result *br, void *arg)
{
	struct pending *p = arg, **pp;
	struct gw_routes *t = p->t;

	for (pp = &t->pending; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = p->next;
	if (p->cancelled || p->gen != t->gen) {
		free(p);
		return;
	}
	if (!br->ok) {
		log_warn("routes.get_failed", LF_I("strategy_id", p->id),
			 LF_S("code", br->code), LF_S("error", br->message));
		if (strcmp(br->code, BTCW_ERR_NOT_FOUND) != 0)
			gw_routes_resync(t, NULL, NULL);
		free(p);
		return;
	}
	struct gw_bot *b = bot_from_json(t, br->result);
	if (b && b->id == p->id && insert_bot(t, b))
		log_info("routes.added", LF_I("strategy_id", b->id),
			 LF_I("port", b->port));
	else
		bot_free(b, false);
	free(p);
}

static void fetch_route(struct gw_routes *t, int64_t id)
{
	struct lc_bus_client *c =
		gw_downstream_client(t->g->down, LC_CFG_SVC_SUPERVISOR);
	struct pending *p = calloc(1, sizeof(*p));
	cJSON *params = cJSON_CreateObject();

	if (!p || !params || !c) {
		free(p);
		cJSON_Delete(params);
		gw_routes_resync(t, NULL, NULL);
		return;
	}
	*p = (struct pending){ t, id, t->gen, false, t->pending };
	cJSON_AddNumberToObject(params, "strategy_id", (double)id);
	if (lc_bus_call(c, BTCW_METHOD_SUPERVISOR_ROUTES_GET, params,
			LIST_TIMEOUT_MS, on_get, p) != 0) {
		free(p);
		cJSON_Delete(params);
		gw_routes_resync(t, NULL, NULL);
		return;
	}
	t->pending = p;
}

static void on_route_update(const char *topic, const cJSON *data,
			    const cJSON *env, void *arg)
{
	struct gw_routes *t = arg;
	char op[8], boot[65];
	int64_t seq, id;

	(void)topic;
	(void)env;
	if (!str_field(data, "op", op, sizeof(op)) ||
	    !str_field(data, "boot_id", boot, sizeof(boot)) ||
	    !int_field(data, "seq", 1, INT64_MAX / 2, &seq) ||
	    !int_field(data, "strategy_id", 1, INT32_MAX, &id)) {
		log_warn("routes.bad_event", LF_S("topic", topic));
		return;
	}
	if (t->syncing || !t->loaded || strcmp(boot, t->boot_id) != 0 ||
	    seq > t->seq + 1) {
		gw_routes_resync(t, NULL, NULL);
		return;
	}
	if (seq <= t->seq)
		return; /* seen, or older than the table */
	t->seq = seq;
	cancel_pending(t, id);
	remove_bot(t, id); /* an add brings new credentials too */
	if (strcmp(op, "add") == 0)
		fetch_route(t, id);
}

/* ---- bus methods ---- */

cJSON *gw_routes_list_json(const struct gw_routes *t)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	char ts[LC_CLOCK_RFC3339_LEN];

	if (t->loaded) {
		cJSON_AddStringToObject(o, "boot_id", t->boot_id);
		cJSON_AddStringToObject(o, "loaded_at",
					lc_clock_rfc3339(ts,
							 t->loaded_at_ms));
	} else {
		cJSON_AddNullToObject(o, "boot_id");
		cJSON_AddNullToObject(o, "loaded_at");
	}
	cJSON_AddNumberToObject(o, "seq", (double)t->seq);
	for (size_t i = 0; i < t->n; i++) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "strategy_id",
					(double)t->bots[i]->id);
		cJSON_AddStringToObject(r, "host", t->bots[i]->host);
		cJSON_AddNumberToObject(r, "port", t->bots[i]->port);
		cJSON_AddItemToArray(arr, r);
	}
	cJSON_AddItemToObject(o, "routes", arr);
	return o;
}

static cJSON *id_array(const int64_t *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
	return a;
}

cJSON *gw_routes_reload_json(const struct gw_resync_result *res)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "routes_loaded",
				(double)res->routes_loaded);
	cJSON_AddItemToObject(o, "added", id_array(res->added, res->nadded));
	cJSON_AddItemToObject(o, "removed",
			      id_array(res->removed, res->nremoved));
	cJSON_AddNumberToObject(o, "seq", (double)res->seq);
	return o;
}

static void rpc_list(struct lc_bus_req *req, cJSON *params, void *arg)
{
	(void)params;
	lc_bus_reply_ok(req, gw_routes_list_json(arg));
}

static void on_rpc_reloaded(const struct gw_resync_result *res, void *arg)
{
	struct lc_bus_req *req = arg;

	if (res->ok)
		lc_bus_reply_ok(req, gw_routes_reload_json(res));
	else
		lc_bus_reply_err(req, BTCW_ERR_UNAVAILABLE,
				 "cannot load the routes from ft-supervisor "
				 "(%s: %s)", res->code, res->message);
}

static void rpc_reload(struct lc_bus_req *req, cJSON *params, void *arg)
{
	(void)params;
	gw_routes_resync(arg, on_rpc_reloaded, req);
}

/* ---- start and free ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gw_routes *t = arg;

	(void)fd;
	(void)what;
	t->ticks++;
	if (t->syncing)
		return;
	if ((!t->loaded && t->ticks % RETRY_S == 0) ||
	    t->ticks % GW_ROUTES_RESYNC_S == 0)
		gw_routes_resync(t, NULL, NULL);
}

int gw_routes_start(struct gw *g, char *err, size_t errlen)
{
	struct gw_routes *t = calloc(1, sizeof(*t));
	struct timeval tv;

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->g = g;
	g->routes = t;
	if (gw_events_on(g, BTCW_TOPIC_ROUTE_UPDATE, on_route_update, t) !=
		    0 ||
	    lc_bus_server_handle(g->svc->rpc, BTCW_METHOD_GATEWAY_ROUTES_LIST,
				 rpc_list, t) != 0 ||
	    lc_bus_server_handle(g->svc->rpc,
				 BTCW_METHOD_GATEWAY_ROUTES_RELOAD, rpc_reload,
				 t) != 0) {
		snprintf(err, errlen, "cannot subscribe to route.update or "
			 "register gateway.routes.*");
		return -1;
	}
	t->timer = event_new(g->svc->d.base, -1, EV_PERSIST, on_tick, t);
	lc_clock_tv(&tv, 1000);
	if (!t->timer || event_add(t->timer, &tv) != 0) {
		snprintf(err, errlen, "cannot start the routes timer");
		return -1;
	}
	gw_routes_resync(t, NULL, NULL);
	return 0;
}

void gw_routes_free(struct gw_routes *t)
{
	struct gw_resync_result res = { .ok = false,
					.code = BTCW_ERR_CANCELLED,
					.message = "the gateway is stopping" };

	if (!t)
		return;
	if (t->timer)
		event_free(t->timer);
	finish_waiters(t->waiters, &res);
	finish_waiters(t->next_waiters, &res);
	t->waiters = t->next_waiters = NULL;
	for (size_t i = 0; i < t->n; i++)
		bot_free(t->bots[i], false);
	free(t->bots);
	while (t->pending) { /* their calls were cancelled before */
		struct pending *p = t->pending;
		t->pending = p->next;
		free(p);
	}
	free(t);
}
