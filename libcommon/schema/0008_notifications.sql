-- 0008_notifications: the notifier's durable outbox, which is also the
-- notification history (rows are never deleted), and the digests that
-- report notifications held back by rate limits or time slots.
-- Owner: notifier (the only writer). The gateway reads the history.

CREATE TABLE notification_digests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel       text NOT NULL
        CONSTRAINT notification_digests_channel_format
        CHECK (channel ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    item_count    integer NOT NULL
        CONSTRAINT notification_digests_item_count_nonneg
        CHECK (item_count >= 0),
    summary       jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT notification_digests_summary_object
        CHECK (jsonb_typeof(summary) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT notification_digests_period_ordered
        CHECK (period_start <= period_end)
);

CREATE INDEX notification_digests_created_at_idx
    ON notification_digests (created_at, id);

COMMENT ON TABLE notification_digests IS
    'A summary of the notifications held back on one channel over a period '
    '(rate limit, rest hours, P2 batching), sent as one notification of '
    'kind digest (owner: notifier). Kept forever.';
COMMENT ON COLUMN notification_digests.item_count IS
    'How many held-back notifications it reports (they point to it through '
    'notifications.reported_in_digest_id).';
COMMENT ON COLUMN notification_digests.summary IS
    'Counts by strategy/pair/level and the first items, as rendered.';

CREATE TABLE notifications (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                   text NOT NULL
        CONSTRAINT notifications_kind_valid
        CHECK (kind IN ('signal', 'alert', 'digest', 'test')),
    signal_id              bigint REFERENCES signals (id),
    alert_id               bigint REFERENCES alerts (id),
    digest_id              bigint REFERENCES notification_digests (id),
    channel                text NOT NULL
        CONSTRAINT notifications_channel_format
        CHECK (channel ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    priority               text NOT NULL
        CONSTRAINT notifications_priority_valid
        CHECK (priority IN ('P0', 'P1', 'P2')),
    status                 text NOT NULL DEFAULT 'pending'
        CONSTRAINT notifications_status_valid
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead',
                          'suppressed')),
    suppressed_reason      text
        CONSTRAINT notifications_suppressed_reason_valid
        CHECK (suppressed_reason IN ('rate_limit_pair', 'rate_limit_global',
                                     'time_slot', 'batch')),
    reported_in_digest_id  bigint REFERENCES notification_digests (id),
    attempts               integer NOT NULL DEFAULT 0
        CONSTRAINT notifications_attempts_nonneg CHECK (attempts >= 0),
    next_attempt_at        timestamptz NOT NULL DEFAULT now(),
    last_attempt_at        timestamptz,
    last_error             text
        CONSTRAINT notifications_last_error_bounded
        CHECK (char_length(last_error) <= 4096),
    payload                jsonb NOT NULL
        CONSTRAINT notifications_payload_object
        CHECK (jsonb_typeof(payload) = 'object'),
    created_at             timestamptz NOT NULL DEFAULT now(),
    sent_at                timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT notifications_source_matches_kind
        CHECK (CASE kind
               WHEN 'signal' THEN signal_id IS NOT NULL
                                  AND alert_id IS NULL AND digest_id IS NULL
               WHEN 'alert'  THEN alert_id IS NOT NULL
                                  AND signal_id IS NULL AND digest_id IS NULL
               WHEN 'digest' THEN digest_id IS NOT NULL
                                  AND signal_id IS NULL AND alert_id IS NULL
               ELSE signal_id IS NULL AND alert_id IS NULL
                    AND digest_id IS NULL
               END),
    CONSTRAINT notifications_suppressed_has_reason
        CHECK ((status = 'suppressed') = (suppressed_reason IS NOT NULL)),
    CONSTRAINT notifications_digest_only_for_suppressed
        CHECK (reported_in_digest_id IS NULL OR status = 'suppressed'),
    CONSTRAINT notifications_sent_has_time
        CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

-- The claim of due work (one transaction, then deliver outside it):
--   SELECT id ... FROM notifications
--   WHERE status IN ('pending', 'failed', 'sending')
--     AND next_attempt_at <= now()
--   ORDER BY next_attempt_at, id LIMIT $n FOR UPDATE SKIP LOCKED;
--   UPDATE ... SET status = 'sending', attempts = attempts + 1,
--     last_attempt_at = now(), next_attempt_at = now() + <lease>
-- A 'sending' row whose lease (next_attempt_at) passed belongs to a
-- notifier that died mid-delivery and is claimed again. Partial, so it
-- holds only the live rows and stays small however long the history.
CREATE INDEX notifications_due_idx
    ON notifications (next_attempt_at, id)
    WHERE status IN ('pending', 'failed', 'sending');

-- Held-back rows not yet reported, per channel, for the next digest.
CREATE INDEX notifications_undigested_idx
    ON notifications (channel, id)
    WHERE status = 'suppressed' AND reported_in_digest_id IS NULL;

-- Idempotent enqueue: a signal or alert is queued once per channel, so a
-- duplicated signal.new / alert.raised or a catch-up scan after a restart
-- (signals without notifications) cannot notify twice. These also index
-- the foreign keys.
CREATE UNIQUE INDEX notifications_signal_channel_key
    ON notifications (signal_id, channel) WHERE signal_id IS NOT NULL;
CREATE UNIQUE INDEX notifications_alert_channel_key
    ON notifications (alert_id, channel) WHERE alert_id IS NOT NULL;
CREATE UNIQUE INDEX notifications_digest_channel_key
    ON notifications (digest_id, channel) WHERE digest_id IS NOT NULL;

-- History, newest first, keyset paging on (created_at, id); channel and
-- status filters are applied on the way.
CREATE INDEX notifications_created_at_idx
    ON notifications (created_at, id);

-- Deliveries that gave up, for the dashboard and ops.
CREATE INDEX notifications_dead_idx
    ON notifications (created_at, id) WHERE status = 'dead';

CREATE TRIGGER notifications_touch_updated_at
    BEFORE UPDATE ON notifications
    FOR EACH ROW EXECUTE FUNCTION btcw_touch_updated_at();

-- History is kept forever: rows change status but are never removed.
CREATE TRIGGER notifications_no_delete
    BEFORE DELETE ON notifications
    FOR EACH ROW EXECUTE FUNCTION btcw_forbid_change();
CREATE TRIGGER notifications_no_truncate
    BEFORE TRUNCATE ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION btcw_forbid_change();

COMMENT ON TABLE notifications IS
    'Durable outbox of the notifier, one row per (signal|alert|digest|test) '
    'x channel; rows are never deleted, so it is also the notification '
    'history (owner: notifier).';
COMMENT ON COLUMN notifications.kind IS
    'What is delivered: signal (signal_id), alert (alert_id), digest '
    '(digest_id) or test (a test send, no source).';
COMMENT ON COLUMN notifications.channel IS
    'Channel name from notifications.yml (sms, feishu, wechat, email, ...). '
    'Never the channel URL: it holds secrets.';
COMMENT ON COLUMN notifications.priority IS
    'P0 at once, P1 within 60 s, P2 batched (from the signal or alert).';
COMMENT ON COLUMN notifications.status IS
    'pending: waiting for next_attempt_at; sending: claimed, lease until '
    'next_attempt_at; sent; failed: last attempt failed, retry at '
    'next_attempt_at; dead: gave up (attempts exhausted or permanent '
    'error); suppressed: held back by policy, see suppressed_reason.';
COMMENT ON COLUMN notifications.suppressed_reason IS
    'rate_limit_pair (one per pair per 300 s), rate_limit_global (5 a '
    'minute), time_slot (priority/channel off in these hours), batch (P2 '
    'folded into a batch). Held rows are counted in the next digest.';
COMMENT ON COLUMN notifications.reported_in_digest_id IS
    'For a suppressed row: the digest that reported it (NULL: not yet).';
COMMENT ON COLUMN notifications.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN notifications.next_attempt_at IS
    'Due time: first send (now, or later for P1/P2 delays), retry time with '
    'backoff, or the lease end while sending.';
COMMENT ON COLUMN notifications.last_error IS
    'Last delivery error (HTTP status/body excerpt, SMTP reply); no secrets.';
COMMENT ON COLUMN notifications.payload IS
    'The rendered message as sent ({title, text, format, ...}).';
