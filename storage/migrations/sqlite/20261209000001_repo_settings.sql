-- What a repository's user chose for it, apart from what indexing found. A row may exist before
-- the repository's first job has stored it, so no foreign key: `Store::delete_repo` removes it.
CREATE TABLE repo_settings (
    repo_id TEXT PRIMARY KEY NOT NULL,
    watch   INTEGER            -- 1 watched, 0 not; NULL follows index.watch
);
