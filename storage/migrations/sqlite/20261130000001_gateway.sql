-- The gateway's tables. They share agentwatch.db with the indexer's and the scanner's, each crate
-- running its own migrations. Times are Unix milliseconds (UTC).

CREATE TABLE orgs (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE teams (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    daily_budget    REAL,
    monthly_budget  REAL,
    created_at      INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE tenants (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    team_id         INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    name            TEXT NOT NULL,
    -- SHA-256 of the API key, hex. The key itself is shown once, when it is made.
    key_hash        TEXT NOT NULL UNIQUE,
    -- The key's first characters, so that people can tell keys apart.
    key_prefix      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'inactive', 'suspended')),
    daily_budget    REAL,
    monthly_budget  REAL,
    -- Requests per minute; NULL means the default.
    rate_limit      INTEGER,
    -- 'config' for tenants seeded from the config file, 'api' for the rest.
    source          TEXT NOT NULL DEFAULT 'api',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE providers (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL
                CHECK (kind IN ('openai', 'anthropic', 'openrouter', 'google', 'custom')),
    base_url    TEXT NOT NULL,
    -- Lower is tried first.
    priority    INTEGER NOT NULL DEFAULT 100,
    enabled     INTEGER NOT NULL DEFAULT 1,
    -- JSON array of model ids ('prefix*' matches a prefix); NULL serves any model.
    models      TEXT,
    -- JSON object: a model name clients use -> the name this provider knows it by.
    aliases     TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE provider_keys (
    id                 INTEGER PRIMARY KEY,
    provider_id        INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    label              TEXT,
    -- AES-256-GCM under the master key: a 12-byte nonce, then the sealed key.
    sealed             BLOB NOT NULL,
    -- First and last 4 characters, for display.
    hint               TEXT NOT NULL,
    concurrency_limit  INTEGER NOT NULL DEFAULT 10,
    rpm_limit          INTEGER,
    source             TEXT NOT NULL DEFAULT 'api',
    created_at         INTEGER NOT NULL
);

CREATE TABLE usage (
    id                 INTEGER PRIMARY KEY,
    request_id         TEXT NOT NULL,
    org_id             INTEGER NOT NULL,
    tenant_id          INTEGER,
    team_id            INTEGER,
    endpoint           TEXT NOT NULL,
    provider_id        INTEGER,
    provider           TEXT,
    model              TEXT NOT NULL,
    prompt_tokens      INTEGER NOT NULL DEFAULT 0,
    completion_tokens  INTEGER NOT NULL DEFAULT 0,
    -- 'provider' when the provider reported the counts, 'tokenizer' when they were counted here.
    tokens_source      TEXT NOT NULL DEFAULT 'provider',
    cost_usd           REAL NOT NULL DEFAULT 0,
    latency_ms         INTEGER NOT NULL,
    ttft_ms            INTEGER,
    status             INTEGER NOT NULL,
    error              TEXT,
    streamed           INTEGER NOT NULL DEFAULT 0,
    attempts           INTEGER NOT NULL DEFAULT 1,
    dlp_events         INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL
);

CREATE INDEX usage_by_org_time ON usage (org_id, created_at);
CREATE INDEX usage_by_tenant_time ON usage (tenant_id, created_at);
