-- Users, their API tokens and browser sessions (secrets stored only as SHA-256 hex), and the task index.
-- Keep in sync with src/db/schema.ts (a test compares them).
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, login TEXT NOT NULL UNIQUE, name TEXT, github_id INTEGER UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, label TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created TEXT NOT NULL, expires TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, status TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, repo TEXT NOT NULL, agent TEXT NOT NULL, compute TEXT NOT NULL, title TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_owner_created ON tasks (owner, created DESC);
