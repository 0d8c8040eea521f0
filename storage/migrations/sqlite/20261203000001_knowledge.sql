-- The knowledge server draws on the gateway: its tool calls (MCP and REST) are metered in `usage`
-- beside LLM requests, and what it returns is screened by each organization's DLP policy.

-- The tool or route called (NULL for an LLM request), and the size of what it returned.
ALTER TABLE usage ADD COLUMN tool TEXT;
ALTER TABLE usage ADD COLUMN result_bytes INTEGER;
CREATE INDEX usage_by_tool ON usage (org_id, tool, created_at) WHERE tool IS NOT NULL;

-- An organization's DLP policy (JSON, as a tenant's), over the gateway's default and under its
-- tenants' own; NULL: the default.
ALTER TABLE orgs ADD COLUMN dlp_policy TEXT;
