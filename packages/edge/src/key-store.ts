import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import type { KeyVault } from "./key-vault.ts";
import { ensureKeysCreditsSchema } from "./keys-credits-schema.ts";

export const PROVIDERS = ["anthropic", "openai"] as const;
export type Provider = (typeof PROVIDERS)[number];

/** What any API answer shows of a stored key: never the key, only its last four characters. */
export interface MaskedKey {
  id: string;
  provider: Provider;
  label: string;
  last4: string;
  created: string;
  lastUsed: string | null;
}

interface KeyRow {
  id: string;
  user_id: string;
  provider: Provider;
  label: string;
  last4: string;
  ciphertext: string;
  kid: string;
  created: string;
  last_used: string | null;
}

const mask = (r: KeyRow): MaskedKey => ({
  id: r.id,
  provider: r.provider,
  label: r.label,
  last4: r.last4,
  created: r.created,
  lastUsed: r.last_used,
});

/** True for strings shaped like a key record id (`pk_` + 24 hex); anything else cannot name one. */
export const isKeyId = (id: string): boolean => /^pk_[0-9a-f]{24}$/.test(id);

const newKeyId = () =>
  `pk_${[...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("")}`;

/**
 * Stores a user's API key, encrypted (the row holds only the ciphertext and the last four characters).
 *
 * @example
 * const masked = await addKey(env.DB, vault, user.id, { provider: "anthropic", key, label: "work" });
 */
export async function addKey(
  db: D1Database,
  vault: KeyVault,
  userId: string,
  input: { provider: Provider; key: string; label: string },
): Promise<MaskedKey> {
  await ensureKeysCreditsSchema(db);
  const id = newKeyId();
  const sealed = await vault.seal(input.key, { userId, recordId: id });
  const row: KeyRow = {
    id,
    user_id: userId,
    provider: input.provider,
    label: input.label,
    last4: input.key.slice(-4),
    ciphertext: sealed,
    kid: vault.currentId,
    created: new Date().toISOString(),
    last_used: null,
  };
  await db
    .prepare(
      "INSERT INTO provider_keys (id, user_id, provider, label, last4, ciphertext, kid, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(row.id, row.user_id, row.provider, row.label, row.last4, row.ciphertext, row.kid, row.created)
    .run();
  return mask(row);
}

/** A user's keys, newest first, masked. */
export async function listKeys(db: D1Database, userId: string): Promise<MaskedKey[]> {
  await ensureKeysCreditsSchema(db);
  const { results } = await db
    .prepare("SELECT * FROM provider_keys WHERE user_id = ? ORDER BY created DESC, id DESC")
    .bind(userId)
    .all<KeyRow>();
  return results.map(mask);
}

/** Deletes a user's key; false when the user has no key with that id (another user's included). */
export async function deleteKey(db: D1Database, userId: string, id: string): Promise<boolean> {
  await ensureKeysCreditsSchema(db);
  const res = await db
    .prepare("DELETE FROM provider_keys WHERE id = ? AND user_id = ?")
    .bind(id, userId)
    .run();
  return res.meta.changes > 0;
}

/** True when the user has stored a key for `provider` (no decryption). */
export async function hasKey(db: D1Database, userId: string, provider: Provider): Promise<boolean> {
  await ensureKeysCreditsSchema(db);
  const row = await db
    .prepare("SELECT 1 AS one FROM provider_keys WHERE user_id = ? AND provider = ? LIMIT 1")
    .bind(userId, provider)
    .first();
  return row !== null;
}

/**
 * Decrypts one key for an outbound call and records its use. `id` picks a record (the test route);
 * without it the user's newest key for `provider` is used. Call it only in the object that makes
 * the outbound call, and let the plaintext go out of scope right after.
 */
export async function useKey(
  db: D1Database,
  vault: KeyVault,
  userId: string,
  select: { id: string } | { provider: Provider },
): Promise<Result<{ key: string; record: MaskedKey }>> {
  await ensureKeysCreditsSchema(db);
  const row =
    "id" in select
      ? await db
          .prepare("SELECT * FROM provider_keys WHERE id = ? AND user_id = ?")
          .bind(select.id, userId)
          .first<KeyRow>()
      : await db
          .prepare(
            "SELECT * FROM provider_keys WHERE user_id = ? AND provider = ? ORDER BY created DESC, id DESC LIMIT 1",
          )
          .bind(userId, select.provider)
          .first<KeyRow>();
  if (!row) return err(ErrorCode.NotFound, "id" in select ? `no key ${select.id}` : "no stored key");
  const key = await vault.open(row.ciphertext, { userId, recordId: row.id });
  if (!key.ok) return key;
  const used = new Date().toISOString();
  await db.prepare("UPDATE provider_keys SET last_used = ? WHERE id = ?").bind(used, row.id).run();
  return ok({ key: key.value, record: mask({ ...row, last_used: used }) });
}

/**
 * Platform secret rotation: re-encrypts every stored key (of one user, with `userId`) not made with
 * the vault's current secret.
 * Each row is updated only if its ciphertext is still the one read (a concurrent delete or rotate
 * wins), so it is safe to run while the API serves. Rows that fail to decrypt are counted, not
 * changed, so an operator sees them instead of losing them.
 *
 * @example
 * // PLATFORM_SECRET="k2:<new>,k1:<old>"
 * const r = await rotateAll(env.DB, vault); // { rotated: 12, failed: 0 }
 * // then PLATFORM_SECRET="k2:<new>"
 */
export async function rotateAll(
  db: D1Database,
  vault: KeyVault,
  opts: { userId?: string } = {},
): Promise<{ rotated: number; failed: number }> {
  await ensureKeysCreditsSchema(db);
  const { results } = await db
    .prepare(
      "SELECT id, user_id, ciphertext FROM provider_keys WHERE kid <> ?1 AND (?2 IS NULL OR user_id = ?2)",
    )
    .bind(vault.currentId, opts.userId ?? null)
    .all<Pick<KeyRow, "id" | "user_id" | "ciphertext">>();
  let rotated = 0;
  let failed = 0;
  for (const row of results) {
    const sealed = await vault.reseal(row.ciphertext, { userId: row.user_id, recordId: row.id });
    if (!sealed.ok) {
      failed++;
      continue;
    }
    const res = await db
      .prepare("UPDATE provider_keys SET ciphertext = ?, kid = ? WHERE id = ? AND ciphertext = ?")
      .bind(sealed.value, vault.currentId, row.id, row.ciphertext)
      .run();
    rotated += res.meta.changes;
  }
  return { rotated, failed };
}
