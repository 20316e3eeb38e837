-- 0007_alerts: every alert.raised, as the notifier and dashboard show it.
-- Owner: notifier (it subscribes to alert.raised and is the only writer;
-- the raising daemon never needs the database for it, so a PostgreSQL
-- outage can itself be alerted). The gateway reads, and writes only the
-- acknowledgement.

CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source           text NOT NULL
        CONSTRAINT alerts_source_format
        CHECK (source ~ '^[a-z][a-z0-9_-]{0,31}$'),
    kind             text NOT NULL
        CONSTRAINT alerts_kind_format
        CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    severity         text NOT NULL
        CONSTRAINT alerts_severity_valid
        CHECK (severity IN ('critical', 'warning', 'info')),
    priority         text NOT NULL GENERATED ALWAYS AS (
        CASE severity WHEN 'critical' THEN 'P0'
                      WHEN 'warning' THEN 'P1'
                      ELSE 'P2' END) STORED,
    fingerprint      text NOT NULL
        CONSTRAINT alerts_fingerprint_length
        CHECK (char_length(fingerprint) BETWEEN 1 AND 256),
    strategy_id      integer REFERENCES strategies (id),
    message          text NOT NULL
        CONSTRAINT alerts_message_length
        CHECK (char_length(message) BETWEEN 1 AND 4096),
    details          jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT alerts_details_object
        CHECK (jsonb_typeof(details) = 'object'),
    raised_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    occurrences      integer NOT NULL DEFAULT 1
        CONSTRAINT alerts_occurrences_positive CHECK (occurrences >= 1),
    resolved_at      timestamptz,
    acknowledged_at  timestamptz,
    acknowledged_by  integer REFERENCES users (id) ON DELETE SET NULL,

    CONSTRAINT alerts_resolved_after_raised
        CHECK (resolved_at IS NULL OR resolved_at >= raised_at)
);

-- One open alert per condition: a condition that is raised again while
-- open (capacity high every 300 s) bumps occurrences/last_seen_at:
--   INSERT ... ON CONFLICT (fingerprint) WHERE resolved_at IS NULL
--   DO UPDATE SET occurrences = alerts.occurrences + 1, last_seen_at = ...
-- Also finds the open alert to resolve when the condition clears.
CREATE UNIQUE INDEX alerts_open_fingerprint_key
    ON alerts (fingerprint) WHERE resolved_at IS NULL;

-- History, newest first, keyset paging on (raised_at, id); filters on
-- severity/source are applied on the way (alerts are few).
CREATE INDEX alerts_raised_at_idx ON alerts (raised_at, id);

-- Alerts of one strategy (strategy detail page); also the foreign key's.
CREATE INDEX alerts_strategy_idx
    ON alerts (strategy_id, raised_at) WHERE strategy_id IS NOT NULL;

COMMENT ON TABLE alerts IS
    'Alerts raised by any daemon (alert.raised), recorded by the notifier. '
    'Kept forever.';
COMMENT ON COLUMN alerts.source IS
    'Daemon that raised it: ft-supervisor, monitor, backup, gateway, ...';
COMMENT ON COLUMN alerts.kind IS
    'Machine-readable condition, e.g. strategy.crash_loop, capacity.high, '
    'gateway.health_low, proxy.unhealthy, backup.failed.';
COMMENT ON COLUMN alerts.severity IS
    'critical, warning or info (the dashboard''s words).';
COMMENT ON COLUMN alerts.priority IS
    'Notification priority derived from severity: critical P0, warning P1, '
    'info P2.';
COMMENT ON COLUMN alerts.fingerprint IS
    'Identity of the condition (e.g. kind + ":" + subject such as '
    '"strategy.crash_loop:12"): at most one open alert per fingerprint.';
COMMENT ON COLUMN alerts.details IS
    'JSON object with the numbers behind the alert (utilization, score, ...).';
COMMENT ON COLUMN alerts.last_seen_at IS
    'Last time the same open condition was raised again.';
COMMENT ON COLUMN alerts.occurrences IS
    'How many times it was raised while open (1 = once).';
COMMENT ON COLUMN alerts.resolved_at IS
    'When the condition cleared (or a user closed it); NULL while open.';
