/* One bot's FreqTrade config (ftconfig.h). */
#include "services/ft-supervisor/ftconfig.h"

#include "libcommon/cfg_schema.h"
#include "services/ft-supervisor/validate.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Placeholders every trade message has (rpc_types.py, the base of
 * entry/exit messages): a template naming a key FreqTrade does not send
 * makes it drop the whole message, so only these are used. */
static const char *const trade_keys[] = {
	"type", "trade_id", "pair", "direction", "enter_tag", "exchange",
	"leverage", "limit", "open_rate", "current_rate", "order_type",
	"amount", "stake_amount", "stake_currency", "open_date", NULL,
};
static const char *const exit_keys[] = {
	"exit_reason", "gain", "close_rate", "order_rate", "profit_amount",
	"profit_ratio", "close_date", NULL,
};
static const char *const exit_cancel_keys[] = {
	"reason", "exit_reason", "gain", "profit_amount", "profit_ratio",
	"close_date", NULL,
};

/* {"key": "{key}"} for each key: FreqTrade renders each value with
 * str.format(**msg), so the ingester gets every field as a string. */
static void add_keys(cJSON *tpl, const char *const *keys)
{
	char v[64];
	for (; *keys; keys++) {
		snprintf(v, sizeof(v), "{%s}", *keys);
		cJSON_AddStringToObject(tpl, *keys, v);
	}
}

static cJSON *trade_template(const char *const *more)
{
	cJSON *t = cJSON_CreateObject();
	add_keys(t, trade_keys);
	if (more)
		add_keys(t, more);
	return t;
}

cJSON *ftconfig_webhook_templates(void)
{
	static const char *const reason[] = { "reason", NULL };
	static const char *const status[] = { "type", "status", NULL };
	static const char *const msg[] = { "type", "msg", NULL };
	cJSON *w = cJSON_CreateObject();
	cJSON_AddItemToObject(w, "entry", trade_template(NULL));
	cJSON_AddItemToObject(w, "entry_fill", trade_template(NULL));
	cJSON_AddItemToObject(w, "entry_cancel", trade_template(reason));
	cJSON_AddItemToObject(w, "exit", trade_template(exit_keys));
	cJSON_AddItemToObject(w, "exit_fill", trade_template(exit_keys));
	cJSON_AddItemToObject(w, "exit_cancel",
			      trade_template(exit_cancel_keys));
	cJSON *st = cJSON_AddObjectToObject(w, "status");
	add_keys(st, status);
	cJSON *sm = cJSON_AddObjectToObject(w, "strategy_msg");
	add_keys(sm, msg);
	return w;
}

static const char *spec_str(const cJSON *spec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The quote currency of the first pair: BTC/USDT(:USDT) -> USDT. */
static void stake_currency(const cJSON *spec, char *out, size_t n)
{
	const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(
		spec, "pair_whitelist");
	const cJSON *p = cJSON_IsArray(pairs) ? pairs->child : NULL;
	const char *s = cJSON_IsString(p) ? strchr(p->valuestring, '/') : NULL;
	if (!s) {
		snprintf(out, n, "USDT");
		return;
	}
	snprintf(out, n, "%.*s", (int)strcspn(s + 1, ":"), s + 1);
}

static const struct lc_cfg_proxy_entry *find_proxy(
	const struct lc_config *cfg, const cJSON *spec)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(spec, "proxy_id");
	if (!cJSON_IsNumber(id))
		return NULL;
	const struct lc_cfg_proxy_entry *l = cfg->proxy.proxies.items;
	for (size_t i = 0; i < cfg->proxy.proxies.n; i++)
		if (l[i].id == (int64_t)id->valuedouble && l[i].enabled)
			return &l[i];
	return NULL;
}

/* ccxt 4 options: socks proxies for REST and websockets, else https. */
static void add_proxy(cJSON *ccxt, const char *url)
{
	bool socks = strncmp(url, "socks", 5) == 0;
	cJSON_AddStringToObject(ccxt, socks ? "socksProxy" : "httpsProxy",
				url);
	cJSON_AddStringToObject(ccxt, socks ? "wsSocksProxy" : "wsProxy",
				url);
}

