import { randomToken, sha256Hex } from "../crypto.ts";

export interface User {
  id: string;
  login: string;
  name: string | null;
}

/** The one user of a local stack (`openagents up`). */
export const LOCAL_USER_ID = "local";

/** Browser sessions last this long. */
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

const now = () => new Date().toISOString();

/**
 * Creates a user. Production creates users from GitHub OAuth (see README); tests create them directly.
 *
 * @example
 * const user = await createUser(env.DB, "octocat");
 */
export async function createUser(db: D1Database, login: string, opts: { id?: string; name?: string } = {}) {
  const user: User = { id: opts.id ?? crypto.randomUUID(), login, name: opts.name ?? null };
  await db
    .prepare("INSERT INTO users (id, login, name, created) VALUES (?, ?, ?, ?)")
    .bind(user.id, user.login, user.name, now())
    .run();
  return user;
}

/**
 * Issues an API token for a user and returns it; only its hash is stored, so this is the one
 * moment the token exists in clear.
 *
 * @example
 * const token = await issueToken(env.DB, user.id, "laptop");
 */
export async function issueToken(db: D1Database, userId: string, label: string): Promise<string> {
  const token = randomToken("oa_");
  await db
    .prepare("INSERT INTO api_tokens (hash, user_id, label, created) VALUES (?, ?, ?, ?)")
    .bind(await sha256Hex(token), userId, label, now())
    .run();
  return token;
}

/**
 * Makes sure the local user exists and that `token` (from `openagents up`) is one of its tokens.
 * Idempotent, so it can run on every cold start.
 */
export async function seedLocalUser(db: D1Database, token: string): Promise<void> {
  const created = now();
  await db.batch([
    db
      .prepare("INSERT OR IGNORE INTO users (id, login, name, created) VALUES (?, 'local', 'Local user', ?)")
      .bind(LOCAL_USER_ID, created),
    db
      .prepare(
        "INSERT OR IGNORE INTO api_tokens (hash, user_id, label, created) VALUES (?, ?, 'openagents up', ?)",
      )
      .bind(await sha256Hex(token), LOCAL_USER_ID, created),
  ]);
}

/** The user an API token belongs to, or null. */
export async function userForToken(db: D1Database, token: string): Promise<User | null> {
  return db
    .prepare(
      "SELECT u.id, u.login, u.name FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
    )
    .bind(await sha256Hex(token))
    .first<User>();
}

/** Opens a browser session for a user; returns the session secret that goes into the cookie. */
export async function createSession(db: D1Database, userId: string): Promise<string> {
  const secret = randomToken("s_");
  const created = new Date();
  await db
    .prepare("INSERT INTO sessions (hash, user_id, created, expires) VALUES (?, ?, ?, ?)")
    .bind(
      await sha256Hex(secret),
      userId,
      created.toISOString(),
      new Date(created.getTime() + SESSION_TTL_MS).toISOString(),
    )
    .run();
  return secret;
}

/** The user of a live (unexpired) session, or null. */
export async function userForSession(db: D1Database, secret: string): Promise<User | null> {
  return db
    .prepare(
      "SELECT u.id, u.login, u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires > ?",
    )
    .bind(await sha256Hex(secret), now())
    .first<User>();
}

/** Ends a session (logout). */
export async function deleteSession(db: D1Database, secret: string): Promise<void> {
  await db
    .prepare("DELETE FROM sessions WHERE hash = ?")
    .bind(await sha256Hex(secret))
    .run();
}
