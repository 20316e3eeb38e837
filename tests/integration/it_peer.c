/*
 * it_peer: two processes of this program talk over nng the way daemons
 * do, and the server reads and writes the real PostgreSQL and Redis.
 *
 *   it_peer server RPC_URL PUB_URL ADMIN_PORT
 *       methods kv.put {key,value}: upsert into PostgreSQL table it_kv,
 *       SET it:<key> in Redis, publish kv.changed {key,value}, reply
 *       {stored:true}; kv.get {key}: {key, pg, redis}; kv.hello {}:
 *       publish kv.hello (lets a subscriber prove it is connected).
 *       Env: BTCW_TEST_PG_DSN, BTCW_TEST_REDIS_HOST/PORT.
 *   it_peer client RPC_URL PUB_URL KEY VALUE
 *       subscribes to kv.changed, calls kv.hello until its event arrives,
 *       calls kv.put, waits for the reply and the event, calls kv.get,
 *       prints {"put":…,"event":…,"get":…} and exits 0 (1 on error).
 */
#include "libcommon/admin.h"
#include "libcommon/bus.h"
#include "libcommon/daemon.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/redis.h"

#include <cJSON.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- server ---- */

struct server {
	struct lc_daemon d;
	struct lc_bus_server *rpc;
	struct lc_bus_pub *pub;
	struct lc_db *db;
	struct lc_redis *redis;
	struct lc_admin *admin;
};

struct put {
	struct server *srv;
	struct lc_bus_req *req;
	char *key, *value;
};

static void put_free(struct put *p)
{
	free(p->key);
	free(p->value);
	free(p);
}

static void put_redis_done(const redisReply *r, const char *err, void *arg)
{
	struct put *p = arg;
	if (err || !r || r->type == REDIS_REPLY_ERROR) {
		lc_bus_reply_err(p->req, "unavailable", "redis: %s",
				 err ? err : r ? r->str : "no reply");
		put_free(p);
		return;
	}
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "key", p->key);
	cJSON_AddStringToObject(ev, "value", p->value);
	if (lc_bus_publish(p->srv->pub, "kv.changed", ev) != 0)
		log_warn("kv.publish_failed");
	cJSON *res = cJSON_CreateObject();
	cJSON_AddBoolToObject(res, "stored", 1);
	lc_bus_reply_ok(p->req, res);
	put_free(p);
}

static void put_db_done(const PGresult *res, const char *err, void *arg)
{
	(void)res;
	struct put *p = arg;
	if (err) {
		lc_bus_reply_err(p->req, "unavailable", "postgres: %s", err);
		put_free(p);
		return;
	}
	const char *argv[] = { "SET", NULL, p->value };
	char rkey[256];
	snprintf(rkey, sizeof(rkey), "it:%s", p->key);
	argv[1] = rkey;
	if (lc_redis_command_argv(p->srv->redis, put_redis_done, p, 3, argv,
				  NULL) != 0) {
		lc_bus_reply_err(p->req, "unavailable", "redis not ready");
		put_free(p);
	}
}

