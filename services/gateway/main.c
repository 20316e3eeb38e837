/*
 * gateway: the public HTTP API behind one authenticated door (accounts,
 * roles, JWT), mapped onto the other services' bus methods. The strategy
 * proxy and live push (/ws) are part 2. See README.md in this folder.
 *
 * Start-up, in order: the gateway's own command-line modes (cli.c); the
 * service kit (config, admin HTTP, bus server and publisher, migrations,
 * PostgreSQL pool); a JWT signing secret or no start at all; the first
 * admin from the environment; then the gateway's parts (gateway.c) and
 * the loop.
 */
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "services/gateway/bootstrap.h"
#include "services/gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_SECRET                                                           \
	"system.security.jwt_secret_key is empty: set BTCW_JWT_SECRET to a " \
	"random string of at least 32 characters (openssl rand -hex 32); "  \
	"the gateway never signs tokens with a built-in key"

static bool has_secret(const struct lc_config *cfg)
{
	const char *k = cfg->system.security.jwt_secret_key;
	return k && *k;
}

/*
 * Refuse to start without a signing secret before anything else (no
 * migrations, no ports): the config is read once here for that; an
 * invalid config is left to lc_svc_init(), which says where.
 */
static void require_secret(int argc, char **argv)
{
	struct lc_config *cfg = NULL;
	char err[1024];

	/* Only for a plain start: flags the kit answers (--version, a bad
	 * flag) go to it first; the check after lc_svc_init() still holds. */
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--config=", 9) == 0)
			continue;
		if (strcmp(argv[i], "--config") != 0 || ++i >= argc)
			return;
	}
	lc_log_set_level(LC_LOG_ERROR); /* the kit warns about the files */
	int rv = lc_cfg_load_dir(gw_cli_config_dir(argc, argv), &cfg, err,
				 sizeof(err));
	lc_log_set_level(LC_LOG_INFO);
	if (rv != 0)
		return;
	bool ok = has_secret(cfg);
	lc_cfg_free(cfg);
	if (ok)
		return;
	fprintf(stderr, "gateway: %s\n", NO_SECRET);
	exit(LC_EXIT_USAGE);
}

static void fail(struct lc_svc *s, int code, const char *event,
		 const char *detail)
{
	log_error(event, LF_S("error", detail));
	lc_svc_release(s);
	exit(code);
}

int main(int argc, char **argv)
{
	static struct lc_svc s;
	static struct gw g;
	char err[1024];
	int rc = gw_cli_main(argc, argv);

	if (rc >= 0)
		return rc;
	require_secret(argc, argv);
	/* libevent's epoll changelist: the evhttp server disables and
	 * re-enables reading and writing around every request, and the
	 * changelist folds those into one epoll_ctl per loop turn (or none)
	 * instead of about four per request. Must be set before the kit
	 * creates the event_base; an operator's own setting wins. */
	setenv("EVENT_EPOLL_USE_CHANGELIST", "1", 0);
	lc_svc_init(&s, LC_CFG_SVC_GATEWAY, BTCW_VERSION, argc, argv,
		    LC_SVC_DB | LC_SVC_MIGRATE);
	if (!has_secret(s.cfg)) /* changed between the two reads */
		fail(&s, LC_EXIT_USAGE, "config.no_jwt_secret", NO_SECRET);
	rc = gw_bootstrap_env(s.cfg, err, sizeof(err));
	if (rc != 0)
		fail(&s, rc, "users.first_admin_failed", err);
	if (gw_init(&g, &s, err, sizeof(err)) != 0) {
		gw_release(&g);
		fail(&s, LC_EXIT_SYSTEM, "gateway.start_failed", err);
	}
	rc = lc_svc_run(&s);
	gw_release(&g);
	lc_svc_release(&s);
	return rc;
}
