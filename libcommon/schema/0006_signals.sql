-- 0006_signals: every webhook message a bot sent, graded, kept forever.
-- Owner: signal-ingest (the only writer, INSERT only). Read by the gateway
-- (list / get / stats) and the notifier.

CREATE TABLE signals (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strategy_id      integer NOT NULL
        REFERENCES strategies (id) ON DELETE RESTRICT,
    dedupe_key       text NOT NULL
        CONSTRAINT signals_dedupe_key_length
        CHECK (char_length(dedupe_key) BETWEEN 1 AND 256),

    -- What FreqTrade said (all of it is also in raw).
    action           text NOT NULL
        CONSTRAINT signals_action_valid
        CHECK (action IN ('entry', 'entry_fill', 'entry_cancel',
                          'exit', 'exit_fill', 'exit_cancel',
                          'status', 'warning', 'exception', 'startup',
                          'strategy_msg', 'protection_trigger',
                          'protection_trigger_global',
                          'whitelist', 'analyzed_df', 'new_candle')),
    pair             text
        CONSTRAINT signals_pair_length
        CHECK (char_length(pair) BETWEEN 1 AND 64),
    direction        text
        CONSTRAINT signals_direction_valid
        CHECK (direction IN ('long', 'short')),
    trade_id         bigint
        CONSTRAINT signals_trade_id_nonneg CHECK (trade_id >= 0),
    enter_tag        text,
    exit_reason      text,
    message          text,
    open_rate        numeric,
    close_rate       numeric,
    limit_rate       numeric,
    current_rate     numeric,
    amount           numeric,
    stake_amount     numeric,
    stake_currency   text,
    profit_ratio     numeric,
    profit_abs       numeric,
    open_date        timestamptz,
    close_date       timestamptz,
    event_at         timestamptz,
    received_at      timestamptz NOT NULL DEFAULT now(),

    -- Our grading, with the strategy's thresholds at receipt.
    strength         numeric NOT NULL DEFAULT 0
        CONSTRAINT signals_strength_range
        CHECK (strength >= 0 AND strength <= 1),
    level            text NOT NULL
        CONSTRAINT signals_level_valid
        CHECK (level IN ('strong', 'medium', 'weak', 'ignore')),
    priority         text
        CONSTRAINT signals_priority_valid
        CHECK (priority IN ('P0', 'P1', 'P2')),
    strategy_version text,
    indicators       jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT signals_indicators_object
        CHECK (jsonb_typeof(indicators) = 'object'),
    raw              jsonb NOT NULL
        CONSTRAINT signals_raw_object CHECK (jsonb_typeof(raw) = 'object'),

    CONSTRAINT signals_level_priority
        CHECK ((level = 'strong' AND priority = 'P0')
               OR (level = 'medium' AND priority = 'P1')
               OR (level = 'weak' AND priority = 'P2')
               OR (level = 'ignore' AND priority IS NULL))
);

-- Idempotent ingest: INSERT ... ON CONFLICT (strategy_id, dedupe_key)
-- DO NOTHING stores a retried webhook (or a spool replay) once.
CREATE UNIQUE INDEX signals_strategy_dedupe_key
    ON signals (strategy_id, dedupe_key);

-- List for one strategy, newest first, optional time range, keyset paging:
--   WHERE strategy_id = $1 [AND received_at >= $2 AND received_at < $3]
--     [AND (received_at, id) < ($4, $5)]
--   ORDER BY received_at DESC, id DESC LIMIT $n
-- (a backward scan of this index; pair/action/level are filtered on the
-- way). With level included, per-strategy stats
--   SELECT level, count(*) ... WHERE strategy_id = $1 [AND received_at ...]
-- are an index-only scan. Also the index of the foreign key.
CREATE INDEX signals_strategy_received_idx
    ON signals (strategy_id, received_at, id) INCLUDE (level);

-- The same list without a strategy filter (dashboard "latest signals"),
-- and stats over all strategies for a time range
--   SELECT strategy_id, level, count(*) ... WHERE received_at >= $1
--   GROUP BY 1, 2
-- as an index-only scan.
CREATE INDEX signals_received_idx
    ON signals (received_at, id) INCLUDE (strategy_id, level);

-- List filtered by pair (across strategies), newest first, keyset paging.
CREATE INDEX signals_pair_received_idx
    ON signals (pair, received_at, id) WHERE pair IS NOT NULL;

-- List filtered by level (e.g. only strong signals), newest first: without
-- it, finding 50 rare strong signals would walk the whole time index.
CREATE INDEX signals_level_received_idx
    ON signals (level, received_at, id);

-- Kept forever, append-only.
CREATE TRIGGER signals_append_only
    BEFORE UPDATE OR DELETE ON signals
    FOR EACH ROW EXECUTE FUNCTION btcw_forbid_change();
CREATE TRIGGER signals_no_truncate
    BEFORE TRUNCATE ON signals
    FOR EACH STATEMENT EXECUTE FUNCTION btcw_forbid_change();

COMMENT ON TABLE signals IS
    'Every webhook message from the bots, graded (owner: signal-ingest). '
    'Append-only and kept forever: UPDATE, DELETE and TRUNCATE are refused.';
COMMENT ON COLUMN signals.dedupe_key IS
    'Chosen by signal-ingest so that a retried webhook gets the same key '
    '(e.g. hex SHA-256 of the canonical body); unique per strategy.';
COMMENT ON COLUMN signals.action IS
    'FreqTrade message type (RPCMessageType value, the "type" field).';
COMMENT ON COLUMN signals.pair IS 'Trading pair, e.g. BTC/USDT; NULL for '
    'messages without one (status, startup, ...).';
COMMENT ON COLUMN signals.direction IS
    'long or short (FreqTrade sends "Long"/"Short"); NULL if not a trade.';
COMMENT ON COLUMN signals.trade_id IS 'FreqTrade trade id within that bot.';
COMMENT ON COLUMN signals.message IS
    'Text of status/warning/exception messages, msg of strategy_msg (when '
    'not JSON), reason of protection triggers and cancels.';
COMMENT ON COLUMN signals.limit_rate IS 'FreqTrade "limit" (order price).';
COMMENT ON COLUMN signals.stake_amount IS
    'Stake in stake_currency. Money and rates are numeric: they arrive as '
    'decimal strings and are kept exactly as sent.';
COMMENT ON COLUMN signals.profit_abs IS
    'FreqTrade "profit_amount", in stake currency.';
COMMENT ON COLUMN signals.event_at IS
    'When it happened per the message (close_date for exits, open_date for '
    'entries, lock_time for protections); NULL if the message has no time.';
COMMENT ON COLUMN signals.received_at IS
    'When signal-ingest acknowledged the webhook (kept through the spool '
    'when PostgreSQL was down, so it can be earlier than the insert). The '
    'API orders and pages by (received_at, id).';
COMMENT ON COLUMN signals.strength IS
    'Raw signal_strength reported by the strategy, 0..1 (0 when absent).';
COMMENT ON COLUMN signals.level IS
    'strong (>= threshold_strong), medium, weak, or ignore (< threshold_weak).';
COMMENT ON COLUMN signals.priority IS
    'P0/P1/P2 for strong/medium/weak; NULL for ignore.';
COMMENT ON COLUMN signals.strategy_version IS
    'strategies.version when the signal was received.';
COMMENT ON COLUMN signals.indicators IS
    'JSON object of indicators the strategy reported (signal_strength too).';
COMMENT ON COLUMN signals.raw IS 'The webhook body as received (JSON object).';
