-- GitHub sign-in: pending OAuth states (only the SHA-256 hex of a state is stored; single use, 10 minutes).
-- Users are matched by users.github_id (0001_init.sql). The GitHub access token is never stored.
-- Keep in sync with GITHUB_SCHEMA in src/db/github.ts (a test compares them).
CREATE TABLE IF NOT EXISTS oauth_states (hash TEXT PRIMARY KEY, created TEXT NOT NULL, expires TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS oauth_states_expires ON oauth_states (expires);