static const char *param_str(cJSON *params, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void kv_put(struct lc_bus_req *req, cJSON *params, void *arg)
{
	const char *key = param_str(params, "key");
	const char *value = param_str(params, "value");
	if (!key || !value) {
		lc_bus_reply_err(req, "invalid", "key and value are required");
		return;
	}
	struct put *p = calloc(1, sizeof(*p));
	p->srv = arg;
	p->req = req;
	p->key = strdup(key);
	p->value = strdup(value);
	const char *sql = "INSERT INTO it_kv (key, value) VALUES ($1, $2) "
			  "ON CONFLICT (key) DO UPDATE SET value = $2";
	const char *pv[] = { key, value };
	if (lc_db_query(p->srv->db, sql, 2, pv, put_db_done, p) != 0) {
		lc_bus_reply_err(req, "unavailable", "database not ready");
		put_free(p);
	}
}

struct get {
	struct server *srv;
	struct lc_bus_req *req;
	cJSON *res;
};

static void get_redis_done(const redisReply *r, const char *err, void *arg)
{
	struct get *g = arg;
	if (err) {
		lc_bus_reply_err(g->req, "unavailable", "redis: %s", err);
		cJSON_Delete(g->res);
	} else {
		cJSON_AddItemToObject(g->res, "redis",
				      r->type == REDIS_REPLY_STRING
					      ? cJSON_CreateString(r->str)
					      : cJSON_CreateNull());
		lc_bus_reply_ok(g->req, g->res);
	}
	free(g);
}

static void get_db_done(const PGresult *res, const char *err, void *arg)
{
	struct get *g = arg;
	if (err) {
		lc_bus_reply_err(g->req, "unavailable", "postgres: %s", err);
		cJSON_Delete(g->res);
		free(g);
		return;
	}
	cJSON_AddItemToObject(g->res, "pg",
			      PQntuples(res) ? cJSON_CreateString(
						       PQgetvalue(res, 0, 0))
					     : cJSON_CreateNull());
	const char *key = cJSON_GetObjectItem(g->res, "key")->valuestring;
	char rkey[256];
	snprintf(rkey, sizeof(rkey), "it:%s", key);
	const char *argv[] = { "GET", rkey };
	if (lc_redis_command_argv(g->srv->redis, get_redis_done, g, 2, argv,
				  NULL) != 0) {
		lc_bus_reply_err(g->req, "unavailable", "redis not ready");
		cJSON_Delete(g->res);
		free(g);
	}
}

static void kv_get(struct lc_bus_req *req, cJSON *params, void *arg)
{
	const char *key = param_str(params, "key");
	if (!key) {
		lc_bus_reply_err(req, "invalid", "key is required");
		return;
	}
	struct get *g = calloc(1, sizeof(*g));
	g->srv = arg;
	g->req = req;
	g->res = cJSON_CreateObject();
	cJSON_AddStringToObject(g->res, "key", key);
	const char *pv[] = { key };
	if (lc_db_query(g->srv->db, "SELECT value FROM it_kv WHERE key = $1",
			1, pv, get_db_done, g) != 0) {
		lc_bus_reply_err(req, "unavailable", "database not ready");
		cJSON_Delete(g->res);
		free(g);
	}
}

static void kv_hello(struct lc_bus_req *req, cJSON *params, void *arg)
{
	(void)params;
	struct server *srv = arg;
	if (lc_bus_publish(srv->pub, "kv.hello", cJSON_CreateObject()) != 0)
		log_warn("kv.publish_failed");
	lc_bus_reply_ok(req, NULL);
}

static bool db_ok(void *arg, char *detail, size_t n)
{
	snprintf(detail, n, "no connection");
	return lc_db_ready(arg);
}

static bool redis_ok(void *arg, char *detail, size_t n)
{
	snprintf(detail, n, "no connection");
	return lc_redis_ready(arg);
}

static int run_server(char **argv)
{
	struct server s = { 0 };
	char err[512];
	char *dargv[] = { argv[0], NULL };
	lc_daemon_init(&s.d, "it_peer", "test", 1, dargv, NULL);
	struct lc_db_config dc = { .conninfo = getenv("BTCW_TEST_PG_DSN"),
				   .pool_size = 2 };
	struct lc_redis_config rc = {
		.host = getenv("BTCW_TEST_REDIS_HOST"),
		.port = (int)strtol(getenv("BTCW_TEST_REDIS_PORT") ?: "0",
				    NULL, 10),
	};
	struct lc_bus_opts bo = { .service = "it_peer" };
	s.db = lc_db_new(s.d.base, &dc, err, sizeof(err));
	s.redis = s.db ? lc_redis_new(s.d.base, &rc, err, sizeof(err)) : NULL;
	s.rpc = s.redis ? lc_bus_server_new(s.d.base, argv[2], &bo, err,
					    sizeof(err))
			: NULL;
	s.pub = s.rpc ? lc_bus_pub_new(argv[3], &bo, err, sizeof(err)) : NULL;
	s.admin = s.pub ? lc_admin_new(s.d.base, "it_peer", "test", NULL,
				       (int)strtol(argv[4], NULL, 10), NULL,
				       err, sizeof(err))
			: NULL;
	if (!s.admin ||
	    lc_admin_add_check(s.admin, "postgres", db_ok, s.db, err,
			       sizeof(err)) ||
	    lc_admin_add_check(s.admin, "redis", redis_ok, s.redis, err,
			       sizeof(err)) ||
	    lc_bus_server_handle(s.rpc, "kv.put", kv_put, &s) ||
	    lc_bus_server_handle(s.rpc, "kv.get", kv_get, &s) ||
	    lc_bus_server_handle(s.rpc, "kv.hello", kv_hello, &s)) {
		log_error("it_peer.setup_failed", LF_S("error", err));
		return 111;
	}
	int rc_ = lc_daemon_run(&s.d);
	lc_admin_free(s.admin);
	lc_bus_pub_free(s.pub);
	lc_bus_server_free(s.rpc);
	lc_redis_free(s.redis);
	lc_db_free(s.db);
	lc_daemon_release(&s.d);
	return rc_;
}

/* ---- client ---- */

struct client {
	struct event_base *base;
	struct lc_bus_client *cli;
	struct event *hello_timer, *deadline;
	const char *key, *value;
	bool connected, put_done, event_seen;
	cJSON *out;
	int rc;
};

static void finish(struct client *c, int rc, const char *why)
{
	if (why)
		log_error("it_peer.client_failed", LF_S("error", why));
	c->rc = rc;
	event_base_loopexit(c->base, NULL);
}

static void get_done(const struct lc_bus_result *r, void *arg)
{
	struct client *c = arg;
	if (!r->ok) {
		finish(c, 1, r->message);
		return;
	}
	cJSON_AddItemToObject(c->out, "get", cJSON_Duplicate(r->result, 1));
	finish(c, 0, NULL);
}

static void maybe_get(struct client *c)
{
	if (!c->put_done || !c->event_seen)
		return;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "key", c->key);
	if (lc_bus_call(c->cli, "kv.get", p, 5000, get_done, c) != 0)
		finish(c, 1, "kv.get not sent");
}

