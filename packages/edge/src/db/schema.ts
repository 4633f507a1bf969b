import { applyOnce } from "./apply-once.ts";

/**
 * The D1 schema, the same statements as `migrations/0001_init.sql` (a test keeps them equal). The
 * Worker applies them once per isolate, so `openagents up` needs no separate migration step; a
 * deployed database is migrated with `wrangler d1 migrations apply DB --remote`.
 */
export const SCHEMA: readonly string[] = [
  "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, login TEXT NOT NULL UNIQUE, name TEXT, github_id INTEGER UNIQUE, created TEXT NOT NULL);",
  "CREATE TABLE IF NOT EXISTS api_tokens (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, label TEXT NOT NULL, created TEXT NOT NULL);",
  "CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created TEXT NOT NULL, expires TEXT NOT NULL);",
  "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, status TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, repo TEXT NOT NULL, agent TEXT NOT NULL, compute TEXT NOT NULL, title TEXT NOT NULL);",
  "CREATE INDEX IF NOT EXISTS tasks_owner_created ON tasks (owner, created DESC);",
];

/**
 * Creates the tables if they are missing, once per database binding per isolate.
 *
 * @example
 * await ensureSchema(env.DB);
 */
export const ensureSchema = applyOnce(SCHEMA);
