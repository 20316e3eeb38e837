#ifndef GW_BOOTSTRAP_H
#define GW_BOOTSTRAP_H
/*
 * The first admin account. There is no default password: either
 *  - the environment at start-up: BTCW_ADMIN_USER and BTCW_ADMIN_PASSWORD
 *    create an admin when no admin exists yet (and are ignored once one
 *    does); or
 *  - the command `gateway --create-admin USER [--config DIR]`, which
 *    reads the password from stdin (without echo on a terminal, asked
 *    twice) and creates the admin account.
 * Both check the username format and the password policy of
 * system.security, run before any event loop (plain libpq, argon2 on the
 * calling thread), and take an advisory lock so that two gateways
 * starting together create one admin.
 */
#include <stddef.h>

struct lc_config;

/*
 * The environment step, after lc_svc_init() (migrations applied).
 * Returns 0 (created, or nothing to do), or an exit code with the reason
 * in err: 100 for unusable values (weak password, bad username, a
 * non-admin account of that name), 111 when the database fails.
 */
int gw_bootstrap_env(const struct lc_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * The command: load the config in dir, check, apply the migrations,
 * create the admin user with password pw (borrowed). Messages go to
 * stderr. Returns the exit code: 0, 100 (config, policy, name taken) or
 * 111 (database).
 */
int gw_create_admin_command(const char *dir, const char *user,
			    const char *pw);

/*
 * The gateway's own command-line modes, checked before lc_svc_init()
 * (cli.c):
 *   --create-admin USER [--config DIR]   as above
 *   --print-routes                       "METHOD PATTERN ROLES" per line
 * Returns -1 when argv asks for neither (start the daemon), else the
 * process exit code (0, 100 usage or policy, 111 system).
 */
int gw_cli_main(int argc, char **argv);

/* The config folder argv names (--config DIR), else $BTCW_CONFIG_DIR,
 * else "config" (borrowed from argv or the environment). */
const char *gw_cli_config_dir(int argc, char **argv);

#endif
