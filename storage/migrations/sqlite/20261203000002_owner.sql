-- Who a repository belongs to: an id the caller gives (the knowledge server gives organization
-- ids), or NULL for one indexed without an owner (from the command line or stdio MCP).
ALTER TABLE repositories ADD COLUMN owner INTEGER;
CREATE INDEX repositories_by_owner ON repositories (owner);
