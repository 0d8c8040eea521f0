-- The admin API's tables: people who log in, their sessions, and what they did.
-- Times are Unix milliseconds (UTC), as in the gateway's first migration.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- Lower-cased; one account per address across every organization, since login is by email.
    email            TEXT NOT NULL UNIQUE,
    -- Argon2id, in the PHC string format.
    password_hash    TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    disabled         INTEGER NOT NULL DEFAULT 0,
    -- Failed logins since the last success or lock; reaching the limit locks the account.
    failed_logins    INTEGER NOT NULL DEFAULT 0,
    locked_until     INTEGER,
    last_login_at    INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE INDEX users_by_org ON users (org_id);

-- One row per issued token (its `jti`): logging out, disabling the user, or a password change
-- revokes it before it expires.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip          TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE INDEX sessions_by_user ON sessions (user_id);

-- Admin actions: who, what, when, from where. Never a secret.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id      INTEGER,
    user_email   TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT,
    target_id    INTEGER,
    -- JSON object: the fields that changed (secrets masked).
    detail       TEXT NOT NULL DEFAULT '{}',
    ip           TEXT,
    created_at   INTEGER NOT NULL
);

CREATE INDEX audit_by_org_time ON audit_log (org_id, created_at);
CREATE INDEX usage_by_team_time ON usage (team_id, created_at);
