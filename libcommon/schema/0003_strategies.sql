-- 0003_strategies: the strategy registry. Owner: ft-supervisor (the only
-- writer); signal-ingest reads thresholds and the webhook token, the
-- gateway reads routes/credentials through the supervisor.

CREATE TABLE strategies (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,

    -- What the user configures (API field names).
    name                text NOT NULL
        CONSTRAINT strategies_name_format
        CHECK (char_length(name) BETWEEN 1 AND 64
               AND name !~ '^[[:space:]]|[[:space:]]$'
               AND name !~ '[[:cntrl:]]'),
    strategy_class      text NOT NULL
        CONSTRAINT strategies_strategy_class_format
        CHECK (strategy_class ~ '^[A-Za-z_][A-Za-z0-9_]{0,99}$'),
    exchange            text NOT NULL
        CONSTRAINT strategies_exchange_format
        CHECK (exchange ~ '^[a-z][a-z0-9_]{0,31}$'),
    timeframe           text NOT NULL
        CONSTRAINT strategies_timeframe_format
        CHECK (timeframe ~ '^[1-9][0-9]{0,2}[smhdwM]$'),
    pair_whitelist      jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT strategies_pair_whitelist_array
        CHECK (jsonb_typeof(pair_whitelist) = 'array'),
    proxy_id            text
        CONSTRAINT strategies_proxy_id_format
        CHECK (proxy_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    threshold_strong    numeric NOT NULL DEFAULT 0.8,
    threshold_medium    numeric NOT NULL DEFAULT 0.6,
    threshold_weak      numeric NOT NULL DEFAULT 0.4,
    version             text NOT NULL DEFAULT 'v1.0'
        CONSTRAINT strategies_version_format
        CHECK (char_length(version) BETWEEN 1 AND 64),
    auto_start          boolean NOT NULL DEFAULT false,
    extra_config        jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT strategies_extra_config_object
        CHECK (jsonb_typeof(extra_config) = 'object'),

    -- Lifecycle, as the supervisor sees it.
    status              text NOT NULL DEFAULT 'created'
        CONSTRAINT strategies_status_valid
        CHECK (status IN ('created', 'starting', 'running', 'stopping',
                          'stopped', 'failed', 'deleted')),
    desired_state       text NOT NULL DEFAULT 'stopped'
        CONSTRAINT strategies_desired_state_valid
        CHECK (desired_state IN ('running', 'stopped')),
    port                integer
        CONSTRAINT strategies_port_range CHECK (port BETWEEN 1024 AND 65535),

    -- Secrets the supervisor writes into the bot's config. Stored in the
    -- clear on purpose (see README): the supervisor must be able to write
    -- the same values again at any time. Never logged, never returned by
    -- the API. The defaults are strong random values (gen_random_uuid is
    -- backed by pg_strong_random), so a row never lacks them.
    webhook_token       text NOT NULL
        DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text,
                        '-', '')
        CONSTRAINT strategies_webhook_token_format
        CHECK (webhook_token ~ '^[A-Za-z0-9_-]{32,128}$'),
    api_username        text NOT NULL DEFAULT 'btcw'
        CONSTRAINT strategies_api_username_format
        CHECK (api_username ~ '^[A-Za-z0-9_.-]{1,64}$'),
    api_password        text NOT NULL
        DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text,
                        '-', '')
        CONSTRAINT strategies_api_password_format
        CHECK (char_length(api_password) BETWEEN 16 AND 128),

    -- The live process, for adoption after a supervisor restart: the pid
    -- is trusted only if /proc/<pid>/stat still shows the same start time
    -- on the same boot.
    pid                 integer
        CONSTRAINT strategies_pid_positive CHECK (pid > 0),
    pid_starttime       bigint,
    pid_boot_id         uuid,
    started_at          timestamptz,
    stopped_at          timestamptz,
    freqtrade_version   text,

    -- Crash handling.
    restart_count       integer NOT NULL DEFAULT 0
        CONSTRAINT strategies_restart_count_nonneg
        CHECK (restart_count >= 0),
    recent_restarts     integer NOT NULL DEFAULT 0
        CONSTRAINT strategies_recent_restarts_nonneg
        CHECK (recent_restarts >= 0),
    recent_restarts_since timestamptz,
    last_failure_reason text,
    last_failure_at     timestamptz,

    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,

    CONSTRAINT strategies_thresholds_ordered
        CHECK (0 <= threshold_weak
               AND threshold_weak <= threshold_medium
               AND threshold_medium <= threshold_strong
               AND threshold_strong <= 1),
    CONSTRAINT strategies_process_identity
        CHECK ((pid IS NULL) = (pid_starttime IS NULL)
               AND (pid IS NULL) = (pid_boot_id IS NULL)),
    CONSTRAINT strategies_deleted_consistent
        CHECK ((status = 'deleted') = (deleted_at IS NOT NULL)),
    CONSTRAINT strategies_deleted_released
        CHECK (deleted_at IS NULL
               OR (port IS NULL AND pid IS NULL
                   AND desired_state = 'stopped'))
);

