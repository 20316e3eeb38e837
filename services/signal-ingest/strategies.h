#ifndef INGEST_STRATEGIES_H
#define INGEST_STRATEGIES_H
/*
 * What the ingester needs of the strategy registry (owned by the
 * supervisor, in PostgreSQL): id -> webhook token, thresholds, version,
 * name, deleted. Held in memory, reloaded whole (a few thousand rows at
 * most) every STRAT_REFRESH_MS, when the supervisor announces a change
 * (strategy.state), and when a webhook's strategy or token does not
 * match -- the token may have been rotated or the strategy just
 * created: such a webhook waits for a reload that started after it
 * arrived. Reloads are at least STRAT_MIN_GAP_MS apart, so a flood of
 * bad tokens costs the database one query per second at most.
 *
 * Token checks compare SHA-256 digests with CRYPTO_memcmp: constant
 * time and independent of the token's length. An unknown strategy and a
 * wrong token take the same path (wait for a reload, then 404), so a
 * caller cannot tell which strategies exist. Tokens are kept only as
 * digests.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/signal-ingest/parse.h"

struct event_base;
struct lc_db;

#define STRAT_REFRESH_MS 30000
#define STRAT_MIN_GAP_MS 1000
#define STRAT_MAX_WAITERS 4096

struct strategies;

enum st_verdict {
	ST_OK,    /* a live strategy with this token */
	ST_NO,    /* refused by a cache newer than the webhook */
	ST_RETRY, /* refused by a cache that may be stale: wait, ask again */
};

/* A cache reading through db (borrowed; must outlive it). Loads at once
 * and then periodically; on_loaded(arg) (may be NULL) runs after each
 * successful load. NULL on ENOMEM. */
struct strategies *strategies_new(struct event_base *base, struct lc_db *db,
				  void (*on_loaded)(void *arg), void *arg);

/* Free the cache; every waiter is called with refreshed = false. */
void strategies_free(struct strategies *c);

/*
 * Check a webhook's strategy id and token (token[0..len), borrowed);
 * arrival_ms is when the webhook came (lc_clock_mono_ms). A refusal is
 * final (ST_NO) only if the cache was loaded by a reload that started
 * after the webhook arrived, so a strategy created just before its first
 * webhook is found. On ST_OK *info is filled; its pointers borrow the
 * cache and are valid until control returns to the loop.
 */
enum st_verdict strategies_check(struct strategies *c, int64_t id,
				 const char *token, size_t len,
				 int64_t arrival_ms, struct strat_info *info);

/* Called after the next reload attempt: refreshed tells whether it
 * succeeded. */
typedef void (*strategies_wait_fn)(void *arg, bool refreshed);

/* Run fn(arg) after the next reload (started now, or as soon as the
 * minimum gap allows). 0, or -1 when too many are waiting. */
int strategies_wait(struct strategies *c, strategies_wait_fn fn, void *arg)
	__attribute__((warn_unused_result));

/* Ask for a reload soon (the supervisor announced a change). */
void strategies_poke(struct strategies *c);

/* The strategy's name (borrowed until the next reload), or NULL. */
const char *strategies_name(const struct strategies *c, int64_t id);

/* Loaded at least once; how many strategies are known; how many
 * reloads succeeded. */
bool strategies_loaded(const struct strategies *c);
size_t strategies_count(const struct strategies *c);
uint64_t strategies_reloads(const struct strategies *c);

#endif