static cJSON *exchange_block(const struct ftconfig_in *in)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "name", spec_str(in->spec, "exchange"));
	cJSON_AddStringToObject(x, "key", "");
	cJSON_AddStringToObject(x, "secret", "");
	cJSON *ccxt = cJSON_AddObjectToObject(x, "ccxt_config");
	cJSON_AddTrueToObject(ccxt, "enableRateLimit");
	const struct lc_cfg_proxy_entry *px = find_proxy(in->cfg, in->spec);
	if (px && px->url && *px->url)
		add_proxy(ccxt, px->url);
	cJSON *async = cJSON_AddObjectToObject(x, "ccxt_async_config");
	cJSON_AddTrueToObject(async, "enableRateLimit");
	cJSON_AddItemToObject(x, "pair_whitelist", cJSON_Duplicate(
		cJSON_GetObjectItemCaseSensitive(in->spec, "pair_whitelist"),
		1));
	cJSON_AddArrayToObject(x, "pair_blacklist");
	return x;
}

static cJSON *api_server_block(const struct ftconfig_in *in)
{
	cJSON *a = cJSON_CreateObject();
	cJSON_AddTrueToObject(a, "enabled");
	cJSON_AddStringToObject(a, "listen_ip_address", "127.0.0.1");
	cJSON_AddNumberToObject(a, "listen_port", in->port);
	cJSON_AddStringToObject(a, "verbosity", "error");
	cJSON_AddFalseToObject(a, "enable_openapi");
	cJSON_AddStringToObject(a, "jwt_secret_key", in->jwt_secret);
	cJSON *cors = cJSON_AddArrayToObject(a, "CORS_origins");
	const char *gw = in->cfg->services.svc[LC_CFG_SVC_GATEWAY].http_url;
	if (gw && *gw) {
		size_t n = strlen(gw);
		while (n > 0 && gw[n - 1] == '/')
			n--;
		char origin[512];
		snprintf(origin, sizeof(origin), "%.*s", (int)n, gw);
		cJSON_AddItemToArray(cors, cJSON_CreateString(origin));
	}
	cJSON_AddStringToObject(a, "username", in->api_user);
	cJSON_AddStringToObject(a, "password", in->api_pass);
	return a;
}

static cJSON *webhook_block(const struct ftconfig_in *in, char *err,
			    size_t errlen)
{
	const char *base = in->cfg->services.svc[LC_CFG_SVC_INGEST].http_url;
	if (!base || !*base) {
		snprintf(err, errlen, "services.yml gives signal-ingest no "
			 "http_url for the webhook");
		return NULL;
	}
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	char url[1024];
	snprintf(url, sizeof(url), "%.*s/api/v1/signals/webhook/%d/%s",
		 (int)n, base, in->id, in->token);
	cJSON *w = ftconfig_webhook_templates();
	cJSON_AddTrueToObject(w, "enabled");
	cJSON_AddStringToObject(w, "url", url);
	cJSON_AddStringToObject(w, "format", "json");
	cJSON_AddNumberToObject(w, "retries", 3);
	cJSON_AddNumberToObject(w, "retry_delay", 0.5);
	cJSON_AddNumberToObject(w, "timeout", 10);
	cJSON_AddTrueToObject(w, "allow_custom_messages");
	return w;
}

/* Defaults a real FreqTrade needs; extra_config may override them. */
static void add_trading_defaults(cJSON *c, const cJSON *spec)
{
	char cur[32];
	stake_currency(spec, cur, sizeof(cur));
	cJSON_AddStringToObject(c, "stake_currency", cur);
	cJSON_AddStringToObject(c, "stake_amount", "unlimited");
	cJSON_AddNumberToObject(c, "max_open_trades", 3);
	cJSON *ep = cJSON_AddObjectToObject(c, "entry_pricing");
	cJSON_AddStringToObject(ep, "price_side", "same");
	cJSON_AddTrueToObject(ep, "use_order_book");
	cJSON_AddNumberToObject(ep, "order_book_top", 1);
	cJSON *xp = cJSON_AddObjectToObject(c, "exit_pricing");
	cJSON_AddStringToObject(xp, "price_side", "same");
	cJSON_AddTrueToObject(xp, "use_order_book");
	cJSON_AddNumberToObject(xp, "order_book_top", 1);
}

