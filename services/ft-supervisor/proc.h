#ifndef SUP_PROC_H
#define SUP_PROC_H
/*
 * Processes: spawning a bot in its own session, reading /proc, finding
 * our bots after a supervisor restart, and watching a process that is
 * not our child.
 *
 * Spawning uses posix_spawnp (clone+exec, no copy of the supervisor's
 * memory: cheap even with 999 bots and a sanitizer build) with
 * POSIX_SPAWN_SETSID, so the bot leads its own session and process
 * group (pgid = pid): a stop signals the whole group, and a signal to
 * the supervisor's group never reaches the bots. Signal dispositions
 * and the mask are reset to the defaults (the supervisor ignores
 * SIGPIPE), every fd past stderr is closed, stdin is /dev/null and
 * stdout/stderr go to the bot's .stderr file.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What /proc/<pid>/stat says about a process. */
struct proc_stat {
	char state;                   /* R S D Z T ... */
	pid_t ppid, pgrp, session;
	unsigned long long ticks;     /* utime + stime */
	unsigned long long starttime; /* clock ticks after boot */
	long rss_pages;
};

/*
 * Spawn argv (argv[0] resolved through PATH unless it has a '/') in its
 * own session with cwd as working directory, stdout and stderr appended
 * to out_path (truncated first) and env as environment. Returns 0 with
 * *pid, or -1 with the reason in err (command not found, not
 * executable, ...): posix_spawn reports exec failures.
 */
int proc_spawn(char *const argv[], char *const env[], const char *cwd,
	       const char *out_path, pid_t *pid, char *err, size_t errlen);

/* Read /proc/<pid>/stat. 0, or -1 when there is no such process. */
int proc_read_stat(pid_t pid, struct proc_stat *out);

/* /proc/sys/kernel/random/boot_id into out (>= 37 bytes). 0 or -1. */
int proc_boot_id(char *out, size_t n);

/* Clock ticks per second and seconds since boot (from /proc/uptime). */
long proc_hz(void);
double proc_uptime_s(void);

/* pidfd_open(2): an fd that becomes readable when pid exits; -1 on
 * error (ESRCH: gone; ENOSYS: kernel < 5.3). */
int proc_pidfd_open(pid_t pid);

/* Signal a whole process group (the bot's session). 0 or -1. */
int proc_kill_group(pid_t pgid, int sig);

/*
 * Find live bots: processes whose command line has "--config" followed
 * by config_dir/strategy_<id>.json, that lead their own session. fn is
 * called with each (id, pid); zombies are skipped. Returns how many
 * were found.
 */
int proc_find_bots(const char *config_dir,
		   void (*fn)(int id, pid_t pid, void *arg), void *arg);

/*
 * Who holds a port. Adoption after a supervisor restart must not trust
 * whatever answers /ping on the port named in a bot's config: another
 * program (or another bot) may hold it. The LISTEN sockets come from
 * /proc/net/tcp and tcp6, read once per reconcile (one line per socket
 * of this network namespace, so the cost is bounded by the sockets on
 * the machine, a few hundred KB with 999 bots); a socket's owner is
 * found through the socket:[inode] links in /proc/<pid>/fd, first the
 * bot's own, then, only if needed, those of the rest of its process
 * group (a wrapper command whose child serves the API). The process
 * list for that is also read once, on first need.
 */
struct proc_listen {
	int port;
	unsigned long long inode;
	bool exact; /* on 127.0.0.1 (or ::ffff:127.0.0.1), else wildcard */
};

struct proc_member {
	pid_t pid, pgrp;
};

struct proc_listeners {
	struct proc_listen *v;
	size_t n, cap;
	struct proc_member *g; /* every process: read on first need */
	size_t ng;
	bool g_read;
};

/* Add the LISTEN sockets of one /proc/net/tcp (v6 false) or tcp6 text
 * that could take a connection to 127.0.0.1. 0, or -1 out of memory. */
int proc_listeners_parse(struct proc_listeners *l, const char *text,
			 bool v6);
/* Read /proc/net/tcp and /proc/net/tcp6 (absent without IPv6). 0, or
 * -1 if /proc/net/tcp cannot be read. */
int proc_listeners_read(struct proc_listeners *l);
void proc_listeners_free(struct proc_listeners *l);

enum proc_port_owner {
	PORT_NOBODY, /* nothing listens there */
	PORT_GROUP,  /* every socket answering it is pgid's group's */
	PORT_OTHER,  /* someone else holds (one of) them */
};

/* Who holds the sockets that take connections to 127.0.0.1:port: the
 * exact binds if there are any (the kernel prefers them), else the
 * wildcard ones. */
enum proc_port_owner proc_port_owner(struct proc_listeners *l, int port,
				     pid_t pgid);
const char *proc_port_owner_name(enum proc_port_owner o);

/* A copy of environ without BTCW_* (our secrets) and FREQTRADE__* (they
 * would override the generated config). Free with proc_env_free(). */
char **proc_bot_env(void);
void proc_env_free(char **env);

/* The last line of a text file (at most n-1 bytes) into out; "" if
 * none. For a crash reason from the bot's stderr. */
void proc_last_line(const char *path, char *out, size_t n);

#endif
