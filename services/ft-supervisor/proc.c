/* Spawn, /proc, adoption helpers (proc.h). */
#include "services/ft-supervisor/proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
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

/* ---- who holds a port ---- */

#define TCP_LISTEN 0x0A
#define OWNER_MAX_SOCKETS 16 /* on one port (SO_REUSEPORT) */

/* The kernel prints each 32-bit word of an address as a native integer
 * (%08X of the __be32), so a parsed word equals the word as it lies in
 * memory: no byte order to assume. */
static uint32_t word_at(const unsigned char *p)
{
	uint32_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

/* 1: the address is 127.0.0.1 (or ::ffff:127.0.0.1); 0: a wildcard
 * (0.0.0.0, ::); -1: another address, which 127.0.0.1 never reaches. */
static int addr_kind(const char *hex, bool v6)
{
	size_t words = v6 ? 4 : 1;
	uint32_t w[4];
	if (strlen(hex) != words * 8)
		return -1;
	for (size_t i = 0; i < words; i++) {
		char part[9], *end;
		memcpy(part, hex + 8 * i, 8);
		part[8] = '\0';
		w[i] = (uint32_t)strtoul(part, &end, 16);
		if (*end)
			return -1;
	}
	if (!v6) {
		uint32_t lo = htonl(INADDR_LOOPBACK);
		return w[0] == lo ? 1 : w[0] == 0 ? 0 : -1;
	}
	if (!w[0] && !w[1] && !w[2] && !w[3])
		return 0;
	struct in6_addr m;
	if (inet_pton(AF_INET6, "::ffff:127.0.0.1", &m) != 1)
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (w[i] != word_at(m.s6_addr + 4 * i))
			return -1;
	return 1;
}

static int add_listen(struct proc_listeners *l, int port,
		      unsigned long long inode, bool exact)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct proc_listen *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct proc_listen){ port, inode, exact };
	return 0;
}

int proc_listeners_parse(struct proc_listeners *l, const char *text,
			 bool v6)
{
	const char *line = text;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		/* one line at a time: sscanf would read on past a
		 * newline into the next socket */
		char buf[512], addr[40];
		unsigned port, st;
		unsigned long long inode;
		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		line = nl ? nl + 1 : NULL;
		if (sscanf(buf, " %*u: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x"
			   " %x %*x:%*x %*x:%*x %*x %*u %*d %llu", addr,
			   &port, &st, &inode) != 4 || st != TCP_LISTEN)
			continue;
		int kind = addr_kind(addr, v6);
		if (kind >= 0 && add_listen(l, (int)port, inode, kind) != 0)
			return -1;
	}
	return 0;
}

/* A whole /proc file (their size is unknown until read). */
static char *read_all(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (cap - n < 4096) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0) {
				free(buf);
				buf = NULL;
			}
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

int proc_listeners_read(struct proc_listeners *l)
{
	char *t4 = read_all("/proc/net/tcp");
	char *t6 = read_all("/proc/net/tcp6"); /* NULL without IPv6 */
	int rv = -1;
	if (t4 && proc_listeners_parse(l, t4, false) == 0 &&
	    (!t6 || proc_listeners_parse(l, t6, true) == 0))
		rv = 0;
	free(t4);
	free(t6);
	return rv;
}

void proc_listeners_free(struct proc_listeners *l)
{
	free(l->v);
	free(l->g);
	memset(l, 0, sizeof(*l));
}

/* Mark in found[] the sockets of inode[] that pid has an fd on. */
static void mark_held(pid_t pid, const unsigned long long *inode,
		      bool *found, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char link[64];
		unsigned long long v;
		if (e->d_name[0] == '.')
			continue;
		ssize_t k = readlinkat(dirfd(d), e->d_name, link,
				       sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = '\0';
		if (sscanf(link, "socket:[%llu]", &v) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			if (inode[i] == v)
				found[i] = true;
	}
	closedir(d);
}

static bool all_found(const bool *found, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!found[i])
			return false;
	return true;
}

/* Every process with its group, for bots whose API is served by a
 * child (one pass over /proc for the whole reconcile). */
static void read_members(struct proc_listeners *l)
{
	l->g_read = true;
	DIR *d = opendir("/proc");
	if (!d)
		return;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *stop;
		long pid = strtol(e->d_name, &stop, 10);
		struct proc_stat st;
		if (*stop || pid <= 0 || proc_read_stat((pid_t)pid, &st) != 0)
			continue;
		if (l->ng == cap) {
			size_t nc = cap ? cap * 2 : 512;
			struct proc_member *g = realloc(l->g,
							nc * sizeof(*g));
			if (!g)
				break;
			l->g = g;
			cap = nc;
		}
		l->g[l->ng++] = (struct proc_member){ (pid_t)pid, st.pgrp };
	}
	closedir(d);
}

enum proc_port_owner proc_port_owner(struct proc_listeners *l, int port,
				     pid_t pgid)
{
	unsigned long long inode[OWNER_MAX_SOCKETS];
	bool found[OWNER_MAX_SOCKETS] = { false };
	bool exact = false;
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		exact = exact || (l->v[i].port == port && l->v[i].exact);
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].port != port || l->v[i].exact != exact)
			continue;
		if (n == OWNER_MAX_SOCKETS)
			return PORT_OTHER; /* not a bot's: never that many */
		inode[n++] = l->v[i].inode;
	}
	if (n == 0)
		return PORT_NOBODY;
	mark_held(pgid, inode, found, n);
	if (all_found(found, n))
		return PORT_GROUP;
	if (!l->g_read)
		read_members(l);
	for (size_t i = 0; i < l->ng && !all_found(found, n); i++)
		if (l->g[i].pgrp == pgid && l->g[i].pid != pgid)
			mark_held(l->g[i].pid, inode, found, n);
	return all_found(found, n) ? PORT_GROUP : PORT_OTHER;
}

const char *proc_port_owner_name(enum proc_port_owner o)
{
	switch (o) {
	case PORT_NOBODY:
		return "nothing listens on it";
	case PORT_GROUP:
		return "the bot";
	default:
		break;
	}
	return "another process holds it";
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
