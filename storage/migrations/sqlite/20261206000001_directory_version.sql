-- Bumped after every change to what a gateway holds in memory to route and authenticate
-- (tenants, teams, providers and their keys, organizations' policies). Each gateway process on
-- the database compares the version it loaded with this one every half second and reloads when
-- another process (a replica's admin API, a start that seeded the config file) changed it.
CREATE TABLE directory_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);
