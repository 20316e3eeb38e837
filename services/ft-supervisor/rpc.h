#ifndef SUP_RPC_H
#define SUP_RPC_H
/*
 * Helpers shared by the supervisor.* method handlers (rpc.c: the
 * registry methods; rpc_ops.c: lifecycle, reports, routes; upgrade.c).
 * Each helper that returns false / NULL has already answered the
 * request.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>

struct sup;
struct bot;
struct lc_bus_req;
struct verr;

/* Reconciled and not shutting down; else answers unavailable. */
bool rpc_ready(struct sup *s, struct lc_bus_req *req);

/* params has no key outside keys (NULL-ended); else answers invalid. */
bool rpc_only(struct lc_bus_req *req, const cJSON *params,
	      const char *const *keys);

/* Answer a validation failure (code, details.field, message). */
void rpc_reply_verr(struct lc_bus_req *req, const struct verr *e);

/*
 * The live strategy params[key] names. NULL when the id is invalid
 * (answered invalid) or no live strategy has it: then the database says
 * whether it was deleted (answered deleted_code, e.g. conflict) or never
 * existed (not_found). deleted_code NULL: not_found either way.
 */
struct bot *rpc_bot(struct sup *s, struct lc_bus_req *req,
		    const cJSON *params, const char *key,
		    const char *deleted_code);

int rpc_register_ops(struct sup *s);

/* Register method -> fn with s as arg; logs and returns -1 on error. */
typedef void (*rpc_fn)(struct lc_bus_req *req, cJSON *params, void *arg);
int rpc_handle(struct sup *s, const char *method, rpc_fn fn);

#endif
