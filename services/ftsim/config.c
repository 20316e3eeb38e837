/*
 * config: FreqTrade's JSON config as `freqtrade trade` reads it: files
 * merged in order (and their add_config_files), comments allowed,
 * FREQTRADE__SECTION__KEY environment overrides, command-line overrides,
 * then validated (the parts of config_schema.py ftsim relies on) with
 * FreqTrade's messages and exit codes: 2 for a missing file or folder,
 * 1 for an invalid config.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "services/ftsim/ftsim.h"

#define LOG_CFG "freqtrade.configuration.configuration"
#define LOG_LOAD "freqtrade.configuration.load_config"
#define MAX_FILE (16L * 1024 * 1024)

extern char **environ;

/* ---- reading files ---- */

static char *read_stream(FILE *f)
{
	struct lc_buf b;
	lc_buf_init(&b, MAX_FILE);
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (lc_buf_append(&b, chunk, n) != 0) {
			lc_buf_release(&b);
			return NULL;
		}
	size_t len;
	return lc_buf_detach(&b, &len);
}

/* 0, 2 (missing) or 1 (syntax); *out owns the parsed tree. */
static int load_file(const char *path, cJSON **out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		ftlog(FTL_ERROR, "freqtrade",
		      "Config file \"%s\" not found! Please create a config "
		      "file or check whether it exists.",
		      path);
		return 2;
	}
	char *text = read_stream(f);
	if (f != stdin)
		fclose(f);
	if (!text) {
		ftlog(FTL_ERROR, "freqtrade", "Could not read \"%s\"", path);
		return 2;
	}
	cJSON_Minify(text); /* FreqTrade's parser allows comments */
	*out = cJSON_Parse(text);
	if (!*out || !cJSON_IsObject(*out)) {
		const char *at = cJSON_GetErrorPtr();
		ftlog(FTL_ERROR, "freqtrade",
		      "Configuration error: Parse error: invalid JSON near "
		      "'%.40s'\nPlease verify your configuration file for "
		      "syntax errors.",
		      at ? at : "");
		cJSON_Delete(*out);
		*out = NULL;
		free(text);
		return 1;
	}
	free(text);
	ftlog(FTL_INFO, LOG_LOAD, "Using config: %s ...", path);
	return 0;
}

/* deep_merge_dicts: src's keys win, objects merge. Takes src. */
static void merge(cJSON *dst, cJSON *src)
{
	cJSON *it = src->child;
	while (it) {
		cJSON *next = it->next;
		cJSON *cur = jget(dst, it->string);
		cJSON_DetachItemViaPointer(src, it);
		if (cur && cJSON_IsObject(cur) && cJSON_IsObject(it)) {
			merge(cur, it);
			cJSON_Delete(it);
		} else if (cur) {
			cJSON_ReplaceItemViaPointer(dst, cur, it);
		} else {
			cJSON_AddItemToObject(dst, it->string, it);
		}
		it = next;
	}
}

static int load_tree(const char *path, int depth, cJSON **out);

/* add_config_files: the listed files first, this one on top. */
static int load_includes(const char *path, int depth, cJSON **tree)
{
	cJSON *inc = cJSON_DetachItemFromObject(*tree, "add_config_files");
	if (!inc || !cJSON_IsArray(inc) || depth > 8) {
		cJSON_Delete(inc);
		return 0;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[1] = 0;
	else
		dir[0] = 0;
	cJSON *base = cJSON_CreateObject();
	const cJSON *f;
	int rc = 0;
	cJSON_ArrayForEach (f, inc) {
		char p[8192];
		if (!cJSON_IsString(f))
			continue;
		snprintf(p, sizeof(p), "%s%s",
		         f->valuestring[0] == '/' ? "" : dir, f->valuestring);
		cJSON *sub = NULL;
		rc = load_tree(p, depth + 1, &sub);
		if (rc != 0)
			break;
		merge(base, sub);
		cJSON_Delete(sub);
	}
	cJSON_Delete(inc);
	if (rc != 0) {
		cJSON_Delete(base);
		return rc;
	}
	merge(base, *tree);
	cJSON_Delete(*tree);
	*tree = base;
	return 0;
}

static int load_tree(const char *path, int depth, cJSON **out)
{
	int rc = load_file(path, out);
	return rc ? rc : load_includes(path, depth, out);
}

/* ---- overrides ---- */

static cJSON *typed_value(const char *v)
{
	char *end;
	errno = 0;
	long long i = strtoll(v, &end, 10);
	if (*v && !*end && errno == 0)
		return cJSON_CreateNumber((double)i);
	double d = strtod(v, &end);
	if (*v && !*end)
		return cJSON_CreateNumber(d);
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0)
		return cJSON_CreateBool(strcasecmp(v, "true") == 0);
	if (v[0] == '[' || v[0] == '{') {
		cJSON *j = cJSON_Parse(v);
		if (j)
			return j;
	}
	return cJSON_CreateString(v);
}

