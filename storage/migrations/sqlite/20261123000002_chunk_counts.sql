-- How much of each repository the search index covers: its chunks, and how many have vectors.
ALTER TABLE repositories ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN embedded INTEGER NOT NULL DEFAULT 0;
