-- Retention: usage and audit rows older than their configured age are rolled up into one row per
-- day and group here, then deleted (gateway/src/retention.rs). `day` is the UTC day's start in
-- milliseconds, comparable with `created_at`.
CREATE TABLE usage_daily (
    day                INTEGER NOT NULL,
    org_id             INTEGER NOT NULL,
    tenant_id          INTEGER,
    team_id            INTEGER,
    endpoint           TEXT NOT NULL,
    provider           TEXT,
    model              TEXT NOT NULL,
    tool               TEXT,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    prompt_tokens      INTEGER NOT NULL,
    completion_tokens  INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL NOT NULL,
    dlp_events         INTEGER NOT NULL,
    -- The sum of the requests' latencies: an average is latency_ms / requests.
    latency_ms         INTEGER NOT NULL
);
CREATE INDEX usage_daily_by_org_day ON usage_daily (org_id, day);

CREATE TABLE audit_daily (
    day      INTEGER NOT NULL,
    org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    action   TEXT NOT NULL,
    entries  INTEGER NOT NULL
);
CREATE INDEX audit_daily_by_org_day ON audit_daily (org_id, day);

-- Rollups read the oldest days first.
CREATE INDEX usage_by_time ON usage (created_at);
CREATE INDEX audit_by_time ON audit_log (created_at);

-- Every total reads the raw rows and the rolled-up days as one: a rollup changes no total.
CREATE VIEW usage_totals AS
SELECT org_id, tenant_id, team_id, endpoint, provider, model, tool, created_at,
       1 AS requests, CASE WHEN status >= 400 THEN 1 ELSE 0 END AS errors,
       prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
       dlp_events, latency_ms
FROM usage
UNION ALL
SELECT org_id, tenant_id, team_id, endpoint, provider, model, tool, day AS created_at,
       requests, errors, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens,
       cost_usd, dlp_events, latency_ms
FROM usage_daily;
