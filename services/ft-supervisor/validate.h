#ifndef SUP_VALIDATE_H
#define SUP_VALIDATE_H
/*
 * Checking supervisor.strategies.create / update params and turning
 * them into the canonical strategy spec the supervisor stores:
 *
 *   {"name", "strategy_class", "exchange", "timeframe",
 *    "pair_whitelist", "proxy_id", "thresholds": {strong, medium, weak},
 *    "auto_start", "version", "extra_config"}
 *
 * Nothing is changed anywhere when a check fails: the caller gets the
 * first problem as an error code (invalid or forbidden), the field it
 * concerns and one lowercase sentence.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct lc_config;

struct verr {
	const char *code;  /* "invalid" or "forbidden" (static) */
	char field[96];    /* e.g. "thresholds.weak", "extra_config.webhook" */
	char msg[256];
};

/*
 * Create: params (borrowed) must have the required fields and nothing
 * unknown; defaults fill the rest. cfg (borrowed) gives the proxies.
 * Returns a new spec (caller deletes) or NULL with *e filled.
 */
cJSON *validate_create(const cJSON *params, const struct lc_config *cfg,
		       struct verr *e);

/*
 * Update: params (borrowed) is {id, some fields}; current (borrowed) is
 * the stored spec. Returns the merged spec, checked as a whole (so the
 * threshold order holds across a partial change), or NULL with *e.
 */
cJSON *validate_update(const cJSON *params, const cJSON *current,
		       const struct lc_config *cfg, struct verr *e);

/* Top-level FreqTrade keys extra_config may not set: those the
 * supervisor writes itself and those that point at other files
 * (validate.c says why for each). */
bool validate_managed_key(const char *key);

/* Is name one of the exchanges / timeframes we accept? */
bool validate_exchange_known(const char *name);
bool validate_timeframe_known(const char *tf);

/* params' "id" as a strategy id (>= 1), or -1 with *e filled. */
int validate_id(const cJSON *params, const char *key, struct verr *e);

#endif
