/* Daemon start-up, signals as loop events, graceful shutdown. */
#include "libcommon/daemon.h"

#include "libcommon/clock.h"
#include "libcommon/log.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static void usage(FILE *out, const char *name, const char *extra)
{
	fprintf(out,
		"usage: %s [--config DIR] [--check-config] [--version] "
		"[--help]\n"
		"  --config DIR    folder with system.yml, services.yml, ...\n"
		"                  (default $BTCW_CONFIG_DIR, else ./config)\n"
		"  --check-config  check the configuration, print it as the\n"
		"                  daemon would run with it (JSON, secrets\n"
		"                  hidden) and exit: 0 valid, 100 invalid\n"
		"  --version       print the version and exit\n"
		"  --help          print this help and exit\n",
		name);
	if (extra)
		fputs(extra, out);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lc_daemon *d = arg;
	log_warn("shutdown.deadline", LF_I("deadline_ms", d->shutdown_ms));
	event_base_loopbreak(d->base);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct lc_daemon *d = arg;
	if (d->stopping) {
		log_warn("shutdown.forced", LF_S("signal", strsignal(sig)));
		event_base_loopbreak(d->base);
		return;
	}
	log_info("shutdown.signal", LF_S("signal", strsignal(sig)));
	lc_daemon_stop(d, LC_EXIT_OK);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct lc_daemon *d = arg;
	log_info("config.reload_requested");
	if (d->on_reload)
		d->on_reload(d, d->arg);
}

static void parse_flags(struct lc_daemon *d, int argc, char **argv,
			const char *extra)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = getenv("BTCW_CONFIG_DIR");
	int c;
	opterr = 0;
	optind = 0; /* glibc: full re-initialisation for repeated calls */
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'C':
			d->check_config = true;
			break;
		case 'V':
			printf("%s %s\n", d->name, d->version);
			exit(LC_EXIT_OK);
		case 'h':
			usage(stdout, d->name, extra);
			exit(LC_EXIT_OK);
		default:
			fprintf(stderr,
				"%s: unknown or incomplete option '%s'\n",
				d->name, argv[optind - 1]);
			usage(stderr, d->name, extra);
			exit(LC_EXIT_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", d->name,
			argv[optind]);
		usage(stderr, d->name, extra);
		exit(LC_EXIT_USAGE);
	}
	snprintf(d->config_dir, sizeof(d->config_dir), "%s",
		 dir && *dir ? dir : "config");
}

void lc_daemon_init(struct lc_daemon *d, const char *name,
		    const char *version, int argc, char **argv,
		    const char *extra_usage)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->version = version;
	d->shutdown_ms = 10000;
	d->started_ms = lc_clock_mono_ms();
	lc_log_init(name, LC_LOG_INFO);
	parse_flags(d, argc, argv, extra_usage);
	signal(SIGPIPE, SIG_IGN);
	d->base = event_base_new();
	if (!d->base) {
		log_error("loop.create_failed");
		exit(LC_EXIT_SYSTEM);
	}
	d->ev_term = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_stop_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
	d->ev_deadline = evtimer_new(d->base, on_deadline, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup || !d->ev_deadline ||
	    evsignal_add(d->ev_term, NULL) || evsignal_add(d->ev_int, NULL) ||
	    evsignal_add(d->ev_hup, NULL)) {
		log_error("signals.setup_failed");
		exit(LC_EXIT_SYSTEM);
	}
}

int lc_daemon_run(struct lc_daemon *d)
{
	log_info("daemon.started", LF_S("version", d->version),
		 LF_S("config_dir", d->config_dir));
	if (event_base_dispatch(d->base) < 0) {
		log_error("loop.failed");
		return LC_EXIT_SYSTEM;
	}
	log_info("daemon.stopped", LF_I("exit_code", d->exit_code));
	return d->exit_code;
}

void lc_daemon_stop(struct lc_daemon *d, int exit_code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = exit_code;
	if (!d->on_shutdown) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	struct timeval tv;
	lc_clock_tv(&tv, d->shutdown_ms);
	evtimer_add(d->ev_deadline, &tv);
	d->on_shutdown(d, d->arg);
}

void lc_daemon_drained(struct lc_daemon *d)
{
	log_info("shutdown.drained");
	event_base_loopexit(d->base, NULL);
}

void lc_daemon_release(struct lc_daemon *d)
{
	struct event **evs[] = { &d->ev_term, &d->ev_int, &d->ev_hup,
				 &d->ev_deadline };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (d->base)
		event_base_free(d->base);
	d->base = NULL;
}

int64_t lc_daemon_uptime_s(const struct lc_daemon *d)
{
	return (lc_clock_mono_ms() - d->started_ms) / 1000;
}
