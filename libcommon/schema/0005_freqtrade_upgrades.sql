-- 0005_freqtrade_upgrades: manual FreqTrade upgrades (stop all, back up,
-- switch version, restart all, roll back if any fails). Owner:
-- ft-supervisor. The version in use is the to_version/to_command of the
-- newest 'succeeded' row, or system.yml's command when there is none.

CREATE TABLE freqtrade_upgrades (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_version          text,
    to_version            text NOT NULL
        CONSTRAINT freqtrade_upgrades_to_version_format
        CHECK (char_length(to_version) BETWEEN 1 AND 64),
    from_command          text,
    to_command            text NOT NULL
        CONSTRAINT freqtrade_upgrades_to_command_nonempty
        CHECK (char_length(to_command) BETWEEN 1 AND 4096),
    status                text NOT NULL DEFAULT 'running'
        CONSTRAINT freqtrade_upgrades_status_valid
        CHECK (status IN ('running', 'succeeded', 'failed', 'rolled_back',
                          'rollback_failed')),
    backup_id             bigint REFERENCES backups (id),
    requested_by          integer REFERENCES users (id) ON DELETE SET NULL,
    strategies_stopped    integer
        CONSTRAINT freqtrade_upgrades_stopped_nonneg
        CHECK (strategies_stopped >= 0),
    strategies_restarted  integer
        CONSTRAINT freqtrade_upgrades_restarted_nonneg
        CHECK (strategies_restarted >= 0),
    failed_strategies     jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT freqtrade_upgrades_failed_strategies_array
        CHECK (jsonb_typeof(failed_strategies) = 'array'),
    output                text
        CONSTRAINT freqtrade_upgrades_output_bounded
        CHECK (char_length(output) <= 65536),
    error                 text,
    started_at            timestamptz NOT NULL DEFAULT now(),
    finished_at           timestamptz,

    CONSTRAINT freqtrade_upgrades_running_unfinished
        CHECK ((status = 'running') = (finished_at IS NULL))
);

-- History newest first; "current version" = newest succeeded row. The
-- table gets a row per manual upgrade, so this one index is plenty.
CREATE INDEX freqtrade_upgrades_started_at_idx
    ON freqtrade_upgrades (started_at, id);

-- One upgrade at a time.
CREATE UNIQUE INDEX freqtrade_upgrades_one_running_key
    ON freqtrade_upgrades ((true)) WHERE status = 'running';

COMMENT ON TABLE freqtrade_upgrades IS
    'Manual FreqTrade upgrades and their outcome (owner: ft-supervisor). '
    'Kept forever.';
COMMENT ON COLUMN freqtrade_upgrades.from_command IS
    'FreqTrade command line in use before (as in system.yml).';
COMMENT ON COLUMN freqtrade_upgrades.to_command IS
    'FreqTrade command line switched to, e.g. /opt/freqtrade/2025.8/bin/'
    'freqtrade.';
COMMENT ON COLUMN freqtrade_upgrades.status IS
    'running; succeeded (all strategies came back up); failed (before the '
    'switch, nothing changed); rolled_back (switched, a strategy did not '
    'come up, previous version restored); rollback_failed (needs a human).';
COMMENT ON COLUMN freqtrade_upgrades.backup_id IS
    'The backup taken before switching.';
COMMENT ON COLUMN freqtrade_upgrades.failed_strategies IS
    'JSON array of {id, reason} for strategies that did not come up.';
COMMENT ON COLUMN freqtrade_upgrades.output IS
    'Last 64 KiB of the upgrade/probe commands'' output.';