/* FREQTRADE__API_SERVER__LISTEN_PORT=8081 -> api_server.listen_port */
static void env_overrides(cJSON *root)
{
	static const char pre[] = "FREQTRADE__";
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, pre, sizeof(pre) - 1) != 0)
			continue;
		char key[512];
		snprintf(key, sizeof(key), "%s", *e + sizeof(pre) - 1);
		char *eq = strchr(key, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *val = strchr(*e, '=') + 1;
		cJSON *node = root;
		char *part = key;
		for (char *sep; (sep = strstr(part, "__")) != NULL;
		     part = sep + 2) {
			*sep = 0;
			for (char *c = part; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			cJSON *ch = jget(node, part);
			if (!cJSON_IsObject(ch)) {
				cJSON_DeleteItemFromObjectCaseSensitive(node,
				                                        part);
				ch = cJSON_AddObjectToObject(node, part);
			}
			node = ch;
		}
		for (char *c = part; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		cJSON_DeleteItemFromObjectCaseSensitive(node, part);
		cJSON_AddItemToObject(node, part, typed_value(val));
	}
}

static void set_item(cJSON *o, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddItemToObject(o, key, v);
}

static void cli_overrides(cJSON *root, const struct ft_args *a)
{
	if (a->dry_run)
		set_item(root, "dry_run", cJSON_CreateTrue());
	if (a->db_url)
		set_item(root, "db_url", cJSON_CreateString(a->db_url));
	if (a->strategy)
		set_item(root, "strategy", cJSON_CreateString(a->strategy));
}

/* ---- validation ---- */

struct verr {
	char msg[512];
};

static int fail(struct verr *e, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int fail(struct verr *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* jsonschema's repr of an instance in its messages. */
static const char *inst(const cJSON *v, char *buf, size_t n)
{
	if (cJSON_IsString(v))
		snprintf(buf, n, "'%s'", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "True" : "False");
	else if (cJSON_IsNull(v))
		snprintf(buf, n, "None");
	else if (cJSON_IsNumber(v)) {
		char f[FMT_FLOAT_LEN];
		if (v->valuedouble == floor(v->valuedouble) &&
		    fabs(v->valuedouble) < 1e15)
			snprintf(buf, n, "%.0f", v->valuedouble);
		else
			snprintf(buf, n, "%s",
			         fmt_float_repr(f, v->valuedouble));
	} else {
		char *s = cJSON_PrintUnformatted(v);
		snprintf(buf, n, "%s", s ? s : "?");
		free(s);
	}
	return buf;
}

static int need_type(struct verr *e, const cJSON *v, const char *type)
{
	char b[200];
	bool ok = false;
	if (strcmp(type, "string") == 0)
		ok = cJSON_IsString(v);
	else if (strcmp(type, "boolean") == 0)
		ok = cJSON_IsBool(v);
	else if (strcmp(type, "number") == 0)
		ok = cJSON_IsNumber(v);
	else if (strcmp(type, "integer") == 0)
		ok = cJSON_IsNumber(v) &&
		     v->valuedouble == floor(v->valuedouble);
	else if (strcmp(type, "array") == 0)
		ok = cJSON_IsArray(v);
	else if (strcmp(type, "object") == 0)
		ok = cJSON_IsObject(v);
	if (ok)
		return 0;
	return fail(e, "%s is not of type '%s'", inst(v, b, sizeof(b)), type);
}

static int opt_type(struct verr *e, const cJSON *o, const char *key,
                    const char *type)
{
	const cJSON *v = jget(o, key);
	return v ? need_type(e, v, type) : 0;
}

static int required(struct verr *e, const cJSON *o, const char *const *keys)
{
	for (; *keys; keys++)
		if (!jget(o, *keys))
			return fail(e, "'%s' is a required property", *keys);
	return 0;
}

static int check_api(struct verr *e, const cJSON *api)
{
	static const char *const req[] = { "enabled",     "listen_ip_address",
		                           "listen_port", "username",
		                           "password",    NULL };
	char b[200];
	if (need_type(e, api, "object") || required(e, api, req) ||
	    opt_type(e, api, "enabled", "boolean") ||
	    opt_type(e, api, "listen_ip_address", "string") ||
	    opt_type(e, api, "listen_port", "integer") ||
	    opt_type(e, api, "username", "string") ||
	    opt_type(e, api, "password", "string") ||
	    opt_type(e, api, "jwt_secret_key", "string") ||
	    opt_type(e, api, "CORS_origins", "array") ||
	    opt_type(e, api, "verbosity", "string"))
		return -1;
	const cJSON *ip = jget(api, "listen_ip_address");
	struct in_addr a;
	if (inet_pton(AF_INET, ip->valuestring, &a) != 1)
		return fail(e, "%s is not a 'ipv4'", inst(ip, b, sizeof(b)));
	const cJSON *port = jget(api, "listen_port");
	if (port->valuedouble < 1024)
		return fail(e, "%s is less than the minimum of 1024",
		            inst(port, b, sizeof(b)));
	if (port->valuedouble > 65535)
		return fail(e, "%s is greater than the maximum of 65535",
		            inst(port, b, sizeof(b)));
	const cJSON *ws = jget(api, "ws_token");
	if (ws && !cJSON_IsString(ws) && !cJSON_IsArray(ws))
		return fail(e,
		            "%s is not valid under any of the given schemas",
		            inst(ws, b, sizeof(b)));
	return 0;
}

static int check_enum(struct verr *e, const cJSON *o, const char *key,
                      const char *const *allowed)
{
	const cJSON *v = jget(o, key);
	char b[200];
	if (!v)
		return 0;
	for (const char *const *a = allowed; *a; a++)
		if (cJSON_IsString(v) && strcmp(v->valuestring, *a) == 0)
			return 0;
	struct lc_buf l;
	lc_buf_init(&l, 400);
	int rc = 0;
	for (const char *const *a = allowed; *a; a++)
		rc |= lc_buf_printf(&l, "%s'%s'", a == allowed ? "" : ", ",
		                    *a);
	(void)rc; /* a truncated list is fine in a message */
	fail(e, "%s is not one of [%s]", inst(v, b, sizeof(b)),
	     l.data ? l.data : "");
	lc_buf_release(&l);
	return -1;
}

static int check_webhook(struct verr *e, const cJSON *wh)
{
	static const char *const fmts[] = { "form", "json", "raw", NULL };
	char b[200];
	if (need_type(e, wh, "object") ||
	    opt_type(e, wh, "enabled", "boolean") ||
	    opt_type(e, wh, "url", "string") ||
	    opt_type(e, wh, "retries", "integer") ||
	    opt_type(e, wh, "retry_delay", "number") ||
	    opt_type(e, wh, "timeout", "number") ||
	    check_enum(e, wh, "format", fmts))
		return -1;
	const cJSON *r = jget(wh, "retries");
	if (r && r->valuedouble < 0)
		return fail(e, "%s is less than the minimum of 0",
		            inst(r, b, sizeof(b)));
	return 0;
}

static int check_stake(struct verr *e, const cJSON *root)
{
	const cJSON *s = jget(root, "stake_amount");
	char b[200];
	if (cJSON_IsString(s) && strcmp(s->valuestring, "unlimited") == 0)
		return 0;
	if (!cJSON_IsNumber(s))
		return fail(e,
		            "%s is not valid under any of the given schemas",
		            inst(s, b, sizeof(b)));
	if (s->valuedouble < 0.0001)
		return fail(e, "%s is less than the minimum of 0.0001",
		            inst(s, b, sizeof(b)));
	return 0;
}

static int validate(struct verr *e, const cJSON *root)
{
	static const char *const req[] = { "exchange", "stake_currency",
		                           "stake_amount", "dry_run", NULL };
	static const char *const states[] = { "running", "stopped", "paused",
		                              NULL };
	const cJSON *api = jget(root, "api_server");
	const cJSON *wh = jget(root, "webhook");
	const cJSON *ex = jget(root, "exchange");
	static const char *const exreq[] = { "name", NULL };
	if (required(e, root, req) || need_type(e, ex, "object") ||
	    required(e, ex, exreq) || opt_type(e, ex, "name", "string") ||
	    opt_type(e, ex, "pair_whitelist", "array") ||
	    opt_type(e, ex, "pair_blacklist", "array") ||
	    opt_type(e, root, "dry_run", "boolean") ||
	    opt_type(e, root, "stake_currency", "string") ||
	    check_stake(e, root) ||
	    opt_type(e, root, "max_open_trades", "integer") ||
	    opt_type(e, root, "dry_run_wallet", "number") ||
	    opt_type(e, root, "timeframe", "string") ||
	    opt_type(e, root, "stoploss", "number") ||
	    opt_type(e, root, "minimal_roi", "object") ||
	    opt_type(e, root, "bot_name", "string") ||
	    opt_type(e, root, "internals", "object") ||
	    check_enum(e, root, "initial_state", states))
		return -1;
	if (api && check_api(e, api))
		return -1;
	if (wh && check_webhook(e, wh))
		return -1;
	const cJSON *m = jget(root, "max_open_trades");
	char b[200];
	if (m && m->valuedouble < -1)
		return fail(e, "%s is less than the minimum of -1",
		            inst(m, b, sizeof(b)));
	return 0;
}

/* ---- extraction ---- */

static const cJSON *get(const cJSON *o, const char *key)
{
	return o ? jget(o, key) : NULL;
}

static const char *str_or(const cJSON *o, const char *key, const char *def)
{
	const cJSON *v = get(o, key);
	return cJSON_IsString(v) ? v->valuestring : def;
}

static double num_or(const cJSON *o, const char *key, double def)
{
	const cJSON *v = get(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static bool bool_or(const cJSON *o, const char *key, bool def)
{
	const cJSON *v = get(o, key);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* "5m" -> 300; 0 if not a timeframe. */
static int tf_seconds(const char *tf)
{
	char *end;
	long n = strtol(tf, &end, 10);
	if (n <= 0 || end[0] == 0 || end[1] != 0)
		return 0;
	switch (end[0]) {
	case 's': return (int)n;
	case 'm': return (int)n * 60;
	case 'h': return (int)n * 3600;
	case 'd': return (int)n * 86400;
	case 'w': return (int)n * 604800;
	case 'M': return (int)n * 2592000;
	}
	return 0;
}

enum ft_state config_state(const char *s)
{
	if (!s)
		return FT_NONE;
	for (enum ft_state st = FT_RUNNING; st <= FT_RELOAD_CONFIG; st++)
		if (strcmp(s, ft_state_name(st)) == 0)
			return st;
	return FT_NONE;
}

const char *ft_state_name(enum ft_state s)
{
	switch (s) {
	case FT_RUNNING: return "running";
	case FT_PAUSED: return "paused";
	case FT_STOPPED: return "stopped";
	case FT_RELOAD_CONFIG: return "reload_config";
	default: return "";
	}
}

const char *ft_state_upper(enum ft_state s)
{
	switch (s) {
	case FT_RUNNING: return "RUNNING";
	case FT_PAUSED: return "PAUSED";
	case FT_STOPPED: return "STOPPED";
	case FT_RELOAD_CONFIG: return "RELOAD_CONFIG";
	default: return "";
	}
}

/* Defaults the simulated strategy provides, written into the config so
 * that show_config and the startup message see them. */
static void strategy_defaults(cJSON *root)
{
	if (!get(root, "timeframe"))
		cJSON_AddStringToObject(root, "timeframe", "5m");
	if (!get(root, "stoploss"))
		cJSON_AddItemToObject(root, "stoploss", json_float(-0.10));
	if (!get(root, "minimal_roi")) {
		cJSON *r = cJSON_AddObjectToObject(root, "minimal_roi");
		cJSON_AddItemToObject(r, "60", json_float(0.01));
		cJSON_AddItemToObject(r, "30", json_float(0.02));
		cJSON_AddItemToObject(r, "0", json_float(0.04));
	}
	if (!get(root, "trailing_stop"))
		cJSON_AddFalseToObject(root, "trailing_stop");
	if (!get(root, "max_open_trades"))
		cJSON_AddNumberToObject(root, "max_open_trades", 3);
}

static const char *const known_bases[] = {
	"BTC", "ETH", "BNB",  "SOL",  "XRP", "ADA", "DOGE",
	"LTC", "DOT", "LINK", "AVAX", "TRX", NULL,
};

static bool is_regex(const char *p)
{
	return strpbrk(p, "*+?[]()|^$\\") != NULL;
}

/* Expand wildcards (".*" then "/USDT") against the simulated market and
 * keep the pairs quoted in the stake currency, as the pairlist does. */
static cJSON *expand_whitelist(const cJSON *list, const char *stake)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *p;
	cJSON_ArrayForEach (p, list) {
		if (!cJSON_IsString(p))
			continue;
		char cand[MK_NAME_LEN * 2];
		if (!is_regex(p->valuestring)) {
			const char *q = strchr(p->valuestring, '/');
			if (!q || strncmp(q + 1, stake, strlen(stake)) != 0) {
				ftlog(FTL_WARNING,
				      "freqtrade.plugins.pairlistmanager",
				      "Pair %s is not compatible with your "
				      "stake currency %s. Removing it from "
				      "whitelist.",
				      p->valuestring, stake);
				continue;
			}
			cJSON_AddItemToArray(
			        out, cJSON_CreateString(p->valuestring));
			continue;
		}
		regex_t re;
		char anchored[300];
		snprintf(anchored, sizeof(anchored), "^(%s)$", p->valuestring);
		if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
			continue;
		for (const char *const *b = known_bases; *b; b++) {
			snprintf(cand, sizeof(cand), "%s/%s", *b, stake);
			if (regexec(&re, cand, 0, NULL, 0) == 0)
				cJSON_AddItemToArray(out,
				                     cJSON_CreateString(cand));
		}
		regfree(&re);
	}
	if (cJSON_GetArraySize(out) == 0) {
		for (int i = 0; i < 3; i++) {
			char cand[MK_NAME_LEN * 2];
			snprintf(cand, sizeof(cand), "%s/%s", known_bases[i],
			         stake);
			cJSON_AddItemToArray(out, cJSON_CreateString(cand));
		}
	}
	return out;
}

static void read_sim(struct ft_sim *s, const cJSON *b)
{
	s->seed = (uint64_t)num_or(b, "seed", 1);
	s->entries_per_minute = num_or(b, "entries_per_minute", 0.5);
	s->min_trade_s = num_or(b, "min_trade_seconds", 120);
	s->max_trade_s = num_or(b, "max_trade_seconds", 1800);
	if (s->max_trade_s < s->min_trade_s)
		s->max_trade_s = s->min_trade_s;
	s->volatility = num_or(b, "volatility", 0.002);
	s->startup_delay = num_or(b, "startup_delay", 0);
	s->reload_delay = num_or(b, "reload_delay", 1);
	s->hang = bool_or(b, "hang", false);
	s->crash_after = num_or(b, "crash_after", 0);
	s->crash_exit_code = (int)num_or(b, "crash_exit_code", 1);
	s->slow_ms = (int)num_or(b, "slow_ms", 0);
	s->slow_endpoints = get(b, "slow_endpoints");
	s->fail_endpoints = get(b, "fail_endpoints");
	s->fail_status = (int)num_or(b, "fail_status", 500);
	s->version = str_or(b, "version", FT_VERSION_DEFAULT);
	s->max_closed_trades = (int)num_or(b, "max_closed_trades", 5000);
	s->strategy_msg = bool_or(b, "strategy_msg", true);
}

static void read_webhook(struct ft_webhook_cfg *w, const cJSON *wh)
{
	w->node = wh;
	w->enabled = bool_or(wh, "enabled", false);
	w->url = str_or(wh, "url", NULL);
	w->format = str_or(wh, "format", "form");
	w->retries = (int)num_or(wh, "retries", 0);
	w->retry_delay = num_or(wh, "retry_delay", 0.1);
	w->timeout = num_or(wh, "timeout", 10);
	w->allow_custom = bool_or(wh, "allow_custom_messages", false);
}

static void read_api(struct ft_cfg *c, const cJSON *api)
{
	c->api_enabled = bool_or(api, "enabled", false);
	c->listen_ip = str_or(api, "listen_ip_address", "127.0.0.1");
	c->listen_port = (int)num_or(api, "listen_port", 8080);
	c->username = str_or(api, "username", "");
	c->password = str_or(api, "password", "");
	c->jwt_secret = str_or(api, "jwt_secret_key", "super-secret");
	c->cors = get(api, "CORS_origins");
	c->ws_token = get(api, "ws_token");
}

static void extract(struct ft_cfg *c)
{
	cJSON *r = c->root;
	const cJSON *ex = get(r, "exchange");
	const cJSON *in = get(r, "internals");
	read_api(c, get(r, "api_server"));
	c->bot_name = str_or(r, "bot_name", "freqtrade");
	c->strategy = str_or(r, "strategy", NULL);
	c->timeframe = str_or(r, "timeframe", "5m");
	c->tf_secs = tf_seconds(c->timeframe);
	c->exchange = str_or(ex, "name", "binance");
	c->stake_currency = str_or(r, "stake_currency", "USDT");
	c->stake_amount = num_or(r, "stake_amount", -1);
	c->max_open_trades = (int)num_or(r, "max_open_trades", 3);
	c->wallet = num_or(r, "dry_run_wallet", 1000);
	c->tradable_ratio = num_or(r, "tradable_balance_ratio", 0.99);
	c->dry_run = bool_or(r, "dry_run", true);
	c->fiat = str_or(r, "fiat_display_currency", NULL);
	c->stoploss = num_or(r, "stoploss", -0.10);
	c->minimal_roi = get(r, "minimal_roi");
	c->initial_state = config_state(str_or(r, "initial_state", "stopped"));
	c->throttle_secs = num_or(in, "process_throttle_secs", 5);
	c->heartbeat_interval = (int)num_or(in, "heartbeat_interval", 60);
	c->force_entry_enable = bool_or(r, "force_entry_enable", false);
	c->db_url = str_or(r, "db_url",
	                   c->dry_run ? "sqlite:///tradesv3.dryrun.sqlite"
	                              : "sqlite:///tradesv3.sqlite");
	cJSON *wl =
	        expand_whitelist(get(ex, "pair_whitelist"), c->stake_currency);
	set_item(r, "ftsim_whitelist", wl);
	c->whitelist = wl;
	c->blacklist = get(ex, "pair_blacklist");
	c->pairlists = get(r, "pairlists");
	read_webhook(&c->wh, get(r, "webhook"));
	read_sim(&c->sim, get(r, "ftsim"));
	if (c->throttle_secs < 0.1)
		c->throttle_secs = 0.1;
}

static int invalid(const char *why)
{
	ftlog(FTL_CRITICAL, "freqtrade.configuration.config_validation",
	      "Invalid configuration. Reason: %s", why);
	char tb[700];
	snprintf(tb, sizeof(tb),
	         "Traceback (most recent call last):\n"
	         "  File \"freqtrade/main.py\", line 45, in main\n"
	         "jsonschema.exceptions.ValidationError: %s",
	         why);
	ftlog_exc(FTL_ERROR, "freqtrade", tb, "Fatal exception!");
	return 1;
}

static int load_all(const struct ft_args *a, cJSON **root)
{
	char def[4096];
	const char *deflt[1] = { "config.json" };
	const char *const *files = a->configs;
	int n = a->nconfigs;
	if (n == 0) {
		if (a->userdir)
			snprintf(def, sizeof(def), "%s/config.json",
			         a->userdir);
		deflt[0] = a->userdir ? def : "config.json";
		files = deflt;
		n = 1;
	}
	*root = cJSON_CreateObject();
	for (int i = 0; i < n; i++) {
		cJSON *t = NULL;
		int rc = load_tree(files[i], 0, &t);
		if (rc != 0)
			return rc;
		merge(*root, t);
		cJSON_Delete(t);
	}
	return 0;
}

int config_load(struct ft_cfg *c, const struct ft_args *a)
{
	memset(c, 0, sizeof(*c));
	struct stat st;
	if (a->userdir &&
	    (stat(a->userdir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		ftlog(FTL_ERROR, "freqtrade",
		      "Directory `%s` does not exist. Please use `freqtrade "
		      "create-userdir` to create a user directory",
		      a->userdir);
		return 2;
	}
	int rc = load_all(a, &c->root);
	if (rc != 0) {
		config_release(c);
		return rc;
	}
	env_overrides(c->root);
	cli_overrides(c->root, a);
	struct verr e;
	if (validate(&e, c->root) != 0) {
		config_release(c);
		return invalid(e.msg);
	}
	strategy_defaults(c->root);
	const cJSON *wh = get(c->root, "webhook");
	if (bool_or(wh, "enabled", false) && !str_or(wh, "url", NULL)) {
		config_release(c);
		return invalid("'url' is a required property");
	}
	extract(c);
	if (!c->strategy) {
		ftlog(FTL_ERROR, "freqtrade",
		      "No strategy set. Please use `--strategy` to specify "
		      "the strategy class to use.");
		config_release(c);
		return 2;
	}
	if (c->tf_secs <= 0) {
		config_release(c);
		return invalid("timeframe is not a valid timeframe");
	}
	return 0;
}

void config_release(struct ft_cfg *c)
{
	cJSON_Delete(c->root);
	memset(c, 0, sizeof(*c));
}
