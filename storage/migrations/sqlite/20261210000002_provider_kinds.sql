-- no-transaction
-- More provider kinds: Azure OpenAI, and OpenAI-compatible presets (Mistral, Cohere, Groq,
-- Together, xAI, DeepSeek). SQLite cannot change a CHECK constraint, so the table is rebuilt as
-- its documentation says (https://sqlite.org/lang_altertable.html#otheralter): foreign keys off so
-- that dropping the old table does not cascade to provider_keys (whose rows keep their provider
-- ids, which the new table keeps), and the copy in one transaction.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE providers_new (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL
                CHECK (kind IN ('openai', 'anthropic', 'openrouter', 'google', 'custom', 'azure',
                                'mistral', 'cohere', 'groq', 'together', 'xai', 'deepseek')),
    base_url    TEXT NOT NULL,
    -- Lower is tried first.
    priority    INTEGER NOT NULL DEFAULT 100,
    enabled     INTEGER NOT NULL DEFAULT 1,
    -- JSON array of model ids ('prefix*' matches a prefix); NULL serves any model.
    models      TEXT,
    -- JSON object: a model name clients use -> the name this provider knows it by.
    aliases     TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);
INSERT INTO providers_new (id, org_id, name, kind, base_url, priority, enabled, models, aliases,
                           source, created_at, updated_at)
    SELECT id, org_id, name, kind, base_url, priority, enabled, models, aliases, source,
           created_at, updated_at
    FROM providers;
DROP TABLE providers;
ALTER TABLE providers_new RENAME TO providers;
COMMIT;
PRAGMA foreign_keys = ON;
