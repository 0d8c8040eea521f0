-- Cloned repositories kept fresh by push webhooks and scheduled fetches.
ALTER TABLE repo_settings ADD COLUMN webhook_secret BYTEA;                     -- sealed with the master key
ALTER TABLE repo_settings ADD COLUMN scan_on_push BIGINT NOT NULL DEFAULT 0;   -- 1: scan each pushed commit
ALTER TABLE repo_settings ADD COLUMN sync_every BIGINT;                        -- seconds between fetches; NULL never
