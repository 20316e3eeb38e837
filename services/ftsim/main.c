/*
 * ftsim: a FreqTrade simulator that runs where `freqtrade trade` would.
 *
 *   ftsim trade --config F [--config F2 …] --logfile L [--userdir D]
 *               [--db-url U] [--dry-run] [-s STRATEGY] [-v]
 *   ftsim --version | -V
 *
 * The start-up sequence: read the command line, open the log, load and
 * validate the config (exit 2: missing file or folder, 1: invalid), then
 * on one event loop: after the simulated exchange start-up
 * (ftsim.startup_delay) create the bot, open the API and start the
 * worker. SIGTERM and SIGINT: STATUS "process died", the open-trades
 * warning, API closed, exit 0 (a second signal exits at once).
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcommon/clock.h"
#include "services/ftsim/ftsim.h"

#define LOG_MAIN "freqtrade"
#define LOG_TC "freqtrade.commands.trade_commands"

static void usage(FILE *f)
{
	fprintf(f, "usage: ftsim trade [-h] [-v] [--logfile FILE] [-V] "
	           "[-c PATH] [-d PATH]\n"
	           "                   [--userdir PATH] [-s NAME] [--db-url "
	           "PATH] [--dry-run]\n"
	           "       ftsim --version\n");
}

static void print_version(void)
{
	printf("Operating System:\tLinux\n"
	       "Python Version:\t\tNone (ftsim %s)\n"
	       "CCXT Version:\t\tNone\n\n"
	       "Freqtrade Version:\tfreqtrade %s\n",
	       BTCW_VERSION, FT_VERSION_DEFAULT);
}

/* argparse-like: 0 ok, 2 usage error (printed), 3 --version/--help done */
static int parse_args(int argc, char **argv, struct ft_args *a)
{
	memset(a, 0, sizeof(*a));
	int i = 1;
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 ||
	                 strcmp(argv[1], "-V") == 0)) {
		print_version();
		return 3;
	}
	if (argc < 2 || strcmp(argv[1], "trade") != 0) {
		usage(stderr);
		fprintf(stderr, "ftsim: error: only the 'trade' command is "
		                "simulated\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		const char *o = argv[i];
		bool has_val = i + 1 < argc;
		if (strcmp(o, "-V") == 0 || strcmp(o, "--version") == 0) {
			print_version();
			return 3;
		} else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			usage(stdout);
			return 3;
		} else if (strcmp(o, "--dry-run") == 0) {
			a->dry_run = true;
		} else if (strncmp(o, "-v", 2) == 0 &&
		           strspn(o + 1, "v") == strlen(o + 1)) {
			a->verbosity += (int)strlen(o + 1);
		} else if (strcmp(o, "--verbose") == 0) {
			a->verbosity++;
		} else if (strcmp(o, "--no-color") == 0 ||
		           strcmp(o, "--sd-notify") == 0) {
			continue;
		} else if (!has_val) {
			usage(stderr);
			fprintf(stderr,
			        "ftsim: error: argument %s: expected "
			        "one argument\n",
			        o);
			return 2;
		} else if (strcmp(o, "-c") == 0 ||
		           strcmp(o, "--config") == 0) {
			if (a->nconfigs == FT_MAX_CONFIGS)
				return 2;
			a->configs[a->nconfigs++] = argv[++i];
		} else if (strcmp(o, "--logfile") == 0 ||
		           strcmp(o, "--log-file") == 0) {
			a->logfile = argv[++i];
		} else if (strcmp(o, "--userdir") == 0 ||
		           strcmp(o, "--user-data-dir") == 0) {
			a->userdir = argv[++i];
		} else if (strcmp(o, "--db-url") == 0) {
			a->db_url = argv[++i];
		} else if (strcmp(o, "-s") == 0 ||
		           strcmp(o, "--strategy") == 0) {
			a->strategy = argv[++i];
		} else if (strcmp(o, "-d") == 0 ||
		           strcmp(o, "--datadir") == 0 ||
		           strcmp(o, "--data-dir") == 0 ||
		           strcmp(o, "--strategy-path") == 0 ||
		           strcmp(o, "--freqaimodel") == 0 ||
		           strcmp(o, "--freqaimodel-path") == 0 ||
		           strcmp(o, "--dry-run-wallet") == 0 ||
		           strcmp(o, "--starting-balance") == 0 ||
		           strcmp(o, "--fee") == 0) {
			i++; /* accepted, not simulated */
		} else {
			usage(stderr);
			fprintf(stderr,
			        "ftsim: error: unrecognized arguments: "
			        "%s\n",
			        o);
			return 2;
		}
	}
	return 0;
}

