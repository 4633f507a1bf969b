import { randomToken, sha256Hex } from "./crypto.ts";
import { applyOnce } from "./db/apply-once.ts";

/**
 * The D1 table of machine tokens, the same statements as `migrations/0002_tunnel.sql` (a test keeps
 * them equal). Created on first use, like the base schema.
 */
export const TUNNEL_SCHEMA: readonly string[] = [
  "CREATE TABLE IF NOT EXISTS tunnel_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, label TEXT NOT NULL, allow_repos TEXT NOT NULL, max_tasks INTEGER NOT NULL, created TEXT NOT NULL, last_used TEXT);",
  "CREATE INDEX IF NOT EXISTS tunnel_tokens_user ON tunnel_tokens (user_id, created);",
];

/**
 * What the user allowed a machine when creating its token. The edge enforces it whatever the
 * machine claims: tasks go to the machine only when their repo matches `allowRepos` (globs, see
 * `repoMatches`) and the machine runs fewer than `maxTasks` of them.
 */
export interface MachinePolicy {
  allowRepos: string[];
  maxTasks: number;
}

/** A machine token as lists show it (the secret itself is never stored). */
export interface MachineToken extends MachinePolicy {
  id: string;
  label: string;
  created: string;
  lastUsed: string | null;
}

interface TokenRow {
  id: string;
  user_id: string;
  label: string;
  allow_repos: string;
  max_tasks: number;
  created: string;
  last_used: string | null;
}

/**
 * Creates the machine-token table if it is missing, once per database binding per isolate.
 *
 * @example
 * await ensureTunnelSchema(env.DB);
 */
export const ensureTunnelSchema = applyOnce(TUNNEL_SCHEMA);

const toToken = (row: TokenRow): MachineToken => ({
  id: row.id,
  label: row.label,
  allowRepos: JSON.parse(row.allow_repos) as string[],
  maxTasks: row.max_tasks,
  created: row.created,
  lastUsed: row.last_used,
});

/** A machine token id: `m_` and 16 hex digits. */
export const isMachineTokenId = (value: string): boolean => /^m_[0-9a-f]{16}$/.test(value);

/**
 * Creates a machine token and returns it with its secret, the one moment the secret exists in clear.
 *
 * @example
 * const { token, secret } = await createMachineToken(env.DB, user.id, { label: "laptop", allowRepos: ["**"], maxTasks: 2 });
 */
export async function createMachineToken(
  db: D1Database,
  userId: string,
  init: MachinePolicy & { label: string },
): Promise<{ token: MachineToken; secret: string }> {
  const secret = randomToken("oam_");
  const id = `m_${randomToken().slice(0, 16)}`;
  const created = new Date().toISOString();
  await db
    .prepare(
      "INSERT INTO tunnel_tokens (id, hash, user_id, label, allow_repos, max_tasks, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(
      id,
      await sha256Hex(secret),
      userId,
      init.label,
      JSON.stringify(init.allowRepos),
      init.maxTasks,
      created,
    )
    .run();
  return {
    token: {
      id,
      label: init.label,
      allowRepos: init.allowRepos,
      maxTasks: init.maxTasks,
      created,
      lastUsed: null,
    },
    secret,
  };
}

/** A user's machine tokens, oldest first. */
export async function listMachineTokens(db: D1Database, userId: string): Promise<MachineToken[]> {
  const { results } = await db
    .prepare("SELECT * FROM tunnel_tokens WHERE user_id = ? ORDER BY created, id")
    .bind(userId)
    .all<TokenRow>();
  return results.map(toToken);
}

/** Deletes a machine token of `userId`; false when there was none (or it is another user's). */
export async function deleteMachineToken(db: D1Database, userId: string, id: string): Promise<boolean> {
  const r = await db.prepare("DELETE FROM tunnel_tokens WHERE id = ? AND user_id = ?").bind(id, userId).run();
  return (r.meta.changes ?? 0) > 0;
}

/** The machine token a secret belongs to, with its user, or null; records the use. */
export async function machineTokenFor(
  db: D1Database,
  secret: string,
): Promise<(MachineToken & { userId: string }) | null> {
  const row = await db
    .prepare("SELECT * FROM tunnel_tokens WHERE hash = ?")
    .bind(await sha256Hex(secret))
    .first<TokenRow>();
  if (!row) return null;
  const lastUsed = new Date().toISOString();
  await db.prepare("UPDATE tunnel_tokens SET last_used = ? WHERE id = ?").bind(lastUsed, row.id).run();
  return { ...toToken(row), lastUsed, userId: row.user_id };
}
