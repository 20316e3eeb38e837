#ifndef SUP_BOTOPS_H
#define SUP_BOTOPS_H
/*
 * The side effects the lifecycle table's actions use (botops.c): spawn
 * a bot, signal it, arm its timers, ping it, ask it to stop, let go of
 * its process. Kept apart from lifecycle.c so that the table can be
 * tested with these stubbed out.
 */
#include <stddef.h>
#include <stdint.h>

struct bot;

/* Take a port, write the config, spawn. 0, or -1 with b->start_err and
 * b->last_error set (nothing held). */
int botops_spawn(struct bot *b);
/* Write b's FreqTrade config for port (fresh jwt secret). 0 or -1. */
int botops_write_config(struct bot *b, int port, char *err,
			size_t n);
/* Signal the bot's process group. */
void botops_kill(struct bot *b, int sig);
/* (Re)arm the state's deadline: EV_DEADLINE after ms. */
void botops_arm_deadline(struct bot *b, int64_t ms);
/* Cancel the deadline, the next ping and any HTTP call in flight. */
void botops_cancel(struct bot *b);
/* Ping /api/v1/ping now and again until EV_READY or a cancel. */
void botops_start_ping(struct bot *b);
/* POST /api/v1/stop (the bot's credentials), then SIGTERM the group
 * whatever the answer. */
void botops_send_stop(struct bot *b);
/* Forget the process (pid, pidfd watch) and give the port back. */
void botops_release(struct bot *b);
/* Every health_check_interval, ping a running bot; after
 * HEALTH_MAX_FAILURES silent pings in a row it is killed, and its exit
 * is a crash like any other (restart with backoff). now: mono ms. */
void botops_health_tick(struct bot *b, int64_t now);
/* How long to wait before the next restart: backoff, at least 1 s. */
int64_t botops_backoff_delay(struct bot *b);
/* "exited with code 1: <last stderr line>" for b's last exit. */
void botops_exit_reason(const struct bot *b, char *out, unsigned n);

#endif
