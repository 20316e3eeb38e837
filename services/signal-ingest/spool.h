#ifndef INGEST_SPOOL_H
#define INGEST_SPOOL_H
/*
 * The local spool: where acknowledged signals wait, fsynced, while
 * PostgreSQL cannot take them, and from where they are replayed in the
 * order they were written.
 *
 * Files: <dir>/seg-<16 hex digits>.spool, each a sequence of records
 * (spoolrec.h), appended to, never rewritten, deleted once every record
 * in it is committed. A new segment is started when the current one
 * passes SPOOL_SEG_MAX or when replay reaches it (so the replayer never
 * reads a file that is still growing past what it has read).
 *
 * Durability: appends are grouped. spool_append() encodes the record into
 * a pending buffer and returns; a writer thread writes the buffer and
 * fdatasync()s it (and fsyncs the directory after creating a segment);
 * only then is each append's callback called, on the loop, so the
 * webhook is acknowledged once its record is on disk. While one write is
 * in flight the next group collects. Why a thread: fdatasync blocks for
 * as long as the disk takes (milliseconds), and the loop must not; the
 * thread touches nothing but the job handed to it, and reports back
 * through a pipe the loop watches.
 *
 * A failed write (ENOSPC, EIO) is truncated back and its appends fail
 * (503 to the caller: never acknowledged, never lost). At most
 * max_bytes of records (on disk and pending) are held; past it appends
 * are refused.
 *
 * Replay: spool_read() hands out the next records from the oldest
 * segment, up to what is durable; spool_consumed() says they are
 * committed (a segment whose every record is committed is deleted);
 * spool_unread() says they were not (they come again). After a crash the
 * segments found are replayed from their start: records committed
 * before the crash are replayed again and land on their dedupe key.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sig;

#define SPOOL_SEG_MAX (64u << 20)

struct spool;

/* Called on the loop when an append is on disk (err 0) or failed
 * (errno value). */
typedef void (*spool_done_fn)(void *arg, int err);

/*
 * Open (creating it, 0700) the spool directory dir (copied) and find
 * the segments left there. Returns the spool (free with spool_free) or
 * NULL with the reason in err.
 */
struct spool *spool_open(struct event_base *base, const char *dir,
			 int64_t max_bytes, char *err, size_t errlen);

/* Wait for the write in flight, stop the thread, close everything.
 * Appends not yet written get ECANCELED. NULL does nothing. */
void spool_free(struct spool *sp);

void spool_set_max(struct spool *sp, int64_t max_bytes);

/* Queue s (borrowed, encoded now) for the next write; fn(arg, err) is
 * called once, later, on the loop. 0, or -1 when the spool is full or
 * the record cannot be encoded (fn will not be called). */
int spool_append(struct spool *sp, const struct sig *s, spool_done_fn fn,
		 void *arg) __attribute__((warn_unused_result));

/* Nothing on disk to replay and nothing pending or being written. */
bool spool_empty(const struct spool *sp);
/* No write pending or in flight. */
bool spool_idle(const struct spool *sp);
/* Bytes held: records on disk plus pending. */
int64_t spool_bytes(const struct spool *sp);

/*
 * Up to max records from the oldest segment into rows[0..*n) (each
 * initialised, empty; the caller owns and releases them). *n == 0 means
 * nothing is durable to read right now (perhaps a write is in flight).
 * 0, or -1 on a read error (logged).
 */
int spool_read(struct spool *sp, struct sig *rows, size_t max, size_t *n)
	__attribute__((warn_unused_result));
/* The records of the last spool_read are committed. */
void spool_consumed(struct spool *sp);
/* They are not: spool_read hands them out again. */
void spool_unread(struct spool *sp);

#endif
