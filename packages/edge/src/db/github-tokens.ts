import type { KeyVault } from "../key-vault.ts";
import { applyOnce } from "./apply-once.ts";

/**
 * The D1 statements of stored GitHub tokens, the same as `migrations/0005_github_tokens.sql` (a test
 * keeps them equal). One row per user: the access token (and GitHub Apps' refresh token) sealed by
 * the key vault, bound to the user, and when each stops being used.
 */
export const GITHUB_TOKEN_SCHEMA: readonly string[] = [
  "CREATE TABLE IF NOT EXISTS github_tokens (user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE, ciphertext TEXT NOT NULL, kid TEXT NOT NULL, expires TEXT NOT NULL, refresh_ciphertext TEXT, refresh_expires TEXT, scope TEXT NOT NULL, updated TEXT NOT NULL);",
];

const ensureSchema = applyOnce(GITHUB_TOKEN_SCHEMA);

// The vault binds each ciphertext to its user and to one of these record ids: an access token
// cannot be swapped for a refresh token, nor moved to another user's row.
const ACCESS = "github-access";
const REFRESH = "github-refresh";

/** A user's GitHub tokens, opened. */
export interface GithubTokens {
  accessToken: string;
  /** ISO time after which the access token is not used any more. */
  expires: string;
  refreshToken: string | null;
  refreshExpires: string | null;
  scope: string;
}

interface Row {
  user_id: string;
  ciphertext: string;
  expires: string;
  refresh_ciphertext: string | null;
  refresh_expires: string | null;
  scope: string;
}

/**
 * Stores (replaces) a user's GitHub tokens, sealed.
 *
 * @example
 * await saveGithubTokens(env.DB, vault, user.id, { accessToken, expires, refreshToken: null, refreshExpires: null, scope });
 */
export async function saveGithubTokens(
  db: D1Database,
  vault: KeyVault,
  userId: string,
  tokens: GithubTokens,
): Promise<void> {
  await ensureSchema(db);
  const binding = (recordId: string) => ({ userId, recordId });
  const sealed = await vault.seal(tokens.accessToken, binding(ACCESS));
  const refresh = tokens.refreshToken ? await vault.seal(tokens.refreshToken, binding(REFRESH)) : null;
  await db
    .prepare(
      "INSERT INTO github_tokens (user_id, ciphertext, kid, expires, refresh_ciphertext, refresh_expires, scope, updated) " +
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (user_id) DO UPDATE SET ciphertext = ?2, kid = ?3, " +
        "expires = ?4, refresh_ciphertext = ?5, refresh_expires = ?6, scope = ?7, updated = ?8",
    )
    .bind(
      userId,
      sealed,
      vault.currentId,
      tokens.expires,
      refresh,
      refresh ? tokens.refreshExpires : null,
      tokens.scope,
      new Date().toISOString(),
    )
    .run();
}

/**
 * A user's GitHub tokens, opened; null when there are none or they no longer decrypt (the user signs
 * in again).
 *
 * @example
 * const tokens = await loadGithubTokens(env.DB, vault, userId);
 */
export async function loadGithubTokens(
  db: D1Database,
  vault: KeyVault,
  userId: string,
): Promise<GithubTokens | null> {
  await ensureSchema(db);
  const row = await db
    .prepare(
      "SELECT user_id, ciphertext, expires, refresh_ciphertext, refresh_expires, scope FROM github_tokens WHERE user_id = ?",
    )
    .bind(userId)
    .first<Row>();
  if (!row) return null;
  const access = await vault.open(row.ciphertext, { userId, recordId: ACCESS });
  if (!access.ok) return null;
  const refresh = row.refresh_ciphertext
    ? await vault.open(row.refresh_ciphertext, { userId, recordId: REFRESH })
    : null;
  return {
    accessToken: access.value,
    expires: row.expires,
    refreshToken: refresh?.ok ? refresh.value : null,
    refreshExpires: refresh?.ok ? row.refresh_expires : null,
    scope: row.scope,
  };
}

/** What the API shows of a user's stored GitHub token: never the token. */
export interface GithubTokenStatus {
  connected: boolean;
  /** When the access token stops being used (renewed then when `renewable`). */
  expires: string | null;
  renewable: boolean;
  scope: string | null;
}

/**
 * Whether the platform holds a GitHub token for the user, and until when.
 *
 * @example
 * const status = await githubTokenStatus(env.DB, user.id); // { connected: true, expires: "…", … }
 */
export async function githubTokenStatus(db: D1Database, userId: string): Promise<GithubTokenStatus> {
  await ensureSchema(db);
  const row = await db
    .prepare("SELECT expires, refresh_expires, scope FROM github_tokens WHERE user_id = ?")
    .bind(userId)
    .first<Pick<Row, "expires" | "refresh_expires" | "scope">>();
  if (!row) return { connected: false, expires: null, renewable: false, scope: null };
  return { connected: true, expires: row.expires, renewable: row.refresh_expires !== null, scope: row.scope };
}

/** Forgets a user's GitHub tokens (expired for good, or signed out of GitHub). */
export async function deleteGithubTokens(db: D1Database, userId: string): Promise<void> {
  await ensureSchema(db);
  await db.prepare("DELETE FROM github_tokens WHERE user_id = ?").bind(userId).run();
}

/**
 * Platform secret rotation for GitHub tokens, like `rotateAll` of key-store.ts: re-seals every row
 * not made with the vault's current secret; a row changed meanwhile is left to the newer write;
 * rows that do not decrypt are counted, not changed.
 *
 * @example
 * const r = await rotateGithubTokens(env.DB, vault); // { rotated: 3, failed: 0 }
 */
export async function rotateGithubTokens(
  db: D1Database,
  vault: KeyVault,
): Promise<{ rotated: number; failed: number }> {
  await ensureSchema(db);
  const { results } = await db
    .prepare("SELECT user_id, ciphertext, refresh_ciphertext FROM github_tokens WHERE kid <> ?")
    .bind(vault.currentId)
    .all<Pick<Row, "user_id" | "ciphertext" | "refresh_ciphertext">>();
  let rotated = 0;
  let failed = 0;
  for (const row of results) {
    const access = await vault.reseal(row.ciphertext, { userId: row.user_id, recordId: ACCESS });
    const refresh = row.refresh_ciphertext
      ? await vault.reseal(row.refresh_ciphertext, { userId: row.user_id, recordId: REFRESH })
      : null;
    if (!access.ok || (refresh && !refresh.ok)) {
      failed++;
      continue;
    }
    const res = await db
      .prepare(
        "UPDATE github_tokens SET ciphertext = ?, refresh_ciphertext = ?, kid = ? WHERE user_id = ? AND ciphertext = ?",
      )
      .bind(access.value, refresh?.ok ? refresh.value : null, vault.currentId, row.user_id, row.ciphertext)
      .run();
    rotated += res.meta.changes;
  }
  return { rotated, failed };
}
