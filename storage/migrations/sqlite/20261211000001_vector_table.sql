-- The search-index table (one per embedding model) a repository's chunks were last written to;
-- NULL for repositories indexed before it was recorded (the local model's `chunks`).
ALTER TABLE repositories ADD COLUMN vector_table TEXT;
