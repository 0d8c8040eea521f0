-- A scan run here is held by the process running it (`holder`, `pid N`) until `lease_until`
-- (unix ms), which that process renews while the scan is queued or running. Another process asked
-- to scan the same repository and commit joins the held scan instead of starting its own; a scan
-- whose holder stopped renewing (it died) is failed, saying so, when it is next looked at, and a
-- new one may start. Imports and scans of earlier versions hold nothing.
ALTER TABLE scans ADD COLUMN holder TEXT;
ALTER TABLE scans ADD COLUMN lease_until INTEGER;
CREATE UNIQUE INDEX scans_one_in_flight ON scans (repo_id, COALESCE(commit_sha, ''))
    WHERE status IN ('queued', 'running') AND holder IS NOT NULL;
