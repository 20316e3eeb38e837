-- 0002_users: dashboard/API accounts, token revocation, login throttling.
-- Owner: gateway (auth). No account is created here: the first admin is
-- made by the gateway's bootstrap command, so no secret is in a migration.

CREATE TABLE users (
    id                    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username              text NOT NULL
        CONSTRAINT users_username_format
        CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$'),
    password_hash         text NOT NULL
        CONSTRAINT users_password_hash_argon2id
        CHECK (password_hash LIKE '$argon2id$%'
               AND char_length(password_hash) <= 512),
    role                  text NOT NULL DEFAULT 'viewer'
        CONSTRAINT users_role_valid
        CHECK (role IN ('admin', 'trader', 'viewer')),
    disabled              boolean NOT NULL DEFAULT false,
    failed_logins         integer NOT NULL DEFAULT 0
        CONSTRAINT users_failed_logins_nonneg CHECK (failed_logins >= 0),
    last_failed_login_at  timestamptz,
    locked_until          timestamptz,
    token_version         integer NOT NULL DEFAULT 0
        CONSTRAINT users_token_version_nonneg CHECK (token_version >= 0),
    password_changed_at   timestamptz NOT NULL DEFAULT now(),
    last_login_at         timestamptz,
    last_login_addr       inet,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Login looks users up by lower(username); this index serves that lookup
-- and makes 'Alice' and 'alice' the same account.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TRIGGER users_touch_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION btcw_touch_updated_at();

COMMENT ON TABLE users IS
    'Accounts of the dashboard and the public API (owner: gateway). '
    'Usernames are unique case-insensitively.';
COMMENT ON COLUMN users.username IS
    'ASCII login name as typed at creation; compared with lower().';
COMMENT ON COLUMN users.password_hash IS
    'PHC string from argon2id ($argon2id$v=19$m=...,t=...,p=...$salt$hash); '
    'never the password, never logged.';
COMMENT ON COLUMN users.role IS
    'admin: everything incl. users and upgrades; trader: strategies and '
    'notifications; viewer: read only.';
COMMENT ON COLUMN users.disabled IS
    'A disabled account cannot log in and its tokens are refused.';
COMMENT ON COLUMN users.failed_logins IS
    'Consecutive failed logins; reset to 0 by a successful login. Reaching '
    'the limit (5) sets locked_until.';
COMMENT ON COLUMN users.locked_until IS
    'Logins are refused until this time (lockout: 30 min after 5 failures).';
COMMENT ON COLUMN users.token_version IS
    'Copied into every JWT issued (claim "ver"); a token whose ver differs '
    'is refused. Incremented on password change, role change, disable and '
    '"log out everywhere".';

-- One row per logged-out (revoked) JWT, until the token would have expired
-- anyway; then the gateway deletes it.
CREATE TABLE revoked_tokens (
    jti         text PRIMARY KEY
        CONSTRAINT revoked_tokens_jti_format
        CHECK (char_length(jti) BETWEEN 16 AND 128),
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);

-- Purge of rows whose token has expired: DELETE ... WHERE expires_at < now().
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);
-- The foreign key's index (user deletion, "list my revoked tokens").
CREATE INDEX revoked_tokens_user_id_idx ON revoked_tokens (user_id);

COMMENT ON TABLE revoked_tokens IS
    'JWT ids (claim "jti") revoked by logout (owner: gateway). Checked on '
    'every authenticated request; rows are deleted once expires_at passes.';
COMMENT ON COLUMN revoked_tokens.expires_at IS
    'The token''s own exp claim: after it the row is useless and purged.';

-- Failed logins per client address, against password spraying across many
-- usernames (the per-account counter is in users).
CREATE TABLE login_throttle (
    client_addr        inet PRIMARY KEY,
    failed_count       integer NOT NULL DEFAULT 0
        CONSTRAINT login_throttle_failed_count_nonneg
        CHECK (failed_count >= 0),
    window_started_at  timestamptz NOT NULL DEFAULT now(),
    locked_until       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Purge of stale rows: DELETE ... WHERE updated_at < now() - '1 day'.
CREATE INDEX login_throttle_updated_at_idx ON login_throttle (updated_at);

CREATE TRIGGER login_throttle_touch_updated_at
    BEFORE UPDATE ON login_throttle
    FOR EACH ROW EXECUTE FUNCTION btcw_touch_updated_at();

COMMENT ON TABLE login_throttle IS
    'Failed logins per client address (owner: gateway): failed_count in the '
    'window starting at window_started_at; locked_until blocks the address. '
    'Rows untouched for a day are deleted.';
COMMENT ON COLUMN login_throttle.client_addr IS
    'The client address as nginx reports it (X-Real-IP), IPv4 or IPv6.';
