-- Which process's job is indexing a repository, until when. Processes sharing a data dir (and,
-- later, replicas sharing a database) claim a repository here before indexing or embedding it, so
-- one job runs at a time; a process that dies stops renewing its claim, and once it expires
-- another may take the repository over.
CREATE TABLE index_leases (
    repo_id    TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    -- Unix milliseconds.
    expires_at INTEGER NOT NULL
);
