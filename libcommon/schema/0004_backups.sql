-- 0004_backups: one row per backup run. Owner: backup. The files and
-- their manifest on disk are the truth (a restore needs no database);
-- this table is the history the API and dashboard show.

CREATE TABLE backups (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL DEFAULT 'full'
        CONSTRAINT backups_kind_valid
        CHECK (kind IN ('full', 'postgres', 'redis', 'files')),
    triggered_by     text NOT NULL
        CONSTRAINT backups_triggered_by_valid
        CHECK (triggered_by IN ('schedule', 'manual', 'upgrade')),
    status           text NOT NULL DEFAULT 'running'
        CONSTRAINT backups_status_valid
        CHECK (status IN ('running', 'succeeded', 'failed')),
    path             text
        CONSTRAINT backups_path_absolute CHECK (path LIKE '/%'),
    size_bytes       bigint
        CONSTRAINT backups_size_nonneg CHECK (size_bytes >= 0),
    manifest_sha256  text
        CONSTRAINT backups_manifest_sha256_hex
        CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
    manifest         jsonb
        CONSTRAINT backups_manifest_object
        CHECK (jsonb_typeof(manifest) = 'object'),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    verified_at      timestamptz,
    files_deleted_at timestamptz,
    error            text,

    CONSTRAINT backups_running_unfinished
        CHECK ((status = 'running') = (finished_at IS NULL)),
    CONSTRAINT backups_succeeded_complete
        CHECK (status <> 'succeeded'
               OR (path IS NOT NULL AND size_bytes IS NOT NULL
                   AND manifest IS NOT NULL AND manifest_sha256 IS NOT NULL
                   AND verified_at IS NOT NULL)),
    CONSTRAINT backups_failed_has_error
        CHECK (status <> 'failed' OR error IS NOT NULL)
);

-- History list, newest first (keyset on started_at, id); also the
-- retention pass (started_at < now() - 90 days AND files_deleted_at IS
-- NULL), which is a few hundred rows at most.
CREATE INDEX backups_started_at_idx ON backups (started_at, id);

-- At most one run at a time: a second INSERT of a 'running' row fails
-- with unique_violation, which the daemon reports as "backup in progress".
CREATE UNIQUE INDEX backups_one_running_key
    ON backups ((true)) WHERE status = 'running';

COMMENT ON TABLE backups IS
    'Backup runs (owner: backup): what was written where, its manifest, '
    'whether it verified. Kept forever; files_deleted_at marks runs whose '
    'files retention removed.';
COMMENT ON COLUMN backups.kind IS
    'full = PostgreSQL + Redis + strategy files/configs; or one of them '
    '(on demand).';
COMMENT ON COLUMN backups.triggered_by IS
    'schedule (every 24 h), manual (API/CLI), upgrade (before a FreqTrade '
    'upgrade).';
COMMENT ON COLUMN backups.status IS
    'running while writing; succeeded only once written AND verified; '
    'failed with error. A run found ''running'' at daemon start-up (it '
    'crashed, or this row came back with a restored dump) is settled from '
    'its manifest on disk.';
COMMENT ON COLUMN backups.path IS
    'Directory holding this run''s files and manifest.json.';
COMMENT ON COLUMN backups.size_bytes IS 'Total size of the run''s files.';
COMMENT ON COLUMN backups.manifest_sha256 IS
    'SHA-256 (hex) of manifest.json as written.';
COMMENT ON COLUMN backups.manifest IS
    'Copy of manifest.json: {files: [{name, kind, size, sha256}], ...}.';
COMMENT ON COLUMN backups.verified_at IS
    'When the files were last checked against the manifest (and the dump '
    'and archives read back).';
COMMENT ON COLUMN backups.files_deleted_at IS
    'When retention (90 days) deleted the files; the row is kept.';
