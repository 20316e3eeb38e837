/* Spawn, /proc, adoption helpers (proc.h). */
#include "services/ft-supervisor/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static int spawn_actions(posix_spawn_file_actions_t *fa, const char *cwd,
			 const char *out_path)
{
	int rv = posix_spawn_file_actions_init(fa);
	rv = rv ? rv : posix_spawn_file_actions_addopen(fa, 0, "/dev/null",
							O_RDONLY, 0);
	rv = rv ? rv : posix_spawn_file_actions_addopen(
		fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
		0600);
	rv = rv ? rv : posix_spawn_file_actions_adddup2(fa, 1, 2);
	rv = rv ? rv : posix_spawn_file_actions_addclosefrom_np(fa, 3);
	if (!rv && cwd && *cwd)
		rv = posix_spawn_file_actions_addchdir_np(fa, cwd);
	return rv;
}

static int spawn_attrs(posix_spawnattr_t *at)
{
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	int rv = posix_spawnattr_init(at);
	rv = rv ? rv : posix_spawnattr_setflags(
		at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
			    POSIX_SPAWN_SETSIGDEF);
	rv = rv ? rv : posix_spawnattr_setsigmask(at, &none);
	rv = rv ? rv : posix_spawnattr_setsigdefault(at, &all);
	return rv;
}

int proc_spawn(char *const argv[], char *const env[], const char *cwd,
	       const char *out_path, pid_t *pid, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int rv = spawn_actions(&fa, cwd, out_path);
	if (rv == 0)
		rv = spawn_attrs(&at);
	if (rv != 0) {
		snprintf(err, errlen, "cannot prepare the spawn: %s",
			 strerror(rv));
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	rv = posix_spawnp(pid, argv[0], &fa, &at, argv,
			  env ? env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rv != 0) {
		snprintf(err, errlen, "cannot run '%s': %s", argv[0],
			 strerror(rv));
		return -1;
	}
	return 0;
}

int proc_read_stat(pid_t pid, struct proc_stat *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the
	 * last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut, st, start;
	long rss;
	int ppid, pgrp, sess;
	char state;
	int got = sscanf(p + 1,
			 " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
			 " %*d %*d %*d %*d %*d %*d %llu %*u %ld",
			 &state, &ppid, &pgrp, &sess, &ut, &st, &start, &rss);
	if (got != 8)
		return -1;
	*out = (struct proc_stat){
		.state = state, .ppid = ppid, .pgrp = pgrp, .session = sess,
		.ticks = ut + st, .starttime = start, .rss_pages = rss,
	};
	return 0;
}

static int read_small(const char *path, char *out, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, out, n - 1);
	close(fd);
	if (r <= 0)
		return -1;
	out[r] = '\0';
	return (int)r;
}

int proc_boot_id(char *out, size_t n)
{
	if (read_small("/proc/sys/kernel/random/boot_id", out, n) < 0)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

long proc_hz(void)
{
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? hz : 100;
}

double proc_uptime_s(void)
{
	char buf[128];
	if (read_small("/proc/uptime", buf, sizeof(buf)) < 0)
		return 0;
	return strtod(buf, NULL);
}

int proc_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

int proc_kill_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return -1;
	return kill(-pgid, sig);
}

/* "--config" then prefix<id>.json in a NUL-separated cmdline. */
static int cmdline_bot_id(const char *cmd, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *end = cmd + len;
	for (const char *a = cmd; a < end; a += strlen(a) + 1) {
		if (strcmp(a, "--config") != 0)
			continue;
		const char *v = a + strlen(a) + 1;
		if (v >= end || strncmp(v, prefix, plen) != 0)
			return -1;
		char *stop;
		long id = strtol(v + plen, &stop, 10);
		if (stop == v + plen || strcmp(stop, ".json") != 0 ||
		    id < 1 || id > 0x7fffffff)
			return -1;
		return (int)id;
	}
	return -1;
}

static int check_pid(pid_t pid, const char *prefix)
{
	char path[64], cmd[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	cmd[n] = '\0';
	int id = cmdline_bot_id(cmd, (size_t)n, prefix);
	struct proc_stat st;
	if (id < 0 || proc_read_stat(pid, &st) != 0 || st.state == 'Z' ||
	    st.session != pid)
		return -1;
	return id;
}

int proc_find_bots(const char *config_dir,
		   void (*fn)(int id, pid_t pid, void *arg), void *arg)
{
	char prefix[4200];
	snprintf(prefix, sizeof(prefix), "%s/strategy_", config_dir);
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	int found = 0;
	pid_t self = getpid();
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *stop;
		long pid = strtol(e->d_name, &stop, 10);
		if (*stop || pid <= 1 || pid == self)
			continue;
		int id = check_pid((pid_t)pid, prefix);
		if (id < 0)
			continue;
		fn(id, (pid_t)pid, arg);
		found++;
	}
	closedir(d);
	return found;
}

char **proc_bot_env(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "BTCW_", 5) == 0 ||
		    strncmp(environ[i], "FREQTRADE__", 11) == 0)
			continue;
		env[k] = strdup(environ[i]);
		if (!env[k]) {
			proc_env_free(env);
			return NULL;
		}
		k++;
	}
	return env;
}

void proc_env_free(char **env)
{
	if (!env)
		return;
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}

void proc_last_line(const char *path, char *out, size_t n)
{
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[2048];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ?
			     size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t r = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (r <= 0)
		return;
	buf[r] = '\0';
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
		buf[--r] = '\0';
	char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	snprintf(out, n, "%s", line);
}
