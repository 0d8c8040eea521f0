-- Cloned repositories kept fresh by push webhooks and scheduled fetches.
ALTER TABLE repo_settings ADD COLUMN webhook_secret BLOB;                      -- sealed with the master key
ALTER TABLE repo_settings ADD COLUMN scan_on_push INTEGER NOT NULL DEFAULT 0;  -- 1: scan each pushed commit
ALTER TABLE repo_settings ADD COLUMN sync_every INTEGER;                       -- seconds between fetches; NULL never