-- Names are unique among strategies that are not deleted, ignoring case;
-- a deleted strategy's name can be used again. Also serves lookup by name.
CREATE UNIQUE INDEX strategies_name_live_key
    ON strategies (lower(name)) WHERE deleted_at IS NULL;

-- Never two strategies on one port. A port is set only while the
-- strategy holds it (deleted rows hold none: strategies_deleted_released).
CREATE UNIQUE INDEX strategies_port_key
    ON strategies (port) WHERE port IS NOT NULL;

-- No other index: the registry holds at most a few thousand rows, read
-- whole by reconcile and the list API, else by primary key.

CREATE TRIGGER strategies_touch_updated_at
    BEFORE UPDATE ON strategies
    FOR EACH ROW EXECUTE FUNCTION btcw_touch_updated_at();

COMMENT ON TABLE strategies IS
    'Strategy registry (owner: ft-supervisor). Delete is soft: status '
    '''deleted'' and deleted_at set; rows stay because signals reference '
    'them forever.';
COMMENT ON COLUMN strategies.name IS
    'Display name, unique among non-deleted strategies (case-insensitive).';
COMMENT ON COLUMN strategies.strategy_class IS
    'FreqTrade strategy class name (Python identifier): --strategy.';
COMMENT ON COLUMN strategies.exchange IS
    'ccxt exchange id as FreqTrade expects it (binance, okx, ...).';
COMMENT ON COLUMN strategies.timeframe IS
    'FreqTrade timeframe: 1m, 5m, 15m, 1h, 4h, 1d, 1w, 1M ...';
COMMENT ON COLUMN strategies.pair_whitelist IS
    'JSON array of pairs ("BTC/USDT", ...) for the StaticPairList.';
COMMENT ON COLUMN strategies.proxy_id IS
    'Id of a proxy in proxy.yml (no foreign key: proxies live in YAML); '
    'NULL = direct connection.';
COMMENT ON COLUMN strategies.threshold_strong IS
    'Signal strength >= this is strong/P0. 0 <= weak <= medium <= strong <= 1.';
COMMENT ON COLUMN strategies.threshold_medium IS
    'Signal strength >= this (and < strong) is medium/P1.';
COMMENT ON COLUMN strategies.threshold_weak IS
    'Signal strength >= this (and < medium) is weak/P2; below it: ignore.';
COMMENT ON COLUMN strategies.version IS
    'The user''s version label of the strategy (free text, e.g. v1.0).';
COMMENT ON COLUMN strategies.auto_start IS
    'Start this strategy when the supervisor starts (desired_state running).';
COMMENT ON COLUMN strategies.extra_config IS
    'Extra FreqTrade settings (JSON object) merged into the generated config.';
COMMENT ON COLUMN strategies.status IS
    'Observed state: created, starting, running, stopping, stopped, failed, '
    'deleted.';
COMMENT ON COLUMN strategies.desired_state IS
    'What the user asked for (start -> running, stop -> stopped). Reconcile '
    'starts rows that are desired running but not alive; a crash loop sets '
    'it back to stopped.';
COMMENT ON COLUMN strategies.port IS
    'API port while the strategy holds one (starting..stopping), else NULL.';
COMMENT ON COLUMN strategies.webhook_token IS
    'Secret carried in this strategy''s webhook URL '
    '(/api/v1/signals/webhook/{id}); checked in constant time by '
    'signal-ingest. SECRET.';
COMMENT ON COLUMN strategies.api_username IS
    'api_server.username written into the bot''s config.';
COMMENT ON COLUMN strategies.api_password IS
    'api_server.password of the bot: the gateway and monitor authenticate '
    'to the bot with it (HTTP Basic). SECRET.';
COMMENT ON COLUMN strategies.pid IS
    'Process id (= process group id: own session) of the running bot.';
COMMENT ON COLUMN strategies.pid_starttime IS
    'Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat when '
    'spawned: a live pid with another start time is a different process.';
COMMENT ON COLUMN strategies.pid_boot_id IS
    '/proc/sys/kernel/random/boot_id when spawned: after a reboot no pid is '
    'adopted.';
COMMENT ON COLUMN strategies.freqtrade_version IS
    'GET /api/v1/version of the running bot, as last seen.';
COMMENT ON COLUMN strategies.restart_count IS
    'Automatic restarts after crashes since the last manual start.';
COMMENT ON COLUMN strategies.recent_restarts IS
    'Restarts in the crash-loop window that began at recent_restarts_since; '
    'N in the window stops retrying and raises a P0 alert.';
COMMENT ON COLUMN strategies.last_failure_reason IS
    'Why it last failed: exit code/signal, ping timeout, spawn error ...';
COMMENT ON COLUMN strategies.deleted_at IS
    'Soft delete time; NULL while the strategy exists.';
