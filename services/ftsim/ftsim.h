#ifndef FTSIM_H
#define FTSIM_H
/*
 * ftsim: a drop-in `freqtrade trade` for machines without FreqTrade.
 * The contract it follows is /work/shared/FREQTRADE.md (FreqTrade 2025.x).
 * This private umbrella header holds the types the modules share; each
 * module's functions are declared under its file name.
 *
 * One libevent loop runs everything: the REST API and message WebSocket
 * (evhttp), the worker tick (a timer at process_throttle_secs), webhooks
 * (evhttp's client, evdns) and signals. Nothing blocks it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "services/ftsim/fmt.h"
#include "services/ftsim/market.h"

#define FT_VERSION_DEFAULT "2025.6"
#define FT_API_VERSION 2.43
#define FT_MAX_CONFIGS 16

struct event_base;
struct event;
struct evhttp;
struct evhttp_request;
struct bufferevent;

/* The bot's states (enums/state.py), shown lowercase. */
enum ft_state {
	FT_NONE = 0, /* before the first worker iteration */
	FT_RUNNING,
	FT_PAUSED,
	FT_STOPPED,
	FT_RELOAD_CONFIG,
};

/* RPCMessageType (enums/rpcmessagetype.py), in FreqTrade's order. */
enum ft_msg_type {
	MSG_STATUS,
	MSG_WARNING,
	MSG_EXCEPTION,
	MSG_STARTUP,
	MSG_ENTRY,
	MSG_ENTRY_FILL,
	MSG_ENTRY_CANCEL,
	MSG_EXIT,
	MSG_EXIT_FILL,
	MSG_EXIT_CANCEL,
	MSG_PROTECTION_TRIGGER,
	MSG_PROTECTION_TRIGGER_GLOBAL,
	MSG_STRATEGY_MSG,
	MSG_WHITELIST,
	MSG_ANALYZED_DF,
	MSG_NEW_CANDLE,
	MSG__COUNT,
};

/* ---- command line (main.c) ---- */

struct ft_args {
	const char *configs[FT_MAX_CONFIGS]; /* borrowed from argv */
	int nconfigs;
	const char *logfile;
	const char *userdir;
	const char *db_url;
	const char *strategy;
	bool dry_run;
	int verbosity;
};

/* ---- config.c ---- */

/* The `ftsim` block of the config (ignored by FreqTrade). */
struct ft_sim {
	uint64_t seed;
	double entries_per_minute;
	double min_trade_s, max_trade_s; /* trade duration range */
	double volatility;               /* price sigma per minute */
	double startup_delay;            /* s before the API opens */
	double reload_delay;             /* s the port stays closed */
	bool hang;                       /* never open the API */
	double crash_after;              /* s; 0: never */
	int crash_exit_code;
	int slow_ms;                 /* delay of every API answer */
	const cJSON *slow_endpoints; /* paths; NULL: all */
	const cJSON *fail_endpoints; /* paths answered fail_status */
	int fail_status;
	const char *version;   /* the FreqTrade version shown */
	int max_closed_trades; /* kept in memory */
	bool strategy_msg;     /* send strategy_msg signals */
};

struct ft_webhook_cfg {
	bool enabled;
	const char *url;
	const char *format; /* "form", "json", "raw" */
	int retries;
	double retry_delay; /* s */
	double timeout;     /* s */
	bool allow_custom;  /* allow_custom_messages */
	const cJSON *node;  /* the webhook object (templates) */
};

/* Everything ftsim reads from FreqTrade's JSON config. Strings and nodes
 * are borrowed from root, which the struct owns. */
struct ft_cfg {
	cJSON *root;
	/* api_server */
	bool api_enabled;
	const char *listen_ip;
	int listen_port;
	const char *username, *password;
	const char *jwt_secret;
	const cJSON *cors;     /* CORS_origins list or NULL */
	const cJSON *ws_token; /* string or list or NULL */
	/* bot */
	const char *bot_name, *strategy, *timeframe;
	int tf_secs;
	const char *exchange; /* exchange.name as configured */
	const char *stake_currency;
	double stake_amount; /* < 0: "unlimited" */
	int max_open_trades; /* -1: unlimited */
	double wallet;       /* dry_run_wallet */
	double tradable_ratio;
	bool dry_run;
	const char *fiat; /* fiat_display_currency or NULL */
	double stoploss;
	const cJSON *minimal_roi;
	enum ft_state initial_state;
	double throttle_secs;
	int heartbeat_interval;
	bool force_entry_enable;
	const char *db_url;
	const cJSON *whitelist; /* exchange.pair_whitelist */
	const cJSON *blacklist; /* exchange.pair_blacklist */
	const cJSON *pairlists; /* [{"method": ...}] */
	struct ft_webhook_cfg wh;
	struct ft_sim sim;
};

