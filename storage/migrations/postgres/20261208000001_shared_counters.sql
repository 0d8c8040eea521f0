-- The counters replicas share when they have Postgres and no Redis (gateway `counters`): budget
-- spending and reservations, rate-limit buckets and windows, provider-key leases. Each
-- check-and-update is one transaction under advisory locks on the names it reads, so replicas
-- take turns. SQLite has none of these tables: one process on it keeps its counters in memory.

-- A rate limit's token bucket and sliding window, by name (`tenant:<id>`, `person:<id>`): the
-- window is a JSON array of admission times (Unix ms).
CREATE TABLE shared_rates (
    name        TEXT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    updated_at  BIGINT NOT NULL,
    "window"    TEXT NOT NULL
);

-- A budget's spending in one period (`agentwatch:budget:tenant:<id>:day:<date>`), and the
-- thresholds already announced in it (`0.8:<budget>` tokens, space-separated).
CREATE TABLE shared_budgets (
    account     TEXT PRIMARY KEY,
    spent       DOUBLE PRECISION NOT NULL,
    alerted     TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX shared_budgets_created ON shared_budgets (created_at);

-- What a request in flight holds of a budget until it settles, or until its deadline passes
-- (its replica died).
CREATE TABLE shared_budget_holds (
    account     TEXT NOT NULL,
    reservation TEXT NOT NULL,
    amount      DOUBLE PRECISION NOT NULL,
    deadline    BIGINT NOT NULL,
    PRIMARY KEY (account, reservation)
);
CREATE INDEX shared_budget_holds_deadline ON shared_budget_holds (deadline);

-- Provider keys' leases: in flight until returned (deadline 0) or past their deadline, and
-- counted in the key's requests per minute for a minute after they started.
CREATE TABLE shared_key_leases (
    key_id      BIGINT NOT NULL,
    lease       TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    deadline    BIGINT NOT NULL,
    PRIMARY KEY (key_id, lease)
);
