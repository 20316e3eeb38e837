/* The fsynced local spool: grouped appends by a writer thread, replay
 * in order. */
#include "services/signal-ingest/spool.h"

#include "libcommon/buf.h"
#include "libcommon/log.h"
#include "services/signal-ingest/sig.h"
#include "services/signal-ingest/spoolrec.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)  /* bytes read from a segment at a time */
#define SEG_NAME_LEN 32        /* "seg-0123456789abcdef.spool" */

struct seg {
	uint64_t seq;
	int64_t size;    /* bytes written, or being written */
	int64_t durable; /* bytes known to be on disk */
	bool sealed;     /* no more appends */
};

struct cb {
	spool_done_fn fn;
	void *arg;
};

/* A group of appends: its bytes and its callbacks. */
struct group {
	struct lc_buf data;
	struct cb *cb;
	size_t n, cap;
};

/* What the writer thread is asked to do, and what it answers. */
struct job {
	char path[4096];   /* create this segment first, or "" */
	int fd;            /* write here (set by the thread if created) */
	const char *data;
	size_t len;
	int64_t at;        /* file offset of data */
	int err;           /* 0 or errno */
};

struct spool {
	struct event_base *base;
	char *dir;
	int dirfd;
	int64_t max_bytes;
	int64_t bytes;         /* segment sizes + pending */
	struct seg *segs;      /* oldest first */
	size_t nseg;
	uint64_t next_seq;
	int wfd;               /* the newest segment's fd, or -1 */

	struct group pend;     /* collecting */
	struct group fly;      /* being written */
	bool inflight;
	uint64_t fly_seq;      /* segment of the write in flight */

	pthread_t thread;
	bool thread_up;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job job;        /* guarded by mu while the thread has it */
	bool job_ready, job_done, stop;
	int pipefd[2];
	struct event *pipe_ev;

	int rfd;               /* reader's fd, or -1 */
	uint64_t rseq;         /* its segment */
	int64_t rpos;          /* committed up to here */
	int64_t rnext;         /* handed out up to here */
	unsigned char *rbuf;
	size_t rcap;
};

static void seg_path(const struct spool *sp, uint64_t seq, char *out,
		     size_t n)
{
	snprintf(out, n, "%s/seg-%016llx.spool", sp->dir,
		 (unsigned long long)seq);
}

/* ---- the writer thread ---- */

static int write_all(int fd, const char *p, size_t n, int64_t at)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
		at += w;
	}
	return 0;
}

static void run_job(struct spool *sp, struct job *j)
{
	if (j->path[0]) {
		j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			     0600);
		if (j->fd < 0) {
			j->err = errno;
			return;
		}
	}
	j->err = write_all(j->fd, j->data, j->len, j->at);
	if (j->err == 0 && fdatasync(j->fd) != 0)
		j->err = errno;
	/* a new file's name must be durable too */
	if (j->err == 0 && j->path[0] && fsync(sp->dirfd) != 0)
		j->err = errno;
	if (j->err != 0 && ftruncate(j->fd, (off_t)j->at) != 0)
		log_error("spool.truncate_failed", LF_S("error",
							strerror(errno)));
}