/* Load, merge and validate the config files of a. Returns 0, or the exit
 * code FreqTrade would use (2: missing file or folder, 1: invalid) with
 * the message(s) already logged. */
int config_load(struct ft_cfg *c, const struct ft_args *a);
void config_release(struct ft_cfg *c);
/* "running" -> FT_RUNNING …; FT_NONE if unknown. */
enum ft_state config_state(const char *s);
const char *ft_state_name(enum ft_state s);  /* "running" … */
const char *ft_state_upper(enum ft_state s); /* "RUNNING" … */

/* ---- logbuf.c: FreqTrade's log lines ---- */

enum ftl_level {
	FTL_DEBUG = 10,
	FTL_INFO = 20,
	FTL_WARNING = 30,
	FTL_ERROR = 40,
	FTL_CRITICAL = 50,
};

/* Log to stderr and, when path is not NULL, to a file rotated at 10 MB
 * (10 backups), as FreqTrade's --logfile does. 0 or -1 (errno). */
int ftlog_open(const char *path, int verbosity);
void ftlog_close(void);
void ftlog(int level, const char *logger, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* A record with a traceback (logger.exception): exc is appended to the
 * message after a newline. */
void ftlog_exc(int level, const char *logger, const char *exc, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* GET /logs: {"log_count", "logs": [[date, ms, logger, level, msg]…]};
 * limit <= 0: all. Caller frees. */
cJSON *ftlog_json(int limit);

/* ---- trades and money (book.c) ---- */

enum ft_exit_kind {
	EXIT_NONE,
	EXIT_ROI,
	EXIT_STOP_LOSS,
	EXIT_SIGNAL,
	EXIT_FORCE,
};

struct ft_trade {
	int id;
	uint16_t pair; /* index in the market */
	bool is_open;
	uint8_t exit_kind; /* enum ft_exit_kind */
	float strength;    /* entry signal strength */
	float exit_strength;
	int64_t open_us, close_us; /* wall time, microseconds */
	int64_t planned_exit_us;   /* when the exit signal comes */
	double open_rate, close_rate;
	double amount, stake_amount;
	double fee;                      /* fee_open == fee_close */
	double stop_loss, stop_loss_pct; /* abs and ratio (< 0) */
	double min_rate, max_rate;
	double close_profit, close_profit_abs;
};

/* The trades and the dry-run wallet. */
struct ft_book {
	struct ft_trade *t; /* ordered by id */
	size_t n, cap;
	int next_id;
	size_t dropped;   /* closed trades forgotten (memory cap) */
	double start_cap; /* dry_run_wallet */
	double tradable_ratio;
};

/* FreqTrade's ProfitStruct for a trade closed at rate. */
struct ft_profit {
	double abs, ratio, total, total_ratio;
};

void book_init(struct ft_book *b, double wallet, double ratio);
void book_release(struct ft_book *b);
/* Room for one more trade; NULL on ENOMEM. The trade gets the next id. */
struct ft_trade *book_add(struct ft_book *b);
struct ft_trade *book_find(struct ft_book *b, int id);
/* Forget the oldest closed trades past max. */
void book_trim(struct ft_book *b, int max);
size_t book_open_count(const struct ft_book *b);
double book_closed_profit(const struct ft_book *b);
double book_open_stakes(const struct ft_book *b);
/* Wallet: free stake currency and what the bot may still stake. */
double book_free(const struct ft_book *b);
double book_starting_balance(const struct ft_book *b);
double book_total_stake(const struct ft_book *b);
double trade_open_value(const struct ft_trade *t);
struct ft_profit trade_profit(const struct ft_trade *t, double rate);
/* ExitType value for the trade: "roi", "stop_loss", "force_exit" or the
 * exit signal's tag; enter_tag: "strength=0.82". out: 32 bytes. */
const char *trade_exit_reason(const struct ft_trade *t, char *out);
const char *trade_enter_tag(const struct ft_trade *t, char *out);

/* ---- msg.c: RPC messages ---- */

#define MSG_MAX_FIELDS 36

struct ft_msg {
	enum ft_msg_type type;
	size_t n;
	struct pv_field f[MSG_MAX_FIELDS];
	char *owned[MSG_MAX_FIELDS]; /* strings this message frees */
	size_t nowned;
	struct ft_msg *next; /* outbox queue */
};

struct ft_msg *msg_new(enum ft_msg_type type);
void msg_free(struct ft_msg *m);
/* Add a field; a string value is copied. */
void msg_add(struct ft_msg *m, const char *key, struct pv v);
void msg_add_str(struct ft_msg *m, const char *key, const char *s);
const struct pv *msg_get(const struct ft_msg *m, const char *key);
const char *msg_type_name(enum ft_msg_type t);
/* -1 if s is not a message type. */
int msg_type_parse(const char *s);
/* The message as a Python dict repr (for the log), appended. */
int msg_repr(const struct ft_msg *m, struct lc_buf *out)
        __attribute__((warn_unused_result));
/* The message as JSON, as the message websocket sends it. Caller frees
 * with free(). */
char *msg_json(const struct ft_msg *m);

/* ---- the application ---- */

struct ft_api;
struct ft_rpc;
struct ft_wh;
struct ft_wsclient;

struct ft_app {
	struct event_base *base;
	struct ft_args args;
	struct ft_cfg cfg;
	/* worker (bot.c) */
	enum ft_state state;     /* set by the API and the worker */
	enum ft_state old_state; /* what the worker last saw */
	bool worker_started;
	struct event *tick_ev;
	int64_t tick_start_ms;
	bool tick_waiting;         /* waiting for the outbox to drain */
	int tick_phase;            /* 1: state messages sent, 2: trades */
	enum ft_state tick_state;  /* the state this iteration runs in */
	int64_t last_heartbeat_ms; /* 0: log at the next iteration */
	int64_t last_process_us;   /* 0: never */
	int64_t bot_start_us;      /* first start (or first trade) */
	int64_t startup_us;        /* this process' last startup() */
	/* the last closed candle seen per market pair (open time, s): a
	 * newer one means analyzed_df and new_candle messages */
	int64_t candle_seen[MK_MAX_PAIRS];
	uint64_t rng;
	struct market mk;
	struct ft_book book;
	cJSON *blacklist;        /* owned list of pair strings */
	/* active_pair_whitelist: the whitelist without blacklisted pairs,
	 * plus the pairs of open trades (refreshed by each iteration) */
	cJSON *active_wl;
	double historic[256][2]; /* (time s, wallet) samples */
	size_t nhistoric;
	/* rpc (rpc.c, webhook.c) */
	struct ft_rpc *rpc;
	struct ft_wh *wh;
	/* api (api.c) and websocket (msgws.c) */
	struct ft_api *api;
	struct ft_wsclient *ws;
	/* lifecycle (main.c) */
	struct event *sig_term, *sig_int, *start_ev, *crash_ev;
	bool stopping; /* SIGTERM seen */
	int shutdown_step; /* see main.c */
	int exit_code;
	int64_t process_start_us;
};

/* ---- main.c: the lifecycle ---- */

/* The worker saw RELOAD_CONFIG and the outbox is empty: tear the bot
 * down, re-read the config, start again (exits if the config broke). */
void app_reconfigure(struct ft_app *app);
/* The outbox has just emptied. */
void app_on_drained(struct ft_app *app);

/* ---- bot.c: the worker and the simulated strategy ---- */

/* Create the bot for the loaded config (after config_load). */
int bot_init(struct ft_app *app);
/* Drop config-dependent state before a reload (trades are kept). */
void bot_release(struct ft_app *app);
/* Run the first worker iteration now, then every throttle seconds. */
void bot_start_worker(struct ft_app *app);
void bot_stop_worker(struct ft_app *app);
/* The outbox drained: the waiting iteration may finish. */
void bot_outbox_drained(struct ft_app *app);
/* Current rate of a pair of the market. */
double bot_rate(struct ft_app *app, uint16_t pair);
/* Queue the WARNING "<n> open trades active…" if there are any. */
void bot_check_open_trades(struct ft_app *app);
/* Close an open trade now (force exit); 0 or -1. */
int bot_force_exit(struct ft_app *app, struct ft_trade *t);
/* Open a trade on pair (force entry). NULL if no room. */
struct ft_trade *bot_force_enter(struct ft_app *app, uint16_t pair,
                                 double stake);
/* Current trading-mode strings. */
const char *bot_base(struct ft_app *app, uint16_t pair, char *out);
const char *bot_quote(struct ft_app *app, uint16_t pair, char *out);

/* ---- rpc.c: the message outbox (webhook, then websocket) ---- */

int rpc_init(struct ft_app *app);
void rpc_release(struct ft_app *app);
/* Send a message to every module (takes ownership). */
void rpc_send(struct ft_app *app, struct ft_msg *m);
/* STATUS message with status text. */
void rpc_status(struct ft_app *app, enum ft_msg_type type, const char *status);
bool rpc_idle(const struct ft_app *app);
/* Drop queued messages and abandon the one in flight (SIGTERM). */
void rpc_abort(struct ft_app *app);

/* ---- webhook.c ---- */

/* Called by the outbox for each message: render and POST it (with its
 * retries), then call done(app). done may run before this returns when
 * there is nothing to send. */
void webhook_send(struct ft_app *app, const struct ft_msg *m,
                  void (*done)(struct ft_app *app));
void webhook_abort(struct ft_app *app);

/* ---- tls.c: https for webhooks (OpenSSL loaded on first use) ---- */

/* A TLS client bufferevent (no socket yet) verifying host, or NULL with
 * the reason in err. */
struct bufferevent *tls_bufferevent(struct event_base *base,
                                    const char *host, char *err, size_t n);
/* The OpenSSL error that ended bev's connection, if any. */
bool tls_error(struct bufferevent *bev, char *out, size_t n);
void tls_release(void);

/* ---- api.c ---- */

/* Bind and serve the REST API. 0, or -1 when the port cannot be bound
 * (logged as uvicorn does). */
int api_start(struct ft_app *app);
/* Close the port; pending answers are dropped, websockets closed. */
void api_stop(struct ft_app *app);

/* ---- msgws.c ---- */

/* Handle GET /api/v1/message/ws (auth by ?token=). */
void msgws_handle(struct ft_app *app, struct evhttp_request *req,
                  const char *token);
void msgws_publish(struct ft_app *app, const struct ft_msg *m);
/* The last limit candles of a market pair up to the one containing
 * at_s, as pandas' to_json(orient="split"). Caller frees. */
char *msgws_frame_json(struct ft_app *app, size_t pair, size_t limit,
                       int64_t at_s);
void msgws_close_all(struct ft_app *app);

/* ---- auth.c ---- */

/* A JWT for user, type "access" (15 min) or "refresh" (30 days). Caller
 * frees; NULL on error. */
char *auth_token(const struct ft_cfg *c, const char *user, const char *type);
/* The user of a valid token of that type, copied into user (64 bytes);
 * false if invalid or expired. */
bool auth_check_token(const struct ft_cfg *c, const char *token,
                      const char *type, char *user);
/* user/password against api_server (constant time). */
bool auth_check_password(const struct ft_cfg *c, const char *user,
                         const char *password);
/* Decode "Basic xxx" (the part after the scheme). -1: not valid base64 or
 * no ':'. */
int auth_parse_basic(const char *b64, char *user, size_t ul, char *pass,
                     size_t pl);

/* ---- util (json.c) ---- */

/* o[key] (case-sensitive), NULL if o is not an object or has no key. */
static inline cJSON *jget(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Add a float as Python/orjson prints it (NaN/Inf as null). */
void json_add_float(cJSON *o, const char *key, double d);
void json_add_int(cJSON *o, const char *key, int64_t v);
void json_add_str(cJSON *o, const char *key, const char *s); /* NULL: null */
cJSON *json_float(double d);
cJSON *json_int(int64_t v);
/* "2025-01-02 03:04:05" (FreqTrade's DATETIME_PRINT_FORMAT, UTC). */
char *ft_date(char *out, int64_t us);
/* Microseconds / milliseconds since the epoch, now. */
int64_t ft_now_us(void);

#endif