/* ---- shutdown ---- */

static void finish_shutdown(struct ft_app *app)
{
	ftlog(FTL_INFO, "freqtrade.rpc.rpc_manager",
	      "Cleaning up rpc modules "
	      "...");
	if (app->cfg.wh.enabled)
		ftlog(FTL_INFO, "freqtrade.rpc.rpc_manager",
		      "Cleaning up rpc.webhook ...");
	if (app->api)
		ftlog(FTL_INFO, "freqtrade.rpc.rpc_manager",
		      "Cleaning up rpc.apiserver ...");
	api_stop(app);
	ftlog(FTL_INFO, LOG_MAIN, "SIGINT received, aborting ...");
	event_base_loopbreak(app->base);
}

/* Shutdown steps (app->shutdown_step), each after the outbox drained:
 * 1 "process died" sent -> cleanup (open trades warning)
 * 2 warning sent -> API closed, loop ends. */

void app_on_drained(struct ft_app *app)
{
	if (!app->stopping) {
		bot_outbox_drained(app);
		return;
	}
	if (app->shutdown_step == 1) {
		app->shutdown_step = 2;
		ftlog(FTL_INFO, "freqtrade.freqtradebot",
		      "Cleaning up modules "
		      "...");
		bot_check_open_trades(app);
		if (rpc_idle(app))
			app_on_drained(app);
	} else if (app->shutdown_step == 2) {
		app->shutdown_step = 3;
		finish_shutdown(app);
	}
}

static void begin_shutdown(struct ft_app *app)
{
	bool had_worker = app->worker_started;
	app->stopping = true;
	if (app->start_ev)
		event_del(app->start_ev);
	bot_stop_worker(app);
	/* FreqTrade's KeyboardInterrupt stops whatever the loop did */
	rpc_abort(app);
	if (!app->rpc || !had_worker) { /* no worker: nobody to tell */
		app->shutdown_step = 3;
		finish_shutdown(app);
		return;
	}
	ftlog(FTL_INFO, LOG_TC, "worker found ... calling exit");
	app->shutdown_step = 1;
	rpc_status(app, MSG_STATUS, "process died");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct ft_app *app = arg;
	if (!app->stopping) {
		begin_shutdown(app);
		return;
	}
	(void)sig; /* a second signal: stop now */
	rpc_abort(app);
	if (app->shutdown_step < 3) {
		app->shutdown_step = 3;
		finish_shutdown(app);
	}
}

/* ---- start ---- */

static void on_crash(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_app *app = arg;
	ftlog_exc(FTL_ERROR, LOG_MAIN,
	          "Traceback (most recent call last):\n"
	          "  File \"freqtrade/main.py\", line 45, in main\n"
	          "RuntimeError: ftsim: crash_after reached",
	          "Fatal exception!");
	ftlog_close();
	_exit(app->cfg.sim.crash_exit_code);
}

static int start_bot(struct ft_app *app)
{
	if (bot_init(app) != 0 || rpc_init(app) != 0)
		return -1;
	if (app->cfg.sim.hang) {
		ftlog(FTL_INFO, "freqtrade.rpc.api_server.webserver",
		      "Starting Local Rest Server.");
		return 0; /* the API never opens */
	}
	if (api_start(app) != 0)
		return 0; /* port taken: FreqTrade hangs, so do we */
	if (app->old_state == FT_RELOAD_CONFIG)
		rpc_status(app, MSG_STATUS, "config reloaded");
	bot_start_worker(app);
	return 0;
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ft_app *app = arg;
	if (start_bot(app) != 0) {
		ftlog(FTL_ERROR, LOG_MAIN, "Fatal exception!");
		app->exit_code = 1;
		event_base_loopbreak(app->base);
	}
}

static void after(struct ft_app *app, struct event **ev, double secs,
                  event_callback_fn fn)
{
	struct timeval tv;
	if (!*ev)
		*ev = evtimer_new(app->base, fn, app);
	lc_clock_tv(&tv, (int64_t)(secs * 1000));
	if (*ev)
		evtimer_add(*ev, &tv);
}

