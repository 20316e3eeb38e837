#ifndef GW_PASSWD_H
#define GW_PASSWD_H
/*
 * argon2id password hashes (libargon2, PHC string form) computed off the
 * event loop.
 *
 * One hash or verification costs tens of milliseconds of CPU and
 * GW_ARGON2_M_KIB of memory; on the loop it would stall every other
 * request. So a few worker threads do it: the loop hands them a job, and
 * gets the result back as a callback on the loop. See passwd.c for how
 * and why.
 *
 * Threads: every function here is called from the loop thread; callbacks
 * run on the loop thread.
 */
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct gw_passwd;

/* OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
#define GW_ARGON2_T 2
#define GW_ARGON2_M_KIB 19456
#define GW_ARGON2_P 1
#define GW_ARGON2_SALT 16
#define GW_ARGON2_HASHLEN 32
#define GW_PASSWD_MAX_THREADS 8
#define GW_PASSWD_MAX_QUEUED 64 /* more waiting jobs: refused (busy) */

enum gw_pw_result {
	GW_PW_OK,        /* hashed, or the password matches */
	GW_PW_MISMATCH,  /* verify: the password does not match */
	GW_PW_ERROR,     /* argon2 failed (bad encoded string, ENOMEM) */
	GW_PW_CANCELLED, /* the pool was freed first */
};

/* A job's outcome, on the loop. encoded (hash jobs with GW_PW_OK only,
 * else NULL) is borrowed for the callback: copy it to keep it. */
typedef void (*gw_passwd_cb)(enum gw_pw_result res, const char *encoded,
			     void *arg);

/*
 * Start threads (1..GW_PASSWD_MAX_THREADS) workers delivering to base
 * (borrowed; must outlive the pool). Returns the pool or NULL with the
 * reason in err.
 */
struct gw_passwd *gw_passwd_new(struct event_base *base, int threads,
				char *err, size_t errlen);

/* Stop and join the workers; every job not yet delivered gets its
 * callback now with GW_PW_CANCELLED. NULL does nothing. */
void gw_passwd_free(struct gw_passwd *p);

/*
 * Queue a hash of password (copied, and wiped from memory when the job
 * ends) with a fresh random salt. Returns 0 (cb runs exactly once,
 * later, on the loop) or -1 (too many jobs queued, ENOMEM; cb never
 * runs).
 */
int gw_passwd_hash(struct gw_passwd *p, const char *password,
		   gw_passwd_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Queue a check of password against encoded (both copied); as
 * gw_passwd_hash(). */
int gw_passwd_verify(struct gw_passwd *p, const char *encoded,
		     const char *password, gw_passwd_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Jobs submitted and not yet delivered (for /metrics). */
unsigned gw_passwd_pending(const struct gw_passwd *p);

/*
 * Hash password now, on the calling thread (start-up and command-line
 * use only). Returns the PHC string (caller frees) or NULL with the
 * reason in err.
 */
char *gw_passwd_hash_now(const char *password, char *err, size_t errlen);

/* Check password against encoded now, on the calling thread. */
enum gw_pw_result gw_passwd_verify_now(const char *encoded,
				       const char *password);

#endif
