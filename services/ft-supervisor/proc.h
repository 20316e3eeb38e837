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

/* A copy of environ without BTCW_* (our secrets) and FREQTRADE__* (they
 * would override the generated config). Free with proc_env_free(). */
char **proc_bot_env(void);
void proc_env_free(char **env);

/* The last line of a text file (at most n-1 bytes) into out; "" if
 * none. For a crash reason from the bot's stderr. */
void proc_last_line(const char *path, char *out, size_t n);

#endif
