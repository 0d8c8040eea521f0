-- What a claim's job was asked to index (the source as written in `repositories.source`, the
-- branch, the owner), so that when its process dies, a running process finishes the job unasked
-- once the claim runs out. NULL for claims that are not a whole job (resumed embedding, tidying
-- the search index).
ALTER TABLE index_leases ADD COLUMN source TEXT;
ALTER TABLE index_leases ADD COLUMN branch TEXT;
ALTER TABLE index_leases ADD COLUMN owner INTEGER;
