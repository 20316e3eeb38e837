#ifndef INGEST_EVENTS_H
#define INGEST_EVENTS_H
/*
 * The events signal-ingest publishes: signal.new for every committed
 * signal, alert.raised / alert.resolved (signal_spool_active) while
 * signals go to the spool.
 *
 * Pacing: nng 1.5's pub socket keeps at most 16 messages per subscriber
 * and silently drops the oldest when more come (the service kit does not
 * raise NNG_OPT_SENDBUF), so a batch of a few hundred commits -- a spool
 * replay above all -- published in one go would lose most of its events.
 * At most EVENTS_BURST signal.new events are therefore sent per
 * millisecond (16 000 a second: nngcat as a subscriber, behind an ASan
 * build, keeps up with that, not with twice as many); the rest wait in a
 * queue of at most EVENTS_MAX_QUEUED (past it the oldest is dropped and
 * counted, as nng would have), and replay waits for the queue to empty.
 * Events stay best effort: a subscriber that missed some catches up with
 * ingest.signals.list {after_id}.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ingest;
struct sig;

#define EVENTS_BURST 16
#define EVENTS_MAX_QUEUED 8192

struct events;

/* NULL on ENOMEM. Free with events_free (queued events are sent). */
struct events *events_new(struct ingest *in);
void events_free(struct events *ev);

/* signal.new for row s (borrowed), stored as id; strategy_name may be
 * NULL (a placeholder is used). */
void events_signal(struct events *ev, const struct sig *s, int64_t id,
		   const char *strategy_name);

/* The spool alert: raised (why: the reason) or resolved (replayed: how
 * many signals came back); since_ms is when spooling began (wall). */
void events_spool_alert(struct events *ev, bool raised, const char *why,
			int64_t since_ms, uint64_t replayed,
			int64_t spool_bytes);

/* signal.new events waiting to be sent. */
size_t events_backlog(const struct events *ev);

#endif
