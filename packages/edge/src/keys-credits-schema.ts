import { applyOnce } from "./db/apply-once.ts";

/**
 * The D1 tables of keys and credits: the same statements as `migrations/0003_keys_credits.sql` (a
 * test keeps them equal). Created on first use like the base schema, so a local stack or a test
 * needs no separate migration step; a deployed database is migrated with `wrangler d1 migrations apply`.
 */
export const KEYS_CREDITS_SCHEMA: readonly string[] = [
  "CREATE TABLE IF NOT EXISTS provider_keys (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, provider TEXT NOT NULL, label TEXT NOT NULL, last4 TEXT NOT NULL, ciphertext TEXT NOT NULL, kid TEXT NOT NULL, created TEXT NOT NULL, last_used TEXT);",
  "CREATE INDEX IF NOT EXISTS provider_keys_user ON provider_keys (user_id, provider, created DESC);",
  "CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, task_id TEXT, model TEXT, quantity INTEGER, ref TEXT, note TEXT NOT NULL, created TEXT NOT NULL, UNIQUE (user_id, ref));",
  "CREATE INDEX IF NOT EXISTS ledger_user_created ON ledger (user_id, created);",
  "CREATE INDEX IF NOT EXISTS ledger_task ON ledger (task_id);",
  "CREATE TABLE IF NOT EXISTS credit_accounts (user_id TEXT PRIMARY KEY, metered INTEGER, daily_budget INTEGER, weekly_budget INTEGER, updated TEXT NOT NULL);",
  "CREATE TABLE IF NOT EXISTS invoices (payment_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, amount_msats INTEGER NOT NULL, credits INTEGER NOT NULL, bolt11 TEXT NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL, settled TEXT);",
];

/**
 * Creates the key and credit tables if they are missing, once per database binding per isolate.
 *
 * @example
 * await ensureKeysCreditsSchema(env.DB);
 */
export const ensureKeysCreditsSchema = applyOnce(KEYS_CREDITS_SCHEMA);
