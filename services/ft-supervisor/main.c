/*
 * ft-supervisor: the strategy registry, port pool and FreqTrade process
 * lifecycle.
 *
 * Start-up, config, admin HTTP, the RPC server, the event publisher and
 * its connections come from the service kit (libcommon/svc.h); this
 * daemon's own logic is registered here as it lands.
 */
#include "libcommon/svc.h"

int main(int argc, char **argv)
{
	struct lc_svc s;
	lc_svc_init(&s, LC_CFG_SVC_SUPERVISOR, BTCW_VERSION, argc, argv,
		    LC_SVC_DB | LC_SVC_MIGRATE);
	int rc = lc_svc_run(&s);
	lc_svc_release(&s);
	return rc;
}