/* ---- reload_config ---- */

void app_reconfigure(struct ft_app *app)
{
	if (app->stopping)
		return;
	ftlog(FTL_INFO, "freqtrade.freqtradebot", "Cleaning up modules ...");
	bot_stop_worker(app);
	rpc_release(app);
	api_stop(app);
	struct ft_cfg fresh;
	int rc = config_load(&fresh, &app->args);
	if (rc != 0) {
		app->exit_code = rc;
		event_base_loopbreak(app->base);
		return;
	}
	config_release(&app->cfg);
	app->cfg = fresh;
	after(app, &app->start_ev, app->cfg.sim.reload_delay, on_start);
	/* on_start reopens the API; "config reloaded" follows it */
	app->old_state = FT_RELOAD_CONFIG;
	app->state = FT_NONE; /* set by bot_init */
}

static void startup_logs(struct ft_app *app)
{
	const struct ft_cfg *c = &app->cfg;
	ftlog(FTL_INFO, "freqtrade.loggers", "Verbosity set to %d",
	      app->args.verbosity);
	ftlog(FTL_INFO, "freqtrade.configuration.configuration",
	      "Runmode set to %s.", c->dry_run ? "dry_run" : "live");
	if (c->dry_run)
		ftlog(FTL_INFO, "freqtrade.configuration.configuration",
		      "Dry run is enabled");
	ftlog(FTL_INFO, "freqtrade.configuration.configuration",
	      "Using DB: \"%s\"", c->db_url);
	ftlog(FTL_INFO, "freqtrade.configuration.configuration",
	      "Using max_open_trades: %d ...", c->max_open_trades);
	ftlog(FTL_INFO, "freqtrade.worker", "Starting worker %s",
	      c->sim.version);
	ftlog(FTL_INFO, "freqtrade.exchange.exchange",
	      "Instance is running with dry_run enabled");
	ftlog(FTL_INFO, "freqtrade.exchange.exchange", "Using Exchange \"%s\"",
	      c->exchange);
	ftlog(FTL_INFO, "freqtrade.resolvers.iresolver",
	      "Using resolved strategy %s from 'ftsim (simulated)'...",
	      c->strategy);
}

static int setup(struct ft_app *app)
{
	app->base = event_base_new();
	if (!app->base)
		return -1;
	app->sig_term = evsignal_new(app->base, SIGTERM, on_signal, app);
	app->sig_int = evsignal_new(app->base, SIGINT, on_signal, app);
	if (!app->sig_term || !app->sig_int)
		return -1;
	evsignal_add(app->sig_term, NULL);
	evsignal_add(app->sig_int, NULL);
	if (app->cfg.sim.crash_after > 0)
		after(app, &app->crash_ev, app->cfg.sim.crash_after, on_crash);
	after(app, &app->start_ev, app->cfg.sim.startup_delay, on_start);
	return 0;
}

static void teardown(struct ft_app *app)
{
	bot_release(app);
	rpc_release(app);
	api_stop(app);
	tls_release();
	book_release(&app->book);
	config_release(&app->cfg);
	struct event *evs[] = { app->sig_term, app->sig_int, app->start_ev,
		                app->crash_ev };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (app->base)
		event_base_free(app->base);
	ftlog_close();
}

int main(int argc, char **argv)
{
	static struct ft_app app;
	int rc = parse_args(argc, argv, &app.args);
	if (rc)
		return rc == 3 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	if (ftlog_open(app.args.logfile, app.args.verbosity) != 0) {
		fprintf(stderr, "ftsim: cannot open '%s': %m\n",
		        app.args.logfile);
		return 2;
	}
	app.process_start_us = ft_now_us();
	rc = config_load(&app.cfg, &app.args);
	if (rc != 0) {
		ftlog_close();
		return rc;
	}
	startup_logs(&app);
	if (setup(&app) != 0) {
		ftlog(FTL_ERROR, LOG_MAIN,
		      "Fatal exception! cannot start the "
		      "event loop");
		teardown(&app);
		return 1;
	}
	event_base_dispatch(app.base);
	rc = app.exit_code;
	teardown(&app);
	return rc;
}
