-- Retention: usage and audit rows older than their configured age are rolled up into one row per
-- day and group here, then deleted (gateway/src/retention.rs). `day` is the UTC day's start in
-- milliseconds, comparable with `created_at`.
CREATE TABLE usage_daily (
    day                BIGINT NOT NULL,
    org_id             BIGINT NOT NULL,
    tenant_id          BIGINT,
    team_id            BIGINT,
    endpoint           TEXT NOT NULL,
    provider           TEXT,
    model              TEXT NOT NULL,
    tool               TEXT,
    requests           BIGINT NOT NULL,
    errors             BIGINT NOT NULL,
    prompt_tokens      BIGINT NOT NULL,
    completion_tokens  BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cost_usd           DOUBLE PRECISION NOT NULL,
    dlp_events         BIGINT NOT NULL,
    -- The sum of the requests' latencies: an average is latency_ms / requests.
    latency_ms         BIGINT NOT NULL
);
CREATE INDEX usage_daily_by_org_day ON usage_daily (org_id, day);

CREATE TABLE audit_daily (
    day      BIGINT NOT NULL,
    org_id   BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    action   TEXT NOT NULL,
    entries  BIGINT NOT NULL
);
CREATE INDEX audit_daily_by_org_day ON audit_daily (org_id, day);

-- Rollups read the oldest days first.
CREATE INDEX usage_by_time ON usage (created_at);
CREATE INDEX audit_by_time ON audit_log (created_at);

-- Every total reads the raw rows and the rolled-up days as one: a rollup changes no total.
CREATE VIEW usage_totals AS
SELECT org_id, tenant_id, team_id, endpoint, provider, model, tool, created_at,
       CAST(1 AS BIGINT) AS requests, CAST(CASE WHEN status >= 400 THEN 1 ELSE 0 END AS BIGINT) AS errors,
       prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
       dlp_events, latency_ms
FROM usage
UNION ALL
SELECT org_id, tenant_id, team_id, endpoint, provider, model, tool, day AS created_at,
       requests, errors, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens,
       cost_usd, dlp_events, latency_ms
FROM usage_daily;