static void *writer(void *arg)
{
	struct spool *sp = arg;
	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (!sp->job_ready && !sp->stop)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (!sp->job_ready)
			break;
		struct job j = sp->job;
		pthread_mutex_unlock(&sp->mu);
		run_job(sp, &j);
		pthread_mutex_lock(&sp->mu);
		sp->job = j;
		sp->job_ready = false;
		sp->job_done = true;
		if (write(sp->pipefd[1], "x", 1) < 0 && errno != EAGAIN)
			log_error("spool.notify_failed",
				  LF_S("error", strerror(errno)));
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* ---- appends (loop side) ---- */

static struct seg *seg_by_seq(struct spool *sp, uint64_t seq)
{
	for (size_t i = 0; i < sp->nseg; i++)
		if (sp->segs[i].seq == seq)
			return &sp->segs[i];
	return NULL;
}

static void remove_seg(struct spool *sp, uint64_t seq)
{
	char path[4096];
	for (size_t i = 0; i < sp->nseg; i++) {
		if (sp->segs[i].seq != seq)
			continue;
		sp->bytes -= sp->segs[i].size;
		memmove(&sp->segs[i], &sp->segs[i + 1],
			(sp->nseg - i - 1) * sizeof(*sp->segs));
		sp->nseg--;
		break;
	}
	seg_path(sp, seq, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("spool.unlink_failed", LF_S("path", path),
			 LF_S("error", strerror(errno)));
}

static struct seg *newest_open(struct spool *sp)
{
	struct seg *s = sp->nseg ? &sp->segs[sp->nseg - 1] : NULL;
	if (s && s->sealed)
		return NULL;
	return s;
}

static void seal_newest(struct spool *sp)
{
	struct seg *s = newest_open(sp);
	if (!s)
		return;
	s->sealed = true;
	if (!sp->inflight || sp->fly_seq != s->seq) {
		if (sp->wfd >= 0)
			close(sp->wfd);
		sp->wfd = -1;
	}
}

/* Hand the pending group to the writer thread, if it is free. */
static void flush(struct spool *sp)
{
	struct seg *s = newest_open(sp);
	struct group g;
	if (sp->inflight || sp->stop || sp->pend.data.len == 0)
		return;
	if (s && s->size >= (int64_t)SPOOL_SEG_MAX) {
		seal_newest(sp);
		s = NULL;
	}
	sp->job.path[0] = '\0';
	if (!s) {
		struct seg *v = realloc(sp->segs,
					(sp->nseg + 1) * sizeof(*v));
		if (!v)
			return; /* retried at the next append */
		sp->segs = v;
		s = &sp->segs[sp->nseg++];
		*s = (struct seg){ .seq = sp->next_seq++ };
		seg_path(sp, s->seq, sp->job.path, sizeof(sp->job.path));
	}
	g = sp->fly;
	sp->fly = sp->pend;
	sp->pend = g;
	lc_buf_reset(&sp->pend.data);
	sp->pend.n = 0;
	pthread_mutex_lock(&sp->mu);
	sp->job.fd = sp->wfd;
	sp->job.data = sp->fly.data.data;
	sp->job.len = sp->fly.data.len;
	sp->job.at = s->size;
	sp->job.err = 0;
	sp->job_ready = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	s->size += (int64_t)sp->fly.data.len;
	sp->fly_seq = s->seq;
	sp->inflight = true;
}

static void job_failed(struct spool *sp, struct seg *s, const struct job *j)
{
	log_error("spool.write_failed", LF_S("error", strerror(j->err)),
		  LF_I("bytes", j->len));
	sp->bytes -= (int64_t)j->len;
	if (!s)
		return;
	s->size = j->at;
	if (s->size == 0) {
		if (sp->wfd >= 0 && sp->wfd == j->fd)
			sp->wfd = -1;
		if (j->fd >= 0)
			close(j->fd);
		remove_seg(sp, s->seq);
		return;
	}
	seal_newest(sp); /* never append after a failed write */
}

/* The writer thread finished a job. */
static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	char drain[64];
	struct job j;
	struct seg *s;
	(void)what;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&sp->mu);
	if (!sp->job_done) {
		pthread_mutex_unlock(&sp->mu);
		return;
	}
	sp->job_done = false;
	j = sp->job;
	pthread_mutex_unlock(&sp->mu);

	s = seg_by_seq(sp, sp->fly_seq);
	sp->inflight = false;
	if (j.path[0] && j.err == 0)
		sp->wfd = j.fd;
	if (j.err == 0 && s) {
		s->durable = j.at + (int64_t)j.len;
		if (s->sealed && sp->wfd == j.fd) {
			close(sp->wfd);
			sp->wfd = -1;
		}
	} else {
		job_failed(sp, s, &j);
	}
	for (size_t i = 0; i < sp->fly.n; i++)
		sp->fly.cb[i].fn(sp->fly.cb[i].arg, j.err);
	sp->fly.n = 0;
	lc_buf_reset(&sp->fly.data);
	flush(sp);
}

int spool_append(struct spool *sp, const struct sig *s, spool_done_fn fn,
		 void *arg)
{
	size_t before = sp->pend.data.len;
	if (sp->bytes >= sp->max_bytes)
		return -1;
	if (sp->pend.n == sp->pend.cap) {
		size_t cap = sp->pend.cap ? 2 * sp->pend.cap : 64;
		struct cb *v = realloc(sp->pend.cb, cap * sizeof(*v));
		if (!v)
			return -1;
		sp->pend.cb = v;
		sp->pend.cap = cap;
	}
	if (spool_rec_encode(s, &sp->pend.data) != 0)
		return -1;
	if (sp->bytes + (int64_t)(sp->pend.data.len - before) >
	    sp->max_bytes) {
		sp->pend.data.len = before;
		return -1;
	}
	sp->bytes += (int64_t)(sp->pend.data.len - before);
	sp->pend.cb[sp->pend.n++] = (struct cb){ fn, arg };
	flush(sp);
	return 0;
}

/* ---- replay ---- */

/* Drop the reader's segment once every record in it is committed and
 * nothing more can be written to it. */
