-- Security scans of indexed repositories: one row per scan (run here or imported), each tool's
-- outcome, and the normalised findings. A repository's scans go with it when it is removed.

CREATE TABLE scans (
    id          TEXT PRIMARY KEY NOT NULL,
    repo_id     TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    commit_sha  TEXT,                      -- the commit the checkout was at, when known
    origin      TEXT NOT NULL,             -- run | import
    status      TEXT NOT NULL,             -- queued | running | done | failed
    error       TEXT,                      -- why the scan failed
    created_at  INTEGER NOT NULL,          -- unix milliseconds
    finished_at INTEGER
);
CREATE INDEX scans_by_repo ON scans (repo_id, created_at);

CREATE TABLE scan_tools (
    scan_id     TEXT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    tool        TEXT NOT NULL,             -- semgrep | trivy | checkov
    status      TEXT NOT NULL,             -- ok | failed | not_installed | timed_out | cancelled
    message     TEXT,                      -- why it failed, or how to install it
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (scan_id, tool)
);

CREATE TABLE scan_findings (
    scan_id           TEXT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,    -- the order findings are listed in
    tool              TEXT NOT NULL,
    category          TEXT NOT NULL,       -- code | misconfiguration | secret | vulnerability
    rule_id           TEXT NOT NULL,
    severity          INTEGER NOT NULL,    -- 0 info, 1 low, 2 medium, 3 high, 4 critical
    title             TEXT NOT NULL,
    message           TEXT NOT NULL,
    path              TEXT NOT NULL,
    start_line        INTEGER,
    end_line          INTEGER,
    cwe               TEXT NOT NULL,       -- space separated
    cve               TEXT NOT NULL,
    package_name      TEXT,
    installed_version TEXT,
    fixed_version     TEXT,
    fingerprint       TEXT NOT NULL,
    url               TEXT,
    symbol_id         TEXT,                -- the enclosing symbol in the code graph
    symbol_kind       TEXT,
    symbol_name       TEXT,
    callers           INTEGER,
    PRIMARY KEY (scan_id, seq)
);
CREATE INDEX scan_findings_by_fingerprint ON scan_findings (scan_id, fingerprint);
