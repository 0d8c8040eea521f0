-- Failed logins are counted, and accounts locked, per account and client address: someone who
-- knows only an email can lock that account for their own address, not for its owner's.
-- `users.failed_logins` and `users.locked_until` stay as what the admin API shows (the latest).
CREATE TABLE login_failures (
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The client's address ('' when unknown).
    ip            TEXT NOT NULL,
    failures      INTEGER NOT NULL,
    locked_until  INTEGER,
    PRIMARY KEY (user_id, ip)
);
