/*
 * The gateway's own flags, handled before the service kit (whose flag
 * parser refuses flags it does not know): --create-admin USER and
 * --print-routes. Any other argv goes to lc_svc_init() untouched.
 */
#include "services/gateway/bootstrap.h"
#include "services/gateway/http.h"
#include "services/gateway/policy.h"
#include "services/gateway/router.h"

#include "libcommon/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: gateway [--config DIR]              run the daemon\n"
	"                 DIR holds system.yml, services.yml, ... (default\n"
	"                 $BTCW_CONFIG_DIR, else ./config); the first admin\n"
	"                 comes from BTCW_ADMIN_USER / BTCW_ADMIN_PASSWORD\n"
	"       gateway --create-admin USER [--config DIR]\n"
	"                 create an admin account; the password is read\n"
	"                 from stdin (asked twice, without echo, on a "
	"terminal)\n"
	"       gateway --check-config [--config DIR]\n"
	"                 print the configuration it would run with (JSON,\n"
	"                 secrets hidden) and exit: 0 valid, 100 invalid\n"
	"       gateway --print-routes              list the API routes\n"
	"       gateway --help | --version\n";

static int print_routes(void)
{
	char roles[64];

	for (size_t t = 0; gw_route_tables[t]; t++)
		for (const struct gw_route *r = gw_route_tables[t]; r->method;
		     r++)
			printf("%s %s %s\n", r->method, r->pattern,
			       gw_roles_format(r->roles, r->flags, roles,
					       sizeof(roles)));
	return fflush(stdout) == 0 ? LC_EXIT_OK : LC_EXIT_SYSTEM;
}

/* One line from stdin without its newline; false on EOF or too long. */
static bool read_line(const char *prompt, char *buf, size_t n, bool tty)
{
	struct termios old, quiet;
	bool ok;

	if (tty) {
		fputs(prompt, stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ok = fgets(buf, (int)n, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	size_t len = ok ? strcspn(buf, "\r\n") : 0;
	if (ok && buf[len] == '\0' && len == n - 1)
		ok = false; /* no newline in a full buffer: too long */
	buf[len] = '\0';
	return ok && len > 0;
}

static int create_admin(const char *dir, const char *user)
{
	char pw[GW_PASSWORD_MAX + 2], again[GW_PASSWORD_MAX + 2];
	bool tty = isatty(STDIN_FILENO);
	int rc = LC_EXIT_USAGE;

	if (!read_line("password: ", pw, sizeof(pw), tty)) {
		fprintf(stderr, "gateway: no password on stdin\n");
	} else if (tty && (!read_line("again: ", again, sizeof(again), tty) ||
			   strcmp(pw, again) != 0)) {
		fprintf(stderr, "gateway: the passwords differ\n");
	} else {
		rc = gw_create_admin_command(dir, user, pw);
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	return rc;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. */
static const char *flag_value(int argc, char **argv, int *i,
			      const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

const char *gw_cli_config_dir(int argc, char **argv)
{
	const char *dir = getenv("BTCW_CONFIG_DIR"), *v;

	for (int i = 1; i < argc; i++)
		if ((v = flag_value(argc, argv, &i, "--config")) != NULL)
			dir = v;
	return dir && *dir ? dir : "config";
}

static bool wants_cli(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--create-admin", 14) == 0 ||
		    strcmp(argv[i], "--print-routes") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return true;
	return false;
}

int gw_cli_main(int argc, char **argv)
{
	const char *dir = getenv("BTCW_CONFIG_DIR"), *user = NULL, *v;
	bool routes = false;

	if (!wants_cli(argc, argv))
		return -1;
	for (int i = 1; i < argc; i++) {
		if ((v = flag_value(argc, argv, &i, "--config")) != NULL)
			dir = v;
		else if ((v = flag_value(argc, argv, &i, "--create-admin")))
			user = v;
		else if (strcmp(argv[i], "--print-routes") == 0)
			routes = true;
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return LC_EXIT_OK;
		}
		else {
			fprintf(stderr, "gateway: unexpected argument "
				"'%s'\n%s", argv[i], usage_text);
			return LC_EXIT_USAGE;
		}
	}
	if (routes == (user != NULL)) {
		fputs(usage_text, stderr);
		return LC_EXIT_USAGE;
	}
	if (routes)
		return print_routes();
	return create_admin(dir && *dir ? dir : "config", user);
}