cJSON *ftconfig_build(const struct ftconfig_in *in, char *err,
		      size_t errlen)
{
	const struct lc_cfg_sys_freqtrade *ft = &in->cfg->system.freqtrade;
	cJSON *w = webhook_block(in, err, errlen);
	if (!w)
		return NULL;
	cJSON *c = cJSON_CreateObject();
	char db[4200];
	snprintf(db, sizeof(db), "sqlite:///%s", in->db_path);
	cJSON_AddStringToObject(c, "bot_name", spec_str(in->spec, "name"));
	cJSON_AddStringToObject(c, "strategy",
				spec_str(in->spec, "strategy_class"));
	cJSON_AddStringToObject(c, "strategy_path", ft->strategies_directory);
	cJSON_AddStringToObject(c, "user_data_dir", ft->user_data_directory);
	cJSON_AddStringToObject(c, "datadir", ft->data_directory);
	cJSON_AddStringToObject(c, "db_url", db);
	cJSON_AddStringToObject(c, "timeframe",
				spec_str(in->spec, "timeframe"));
	cJSON_AddTrueToObject(c, "dry_run");
	cJSON_AddNumberToObject(c, "dry_run_wallet", ft->dry_run_wallet);
	add_trading_defaults(c, in->spec);
	cJSON_AddItemToObject(c, "exchange", exchange_block(in));
	cJSON *pl = cJSON_AddArrayToObject(c, "pairlists");
	cJSON *sp = cJSON_CreateObject();
	cJSON_AddStringToObject(sp, "method", "StaticPairList");
	cJSON_AddItemToArray(pl, sp);
	cJSON_AddItemToObject(c, "api_server", api_server_block(in));
	cJSON_AddItemToObject(c, "webhook", w);
	cJSON_AddStringToObject(c, "initial_state", "running");
	cJSON *internals = cJSON_AddObjectToObject(c, "internals");
	cJSON_AddNumberToObject(internals, "process_throttle_secs", 5);
	const cJSON *extra = cJSON_GetObjectItemCaseSensitive(in->spec,
							      "extra_config");
	if (cJSON_IsObject(extra))
		ftconfig_merge(c, extra, 1);
	return c;
}

void ftconfig_merge(cJSON *dst, const cJSON *src, int top_managed)
{
	for (const cJSON *s = src->child; s; s = s->next) {
		if (top_managed && validate_managed_key(s->string))
			continue;
		cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, s->string);
		if (cJSON_IsObject(d) && cJSON_IsObject(s)) {
			ftconfig_merge(d, s, 0);
			continue;
		}
		cJSON *copy = cJSON_Duplicate(s, 1);
		if (d)
			cJSON_ReplaceItemInObjectCaseSensitive(dst, s->string,
							       copy);
		else
			cJSON_AddItemToObject(dst, s->string, copy);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync the directory holding path, so the rename is durable. */
static void sync_dir(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int ftconfig_write(const char *path, const cJSON *config, char *err,
		   size_t errlen)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	char *text = cJSON_Print(config);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rv = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp,
			 strerror(errno));
		goto done;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, text, strlen(text)) ||
	    write_all(fd, "\n", 1) || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write '%s': %s", tmp,
			 strerror(errno));
		close(fd);
		unlink(tmp);
		goto done;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename '%s': %s", tmp,
			 strerror(errno));
		unlink(tmp);
		goto done;
	}
	sync_dir(path);
	rv = 0;
done:
	cJSON_free(text);
	return rv;
}