static void put_done(const struct lc_bus_result *r, void *arg)
{
	struct client *c = arg;
	if (!r->ok) {
		finish(c, 1, r->message);
		return;
	}
	cJSON_AddItemToObject(c->out, "put", cJSON_Duplicate(r->result, 1));
	c->put_done = true;
	maybe_get(c);
}

static void on_changed(const char *topic, const cJSON *data,
		       const cJSON *env, void *arg)
{
	(void)topic;
	(void)env;
	struct client *c = arg;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(data, "key");
	if (!cJSON_IsString(k) || strcmp(k->valuestring, c->key) != 0)
		return;
	cJSON_AddItemToObject(c->out, "event", cJSON_Duplicate(data, 1));
	c->event_seen = true;
	maybe_get(c);
}

static void on_hello(const char *topic, const cJSON *data, const cJSON *env,
		     void *arg)
{
	(void)topic;
	(void)data;
	(void)env;
	struct client *c = arg;
	if (c->connected)
		return;
	c->connected = true;
	evtimer_del(c->hello_timer);
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "key", c->key);
	cJSON_AddStringToObject(p, "value", c->value);
	if (lc_bus_call(c->cli, "kv.put", p, 5000, put_done, c) != 0)
		finish(c, 1, "kv.put not sent");
}

static void hello_ignored(const struct lc_bus_result *r, void *arg)
{
	(void)r;
	(void)arg;
}

/* Until our subscription is connected, ask the server to say hello. */
static void hello_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client *c = arg;
	if (lc_bus_call(c->cli, "kv.hello", cJSON_CreateObject(), 1000,
			hello_ignored, c) != 0)
		log_warn("it_peer.hello_not_sent");
	struct timeval tv = { 0, 100000 };
	evtimer_add(c->hello_timer, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg, 1, "timed out");
}

static int run_client(char **argv)
{
	struct client c = { .key = argv[4], .value = argv[5], .rc = 1 };
	char err[512];
	lc_log_init("it_peer_client", LC_LOG_INFO);
	c.base = event_base_new();
	c.out = cJSON_CreateObject();
	struct lc_bus_opts bo = { 0 };
	c.cli = lc_bus_client_new(c.base, argv[2], &bo, err, sizeof(err));
	struct lc_bus_sub *sub =
		c.cli ? lc_bus_sub_new(c.base, &bo, err, sizeof(err)) : NULL;
	if (!sub || lc_bus_sub_dial(sub, argv[3], err, sizeof(err)) ||
	    lc_bus_subscribe(sub, "kv.changed", on_changed, &c) ||
	    lc_bus_subscribe(sub, "kv.hello", on_hello, &c)) {
		log_error("it_peer.setup_failed", LF_S("error", err));
		return 111;
	}
	c.hello_timer = evtimer_new(c.base, hello_tick, &c);
	c.deadline = evtimer_new(c.base, on_deadline, &c);
	struct timeval dl = { 15, 0 };
	evtimer_add(c.deadline, &dl);
	hello_tick(-1, 0, &c);
	event_base_dispatch(c.base);
	if (c.rc == 0) {
		char *s = cJSON_PrintUnformatted(c.out);
		printf("%s\n", s);
		cJSON_free(s);
	}
	event_free(c.hello_timer);
	event_free(c.deadline);
	lc_bus_sub_free(sub);
	lc_bus_client_free(c.cli);
	cJSON_Delete(c.out);
	event_base_free(c.base);
	return c.rc;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "server") == 0)
		return run_server(argv);
	if (argc == 6 && strcmp(argv[1], "client") == 0)
		return run_client(argv);
	fprintf(stderr, "usage: it_peer server RPC PUB ADMIN_PORT\n"
			"       it_peer client RPC PUB KEY VALUE\n");
	return 100;
}
