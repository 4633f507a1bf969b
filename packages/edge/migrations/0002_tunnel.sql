-- Machine tokens of `openagents connect` (one per machine; only the SHA-256 hex of a token is stored).
-- Keep in sync with src/tunnel-schema.ts (a test compares them).
CREATE TABLE IF NOT EXISTS tunnel_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, label TEXT NOT NULL, allow_repos TEXT NOT NULL, max_tasks INTEGER NOT NULL, created TEXT NOT NULL, last_used TEXT);
CREATE INDEX IF NOT EXISTS tunnel_tokens_user ON tunnel_tokens (user_id, created);
