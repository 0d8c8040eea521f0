-- DLP: a tenant's own policy (JSON, over the config's default), and what DLP did to each request
-- (JSON: {"email": {"redact": 2}} — types and counts, never the values).
ALTER TABLE tenants ADD COLUMN dlp_policy TEXT;
ALTER TABLE usage ADD COLUMN dlp TEXT;
