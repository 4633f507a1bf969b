-- Stored GitHub tokens, for cloning private repositories through the git egress: one row per user,
-- the access token (and a GitHub App's refresh token) sealed by the key vault (AES-GCM, per-user key,
-- bound to the user and the record), and when each stops being used (GITHUB_TOKEN_TTL at most).
-- Keep in sync with GITHUB_TOKEN_SCHEMA in src/db/github-tokens.ts (a test compares them).
CREATE TABLE IF NOT EXISTS github_tokens (user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE, ciphertext TEXT NOT NULL, kid TEXT NOT NULL, expires TEXT NOT NULL, refresh_ciphertext TEXT, refresh_expires TEXT, scope TEXT NOT NULL, updated TEXT NOT NULL);