static void retire_if_done(struct spool *sp)
{
	struct seg *s = seg_by_seq(sp, sp->rseq);
	if (!s || sp->rfd < 0 || !s->sealed || sp->rpos < s->size ||
	    (sp->inflight && sp->fly_seq == s->seq))
		return;
	close(sp->rfd);
	sp->rfd = -1;
	remove_seg(sp, s->seq);
}

static int open_reader(struct spool *sp, const struct seg *s)
{
	char path[4096];
	seg_path(sp, s->seq, path, sizeof(path));
	sp->rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (sp->rfd < 0) {
		log_error("spool.open_failed", LF_S("path", path),
			  LF_S("error", strerror(errno)));
		return -1;
	}
	sp->rseq = s->seq;
	sp->rpos = sp->rnext = 0;
	return 0;
}

/* Bytes [at, at + n) of the reader's segment into rbuf. */
static int read_at(struct spool *sp, int64_t at, size_t n)
{
	size_t got = 0;
	if (n > sp->rcap) {
		unsigned char *b = realloc(sp->rbuf, n);
		if (!b)
			return -1;
		sp->rbuf = b;
		sp->rcap = n;
	}
	while (got < n) {
		ssize_t r = pread(sp->rfd, sp->rbuf + got, n - got,
				  (off_t)(at + (int64_t)got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_error("spool.read_failed",
				  LF_S("error", r ? strerror(errno) : "eof"));
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* Skip damaged bytes: the next offset in [from, lim) where a whole,
 * valid record starts, or lim. */
static int64_t resync(struct spool *sp, int64_t from, size_t off,
		      size_t avail, int64_t lim)
{
	for (size_t i = off + 1; i < avail; i++) {
		struct sig tmp;
		size_t used;
		sig_init(&tmp);
		if (spool_rec_decode(sp->rbuf + i, avail - i, &tmp, &used) ==
		    1) {
			sig_release(&tmp);
			log_warn("spool.damaged", LF_I("segment", sp->rseq),
				 LF_I("skipped_bytes", i - off));
			return from + (int64_t)i;
		}
		sig_release(&tmp);
	}
	log_warn("spool.damaged_tail", LF_I("segment", sp->rseq),
		 LF_I("skipped_bytes", avail - off));
	return lim;
}

/* Decode records from rbuf[0..avail) read at offset at. */
static size_t decode_chunk(struct spool *sp, int64_t at, size_t avail,
			   int64_t lim, struct sig *rows, size_t max,
			   bool whole)
{
	size_t off = 0, n = 0, used;
	while (n < max && off < avail) {
		int rv = spool_rec_decode(sp->rbuf + off, avail - off,
					  &rows[n], &used);
		if (rv == 1) {
			off += used;
			n++;
		} else if (rv == 0 && !whole) {
			break; /* read on from here */
		} else {
			/* damaged, or a torn record at the very end */
			int64_t next = resync(sp, at, off, avail, lim);
			sp->rnext = next;
			return n ? n : (size_t)-1;
		}
	}
	sp->rnext = at + (int64_t)off;
	return n;
}

int spool_read(struct spool *sp, struct sig *rows, size_t max, size_t *n)
{
	*n = 0;
	for (;;) {
		struct seg *s = sp->nseg ? &sp->segs[0] : NULL;
		if (!s)
			return 0;
		if ((sp->rfd < 0 || sp->rseq != s->seq) &&
		    open_reader(sp, s) != 0)
			return -1;
		if (!s->sealed)
			seal_newest(sp); /* new appends go to a new file */
		int64_t lim = s->durable;
		uint64_t seq = s->seq;
		if (sp->rnext >= lim) {
			retire_if_done(sp);
			if (seg_by_seq(sp, seq))
				return 0; /* wait: a write or commit is due */
			continue;
		}
		size_t want = (size_t)(lim - sp->rnext);
		size_t chunk = want < READ_CHUNK ? want : READ_CHUNK;
		for (;;) {
			if (read_at(sp, sp->rnext, chunk) != 0)
				return -1;
			int64_t at = sp->rnext;
			size_t got = decode_chunk(sp, at, chunk, lim, rows,
						  max, chunk == want);
			if (got == (size_t)-1)
				break; /* skipped damage: look again */
			if (got > 0 || chunk == want) {
				*n = got;
				return 0;
			}
			/* one record longer than the chunk */
			chunk = want < 2 * chunk ? want : 2 * chunk;
		}
	}
}

void spool_consumed(struct spool *sp)
{
	sp->rpos = sp->rnext;
	retire_if_done(sp);
}

void spool_unread(struct spool *sp)
{
	sp->rnext = sp->rpos;
}

bool spool_empty(const struct spool *sp)
{
	return sp->nseg == 0 && sp->pend.data.len == 0 && !sp->inflight;
}

bool spool_idle(const struct spool *sp)
{
	return sp->pend.data.len == 0 && !sp->inflight;
}

int64_t spool_bytes(const struct spool *sp)
{
	return sp->bytes;
}

void spool_set_max(struct spool *sp, int64_t max_bytes)
{
	sp->max_bytes = max_bytes;
}

/* ---- open and close ---- */

static int mkdirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(path))
		return -1;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One directory entry: a segment to replay (or an empty one to drop). */
static int found_segment(struct spool *sp, const char *name)
{
	char path[4096], *end;
	struct stat st;
	unsigned long long seq;
	if (strncmp(name, "seg-", 4) != 0 || strlen(name) != 26 ||
	    strcmp(name + 20, ".spool") != 0)
		return 0;
	seq = strtoull(name + 4, &end, 16);
	if (end != name + 20)
		return 0;
	seg_path(sp, seq, path, sizeof(path));
	if (stat(path, &st) != 0)
		return 0;
	if (st.st_size == 0)
		return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	struct seg *v = realloc(sp->segs, (sp->nseg + 1) * sizeof(*v));
	if (!v)
		return -1;
	sp->segs = v;
	sp->segs[sp->nseg++] = (struct seg){ seq, st.st_size, st.st_size,
					     true };
	sp->bytes += st.st_size;
	if (seq >= sp->next_seq)
		sp->next_seq = seq + 1;
	return 0;
}

static int scan(struct spool *sp)
{
	DIR *d = opendir(sp->dir);
	struct dirent *e;
	int rv = 0;
	if (!d)
		return -1;
	while (rv == 0 && (e = readdir(d)) != NULL)
		rv = found_segment(sp, e->d_name);
	closedir(d);
	if (sp->nseg > 1)
		qsort(sp->segs, sp->nseg, sizeof(*sp->segs), by_seq);
	return rv;
}

static int start_thread(struct spool *sp)
{
	if (pipe2(sp->pipefd, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	sp->pipe_ev = event_new(sp->base, sp->pipefd[0], EV_READ | EV_PERSIST,
				on_job_done, sp);
	if (!sp->pipe_ev || event_add(sp->pipe_ev, NULL) != 0)
		return -1;
	if (pthread_create(&sp->thread, NULL, writer, sp) != 0)
		return -1;
	sp->thread_up = true;
	return 0;
}

struct spool *spool_open(struct event_base *base, const char *dir,
			 int64_t max_bytes, char *err, size_t errlen)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	if (!sp) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sp->base = base;
	sp->max_bytes = max_bytes;
	sp->wfd = sp->rfd = sp->dirfd = -1;
	sp->pipefd[0] = sp->pipefd[1] = -1;
	sp->next_seq = 1;
	lc_buf_init(&sp->pend.data, (size_t)1 << 31);
	lc_buf_init(&sp->fly.data, (size_t)1 << 31);
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	sp->dir = strdup(dir);
	if (!sp->dir || mkdirs(dir) != 0) {
		snprintf(err, errlen, "cannot create '%s': %s", dir,
			 strerror(errno));
		goto fail;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0 || scan(sp) != 0) {
		snprintf(err, errlen, "cannot read '%s': %s", dir,
			 strerror(errno));
		goto fail;
	}
	if (start_thread(sp) != 0) {
		snprintf(err, errlen, "cannot start the spool writer: %s",
			 strerror(errno));
		goto fail;
	}
	return sp;
fail:
	spool_free(sp);
	return NULL;
}

static void fail_group(struct group *g, int err)
{
	for (size_t i = 0; i < g->n; i++)
		g->cb[i].fn(g->cb[i].arg, err);
	g->n = 0;
}

void spool_free(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->thread_up) {
		pthread_mutex_lock(&sp->mu);
		sp->stop = true;
		pthread_cond_signal(&sp->cv);
		pthread_mutex_unlock(&sp->mu);
		pthread_join(sp->thread, NULL);
		/* the write in flight finished: report it as it went */
		if (sp->inflight && sp->pipe_ev)
			on_job_done(sp->pipefd[0], EV_READ, sp);
	}
	fail_group(&sp->fly, ECANCELED);
	fail_group(&sp->pend, ECANCELED);
	if (sp->pipe_ev)
		event_free(sp->pipe_ev);
	for (int i = 0; i < 2; i++)
		if (sp->pipefd[i] >= 0)
			close(sp->pipefd[i]);
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->cv);
	lc_buf_release(&sp->pend.data);
	lc_buf_release(&sp->fly.data);
	free(sp->pend.cb);
	free(sp->fly.cb);
	free(sp->rbuf);
	free(sp->segs);
	free(sp->dir);
	free(sp);
}
