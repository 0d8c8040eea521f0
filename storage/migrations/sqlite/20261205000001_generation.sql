-- How many times a repository's indexed tree has been replaced. A process holding a repository's
-- graph or file hashes in memory compares the generation it loaded with this one, and reloads
-- when another process on the same data dir (`agentwatch index`, an IDE's `agentwatch mcp`)
-- re-indexed it.
ALTER TABLE repositories ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
