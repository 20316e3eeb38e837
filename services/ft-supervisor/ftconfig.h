#ifndef SUP_FTCONFIG_H
#define SUP_FTCONFIG_H
/*
 * The FreqTrade config of one bot instance (FREQTRADE.md §2, §4):
 * everything the SPEC lists (strategy, dry run, exchange with its proxy,
 * StaticPairList, api_server on its own port with its own random
 * credentials and jwt secret, the webhook to signal-ingest with the
 * strategy's token and templates for every trade message, its own
 * sqlite database), then the strategy's extra_config merged over it.
 */
#include <cjson/cJSON.h>
#include <stddef.h>

struct lc_config;

struct ftconfig_in {
	int id;                   /* strategy id */
	int port;                 /* api_server.listen_port */
	const cJSON *spec;        /* canonical spec (validate.h), borrowed */
	const char *api_user;     /* api_server credentials */
	const char *api_pass;
	const char *jwt_secret;   /* fresh per start */
	const char *token;        /* webhook token */
	const char *db_path;      /* absolute sqlite path of this bot */
	const struct lc_config *cfg; /* dirs, wallet, proxies, services */
};

/* The config as a new cJSON object (caller deletes), or NULL with the
 * reason in err. */
cJSON *ftconfig_build(const struct ftconfig_in *in, char *err,
		      size_t errlen);

/* Merge src over dst: objects merge key by key, anything else replaces.
 * Keys the supervisor manages are skipped at the top level when
 * top_managed is non-zero. src is borrowed. */
void ftconfig_merge(cJSON *dst, const cJSON *src, int top_managed);

/* Write config to path atomically (temp file in the same directory,
 * fsync, rename, fsync the directory), mode 0600. 0 or -1 with err. */
int ftconfig_write(const char *path, const cJSON *config, char *err,
		   size_t errlen);

/* The webhook templates, exposed for the tests and the README. */
cJSON *ftconfig_webhook_templates(void);

#endif
