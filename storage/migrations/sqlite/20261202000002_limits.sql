-- Rate limits: a tenant's own token bucket (NULL: the gateway's default), and each tenant's
-- limiter state, saved at shutdown so that a restart neither forgets nor refills it.
ALTER TABLE tenants ADD COLUMN rate_burst INTEGER;
ALTER TABLE tenants ADD COLUMN rate_refill REAL;

CREATE TABLE rate_limits (
    tenant_id   INTEGER PRIMARY KEY,
    tokens      REAL NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- JSON array of the request times (Unix ms) in the last minute.
    window      TEXT NOT NULL
);
