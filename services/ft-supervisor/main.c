/*
 * ft-supervisor: the strategy registry, the port pool and the lifecycle
 * of up to 999 FreqTrade processes (services/ft-supervisor/README.md).
 *
 * Start-up, config, admin HTTP, the RPC server, the event publisher,
 * migrations and the PostgreSQL pool come from the service kit
 * (libcommon/svc.h); sup_init() adds the supervisor's own state, its
 * methods, SIGCHLD and the reconcile that adopts the bots still alive.
 */
#include "libcommon/svc.h"
#include "services/ft-supervisor/sup.h"

int main(int argc, char **argv)
{
	struct lc_svc svc;
	struct sup sup;
	lc_svc_init(&svc, LC_CFG_SVC_SUPERVISOR, BTCW_VERSION, argc, argv,
		    LC_SVC_DB | LC_SVC_MIGRATE);
	if (sup_init(&sup, &svc) != 0) {
		sup_teardown(&sup);
		lc_svc_release(&svc);
		return LC_EXIT_SYSTEM;
	}
	int rc = lc_svc_run(&svc);
	sup_teardown(&sup);
	lc_svc_release(&svc);
	return rc;
}
