/*
 * argon2id on worker threads, results back on the loop.
 *
 * How the result gets back: workers append finished jobs to a
 * mutex-protected "done" list and write to an eventfd; the loop watches
 * the eventfd with an ordinary read event, takes the whole list under
 * the mutex and runs the callbacks. Why not event_active() from the
 * worker: that needs libevent's thread support (evthread_use_pthreads())
 * enabled before the daemon's event_base is created, in the shared
 * service kit, and then every event operation of the whole daemon takes
 * a lock; the eventfd keeps the locking to this file and the loop stays
 * the only thread that touches loop state (STYLE habit 6). The workers
 * only ever touch a job they own and the two lists.
 */
#include "services/gateway/passwd.h"

#include "libcommon/log.h"

#include <argon2.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

enum job_kind { JOB_HASH, JOB_VERIFY };

struct job {
	struct job *next;
	enum job_kind kind;
	char *password;         /* owned, wiped before free */
	size_t pwlen;
	char *encoded;          /* verify: input; hash: output (owned) */
	enum gw_pw_result res;  /* set by the worker */
	gw_passwd_cb cb;
	void *arg;
};

struct job_list {
	struct job *head, *tail;
	unsigned n;
};

struct gw_passwd {
	pthread_mutex_t mu;      /* guards todo, done, stopping */
	pthread_cond_t cv;       /* todo gained a job, or stopping */
	struct job_list todo;    /* waiting for a worker */
	struct job_list done;    /* finished, waiting for the loop */
	bool stopping;
	int nthreads;
	pthread_t th[GW_PASSWD_MAX_THREADS];
	int efd;                 /* workers write, the loop reads */
	struct event *ev;        /* the loop's read event on efd */
	unsigned pending;        /* submitted, not delivered (loop only) */
};

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

static struct job *list_take_all(struct job_list *l)
{
	struct job *j = l->head;
	*l = (struct job_list){ 0 };
	return j;
}

static void job_free(struct job *j)
{
	if (j->password) {
		explicit_bzero(j->password, j->pwlen);
		free(j->password);
	}
	free(j->encoded);
	free(j);
}

/* ---- the synchronous core, used by the workers ---- */

char *gw_passwd_hash_now(const char *password, char *err, size_t errlen)
{
	uint8_t salt[GW_ARGON2_SALT];
	size_t len = argon2_encodedlen(GW_ARGON2_T, GW_ARGON2_M_KIB,
				       GW_ARGON2_P, GW_ARGON2_SALT,
				       GW_ARGON2_HASHLEN, Argon2_id);
	char *out = malloc(len);
	int rv;

	if (!out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt)) {
		snprintf(err, errlen, "no randomness for a salt: %s",
			 strerror(errno));
		free(out);
		return NULL;
	}
	rv = argon2id_hash_encoded(GW_ARGON2_T, GW_ARGON2_M_KIB, GW_ARGON2_P,
				   password, strlen(password), salt,
				   sizeof(salt), GW_ARGON2_HASHLEN, out, len);
	if (rv != ARGON2_OK) {
		snprintf(err, errlen, "argon2 failed: %s",
			 argon2_error_message(rv));
		free(out);
		return NULL;
	}
	return out;
}

enum gw_pw_result gw_passwd_verify_now(const char *encoded,
				       const char *password)
{
	int rv = argon2id_verify(encoded, password, strlen(password));
	if (rv == ARGON2_OK)
		return GW_PW_OK;
	return rv == ARGON2_VERIFY_MISMATCH ? GW_PW_MISMATCH : GW_PW_ERROR;
}

static void job_run(struct job *j)
{
	char err[128];

	if (j->kind == JOB_VERIFY) {
		j->res = gw_passwd_verify_now(j->encoded, j->password);
		return;
	}
	j->encoded = gw_passwd_hash_now(j->password, err, sizeof(err));
	j->res = j->encoded ? GW_PW_OK : GW_PW_ERROR;
	if (!j->encoded)
		log_error("passwd.hash_failed", LF_S("error", err));
}

