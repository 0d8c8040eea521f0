-- The knowledge server's indexed repositories and the facts extracted from their files.
-- The graph itself is rebuilt in memory from these rows (resolution takes milliseconds), so a
-- restart never re-parses a file.

CREATE TABLE repositories (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,             -- https URL, or absolute local path
    remote      INTEGER NOT NULL,          -- 1 when cloned into the data dir
    branch      TEXT,                      -- the branch asked for; NULL for the default
    checkout    TEXT NOT NULL,             -- the folder that is indexed
    status      TEXT NOT NULL,             -- queued | cloning | parsing | embedding | ready | failed
    commit_sha  TEXT,
    dirty       TEXT NOT NULL DEFAULT '',  -- files that differed from commit_sha when indexed
    files       INTEGER NOT NULL DEFAULT 0,
    skipped     TEXT NOT NULL DEFAULT '',  -- reason=count, comma separated
    symbols     INTEGER NOT NULL DEFAULT 0,
    nodes       INTEGER NOT NULL DEFAULT 0,
    edges       INTEGER NOT NULL DEFAULT 0,
    lines       INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    errors      TEXT NOT NULL DEFAULT '',  -- one diagnostic per line
    error       TEXT,                      -- why the last job failed
    indexed_at  INTEGER                    -- unix seconds
);

CREATE TABLE files (
    repo_id     TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    language    TEXT NOT NULL,
    hash        TEXT NOT NULL,             -- blake3 of the content
    lines       INTEGER NOT NULL,
    diagnostics TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (repo_id, path)
) WITHOUT ROWID;

CREATE TABLE symbols (
    repo_id    TEXT NOT NULL,
    path       TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    qualified  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    parent     INTEGER,
    container  TEXT,
    start_line INTEGER NOT NULL,
    end_line   INTEGER NOT NULL,
    start_byte INTEGER NOT NULL,
    end_byte   INTEGER NOT NULL,
    signature  TEXT NOT NULL,
    doc        TEXT,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX symbols_by_name ON symbols (repo_id, name);

CREATE TABLE refs (
    repo_id   TEXT NOT NULL,
    path      TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    scope     TEXT,
    receiver  TEXT,
    subject   TEXT,
    line      INTEGER NOT NULL,
    enclosing INTEGER,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE imports (
    repo_id TEXT NOT NULL,
    path    TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    source  TEXT NOT NULL,
    alias   TEXT,
    names   TEXT NOT NULL,                 -- one "name" or "name as alias" per line
    line    INTEGER NOT NULL,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE chunks (
    repo_id    TEXT NOT NULL,
    path       TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    start_line INTEGER NOT NULL,
    end_line   INTEGER NOT NULL,
    start_byte INTEGER NOT NULL,
    end_byte   INTEGER NOT NULL,
    symbol     INTEGER,
    PRIMARY KEY (repo_id, path, idx),
    FOREIGN KEY (repo_id, path) REFERENCES files(repo_id, path) ON DELETE CASCADE
) WITHOUT ROWID;
