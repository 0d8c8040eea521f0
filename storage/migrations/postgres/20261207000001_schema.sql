-- Every table, as SQLite's history (migrations/sqlite, 20261123000001 to 20261206000003) left
-- them when Postgres came; read those files for what each column means. Later changes come in
-- pairs, one migration per backend.
--
-- The same types as SQLite's, so that one query reads both: integers are BIGINT (flags included,
-- 0 or 1), reals DOUBLE PRECISION, and times Unix milliseconds (seconds for `indexed_at`).

-- The knowledge server: indexed repositories and the facts extracted from their files.

CREATE TABLE repositories (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    remote      BIGINT NOT NULL,
    branch      TEXT,
    checkout    TEXT NOT NULL,
    status      TEXT NOT NULL,
    commit_sha  TEXT,
    dirty       TEXT NOT NULL DEFAULT '',
    files       BIGINT NOT NULL DEFAULT 0,
    skipped     TEXT NOT NULL DEFAULT '',
    symbols     BIGINT NOT NULL DEFAULT 0,
    nodes       BIGINT NOT NULL DEFAULT 0,
    edges       BIGINT NOT NULL DEFAULT 0,
    lines       BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    errors      TEXT NOT NULL DEFAULT '',
    error       TEXT,
    indexed_at  BIGINT,
    chunks      BIGINT NOT NULL DEFAULT 0,
    embedded    BIGINT NOT NULL DEFAULT 0,
    owner       BIGINT,
    generation  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX repositories_by_owner ON repositories (owner);

CREATE TABLE files (
    repo_id     TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    language    TEXT NOT NULL,
    hash        TEXT NOT NULL,
    lines       BIGINT NOT NULL,
    diagnostics TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (repo_id, path)
);

CREATE TABLE symbols (
    repo_id    TEXT NOT NULL,
    path       TEXT NOT NULL,
    idx        BIGINT NOT NULL,
    name       TEXT NOT NULL,
    qualified  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    parent     BIGINT,
    container  TEXT,
    start_line BIGINT NOT NULL,
    end_line   BIGINT NOT NULL,
    start_byte BIGINT NOT NULL,
    end_byte   BIGINT NOT NULL,
    signature  TEXT NOT NULL,
    doc        TEXT,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
);
CREATE INDEX symbols_by_name ON symbols (repo_id, name);

CREATE TABLE refs (
    repo_id   TEXT NOT NULL,
    path      TEXT NOT NULL,
    idx       BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    scope     TEXT,
    receiver  TEXT,
    subject   TEXT,
    line      BIGINT NOT NULL,
    enclosing BIGINT,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
);

CREATE TABLE imports (
    repo_id TEXT NOT NULL,
    path    TEXT NOT NULL,
    idx     BIGINT NOT NULL,
    source  TEXT NOT NULL,
    alias   TEXT,
    names   TEXT NOT NULL,
    line    BIGINT NOT NULL,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
);

CREATE TABLE chunks (
    repo_id    TEXT NOT NULL,
    path       TEXT NOT NULL,
    idx        BIGINT NOT NULL,
    start_line BIGINT NOT NULL,
    end_line   BIGINT NOT NULL,
    start_byte BIGINT NOT NULL,
    end_byte   BIGINT NOT NULL,
    symbol     BIGINT,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
);

CREATE TABLE index_leases (
    repo_id    TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    source     TEXT,
    branch     TEXT,
    owner      BIGINT
);

-- Security scans. `rowid` orders scans made in the same millisecond, as SQLite's implicit rowid
-- does there: the same name, so that one query reads both.

CREATE TABLE scans (
    id          TEXT PRIMARY KEY NOT NULL,
    repo_id     TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    commit_sha  TEXT,
    origin      TEXT NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT,
    holder      TEXT,
    lease_until BIGINT,
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX scans_by_repo ON scans (repo_id, created_at);
CREATE UNIQUE INDEX scans_one_in_flight ON scans (repo_id, (COALESCE(commit_sha, '')))
    WHERE status IN ('queued', 'running') AND holder IS NOT NULL;

CREATE TABLE scan_tools (
    scan_id     TEXT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    tool        TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (scan_id, tool)
);

CREATE TABLE scan_findings (
    scan_id           TEXT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    seq               BIGINT NOT NULL,
    tool              TEXT NOT NULL,
    category          TEXT NOT NULL,
    rule_id           TEXT NOT NULL,
    severity          BIGINT NOT NULL,
    title             TEXT NOT NULL,
    message           TEXT NOT NULL,
    path              TEXT NOT NULL,
    start_line        BIGINT,
    end_line          BIGINT,
    cwe               TEXT NOT NULL,
    cve               TEXT NOT NULL,
    package_name      TEXT,
    installed_version TEXT,
    fixed_version     TEXT,
    fingerprint       TEXT NOT NULL,
    url               TEXT,
    symbol_id         TEXT,
    symbol_kind       TEXT,
    symbol_name       TEXT,
    callers           BIGINT,
    PRIMARY KEY (scan_id, seq)
);
CREATE INDEX scan_findings_by_fingerprint ON scan_findings (scan_id, fingerprint);

-- The gateway.

CREATE TABLE orgs (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    dlp_policy  TEXT
);

CREATE TABLE teams (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id          BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    daily_budget    DOUBLE PRECISION,
    monthly_budget  DOUBLE PRECISION,
    created_at      BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE tenants (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id          BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    team_id         BIGINT REFERENCES teams(id) ON DELETE SET NULL,
    name            TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    key_prefix      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'inactive', 'suspended')),
    daily_budget    DOUBLE PRECISION,
    monthly_budget  DOUBLE PRECISION,
    rate_limit      BIGINT,
    source          TEXT NOT NULL DEFAULT 'api',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    dlp_policy      TEXT,
    rate_burst      BIGINT,
    rate_refill     DOUBLE PRECISION,
    UNIQUE (org_id, name)
);

CREATE TABLE providers (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL
                CHECK (kind IN ('openai', 'anthropic', 'openrouter', 'google', 'custom')),
    base_url    TEXT NOT NULL,
    priority    BIGINT NOT NULL DEFAULT 100,
    enabled     BIGINT NOT NULL DEFAULT 1,
    models      TEXT,
    aliases     TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE provider_keys (
    id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    provider_id        BIGINT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    label              TEXT,
    sealed             BYTEA NOT NULL,
    hint               TEXT NOT NULL,
    concurrency_limit  BIGINT NOT NULL DEFAULT 10,
    rpm_limit          BIGINT,
    source             TEXT NOT NULL DEFAULT 'api',
    created_at         BIGINT NOT NULL
);

CREATE TABLE usage (
    id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    request_id         TEXT NOT NULL,
    org_id             BIGINT NOT NULL,
    tenant_id          BIGINT,
    team_id            BIGINT,
    endpoint           TEXT NOT NULL,
    provider_id        BIGINT,
    provider           TEXT,
    model              TEXT NOT NULL,
    prompt_tokens      BIGINT NOT NULL DEFAULT 0,
    completion_tokens  BIGINT NOT NULL DEFAULT 0,
    tokens_source      TEXT NOT NULL DEFAULT 'provider',
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms         BIGINT NOT NULL,
    ttft_ms            BIGINT,
    status             BIGINT NOT NULL,
    error              TEXT,
    streamed           BIGINT NOT NULL DEFAULT 0,
    attempts           BIGINT NOT NULL DEFAULT 1,
    dlp_events         BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    dlp                TEXT,
    tool               TEXT,
    result_bytes       BIGINT
);
CREATE INDEX usage_by_org_time ON usage (org_id, created_at);
CREATE INDEX usage_by_tenant_time ON usage (tenant_id, created_at);
CREATE INDEX usage_by_team_time ON usage (team_id, created_at);
CREATE INDEX usage_by_tool ON usage (org_id, tool, created_at) WHERE tool IS NOT NULL;

CREATE TABLE rate_limits (
    tenant_id   BIGINT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    updated_at  BIGINT NOT NULL,
    "window"    TEXT NOT NULL
);

CREATE TABLE directory_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

-- The admin API.

CREATE TABLE users (
    id               BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id           BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    disabled         BIGINT NOT NULL DEFAULT 0,
    failed_logins    BIGINT NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    last_login_at    BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX users_by_org ON users (org_id);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip          TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE audit_log (
    id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id      BIGINT,
    user_email   TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT,
    target_id    BIGINT,
    detail       TEXT NOT NULL DEFAULT '{}',
    ip           TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_by_org_time ON audit_log (org_id, created_at);

CREATE TABLE login_failures (
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip            TEXT NOT NULL,
    failures      BIGINT NOT NULL,
    locked_until  BIGINT,
    PRIMARY KEY (user_id, ip)
);