static void *worker(void *arg)
{
	struct gw_passwd *p = arg;
	const uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stopping && !p->todo.head)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		struct job *j = p->todo.head;
		p->todo.head = j->next;
		if (!p->todo.head)
			p->todo.tail = NULL;
		p->todo.n--;
		pthread_mutex_unlock(&p->mu);

		job_run(j);

		pthread_mutex_lock(&p->mu);
		list_push(&p->done, j);
		pthread_mutex_unlock(&p->mu);
		if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_error("passwd.notify_failed",
				  LF_S("error", strerror(errno)));
	}
}

/* ---- the loop side ---- */

static void deliver(struct gw_passwd *p, struct job *j, bool cancel)
{
	while (j) {
		struct job *next = j->next;
		enum gw_pw_result res = cancel ? GW_PW_CANCELLED : j->res;
		bool out = res == GW_PW_OK && j->kind == JOB_HASH;
		p->pending--;
		j->cb(res, out ? j->encoded : NULL, j->arg);
		job_free(j);
		j = next;
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct gw_passwd *p = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("passwd.read_failed", LF_S("error", strerror(errno)));
	pthread_mutex_lock(&p->mu);
	struct job *j = list_take_all(&p->done);
	pthread_mutex_unlock(&p->mu);
	deliver(p, j, false);
}

static int start_workers(struct gw_passwd *p, int threads, char *err,
			 size_t errlen)
{
	sigset_t all, old;
	int rv = 0;

	/* Workers take no signals: the loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (p->nthreads = 0; p->nthreads < threads; p->nthreads++) {
		rv = pthread_create(&p->th[p->nthreads], NULL, worker, p);
		if (rv != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0)
		snprintf(err, errlen, "cannot start a hashing thread: %s",
			 strerror(rv));
	return rv == 0 ? 0 : -1;
}

struct gw_passwd *gw_passwd_new(struct event_base *base, int threads,
				char *err, size_t errlen)
{
	struct gw_passwd *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (threads < 1)
		threads = 1;
	if (threads > GW_PASSWD_MAX_THREADS)
		threads = GW_PASSWD_MAX_THREADS;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->ev = p->efd >= 0 ? event_new(base, p->efd, EV_READ | EV_PERSIST,
					on_done, p)
			    : NULL;
	if (!p->ev || event_add(p->ev, NULL) != 0) {
		snprintf(err, errlen, "cannot watch the hashing eventfd");
		gw_passwd_free(p);
		return NULL;
	}
	if (start_workers(p, threads, err, errlen) != 0) {
		gw_passwd_free(p);
		return NULL;
	}
	return p;
}

void gw_passwd_free(struct gw_passwd *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	/* No worker runs now: the lists are ours without the lock. */
	deliver(p, list_take_all(&p->done), true);
	deliver(p, list_take_all(&p->todo), true);
	if (p->ev)
		event_free(p->ev);
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static int submit(struct gw_passwd *p, struct job *j)
{
	pthread_mutex_lock(&p->mu);
	if (p->stopping || p->todo.n >= GW_PASSWD_MAX_QUEUED) {
		pthread_mutex_unlock(&p->mu);
		job_free(j);
		return -1;
	}
	list_push(&p->todo, j);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	p->pending++;
	return 0;
}

static struct job *job_new(enum job_kind kind, const char *password,
			   gw_passwd_cb cb, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = kind;
	j->pwlen = strlen(password);
	j->password = strdup(password);
	j->cb = cb;
	j->arg = arg;
	if (!j->password) {
		free(j);
		return NULL;
	}
	return j;
}

int gw_passwd_hash(struct gw_passwd *p, const char *password,
		   gw_passwd_cb cb, void *arg)
{
	struct job *j = p && cb ? job_new(JOB_HASH, password, cb, arg) : NULL;
	return j ? submit(p, j) : -1;
}

int gw_passwd_verify(struct gw_passwd *p, const char *encoded,
		     const char *password, gw_passwd_cb cb, void *arg)
{
	struct job *j = p && cb ? job_new(JOB_VERIFY, password, cb, arg)
				: NULL;
	if (j) {
		j->encoded = strdup(encoded);
		if (!j->encoded) {
			job_free(j);
			return -1;
		}
	}
	return j ? submit(p, j) : -1;
}

unsigned gw_passwd_pending(const struct gw_passwd *p)
{
	return p ? p->pending : 0;
}
