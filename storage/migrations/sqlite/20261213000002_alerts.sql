-- Alerts (gateway/src/alerts.rs): one row per episode. A condition that holds (a circuit open,
-- an error rate, a cost spike) has at most one open row per kind and subject, whichever replica
-- saw it first; it is resolved when the condition ends. A budget crossing is an event, stored
-- resolved at once (the budgets report each crossing once).
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    -- What it is about: `tenant:5:daily:2026-12-04:0.8`, `provider:3`, `org:1`, `tenant:5`.
    subject      TEXT NOT NULL,
    severity     TEXT NOT NULL,
    title        TEXT NOT NULL,
    -- JSON: the numbers and names behind the title; never a secret.
    detail       TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_by_org_time ON alerts (org_id, created_at);
