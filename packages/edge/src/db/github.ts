import { sha256Hex } from "../crypto.ts";
import { applyOnce } from "./apply-once.ts";
import type { User } from "./users.ts";

/**
 * The D1 statements of GitHub sign-in, the same as `migrations/0004_github.sql` (a test keeps them
 * equal). Applied on first use like the other schemas, so local stacks and tests need no migration step.
 */
export const GITHUB_SCHEMA: readonly string[] = [
  "CREATE TABLE IF NOT EXISTS oauth_states (hash TEXT PRIMARY KEY, created TEXT NOT NULL, expires TEXT NOT NULL);",
  "CREATE INDEX IF NOT EXISTS oauth_states_expires ON oauth_states (expires);",
];

/** How long a sign-in may take between leaving for GitHub and coming back. */
export const OAUTH_STATE_TTL_MS = 10 * 60 * 1000;

/**
 * Creates the OAuth state table if it is missing, once per database binding per isolate.
 *
 * @example
 * await ensureGithubSchema(env.DB);
 */
export const ensureGithubSchema = applyOnce(GITHUB_SCHEMA);

/**
 * Remembers a new OAuth state (its hash) for `OAUTH_STATE_TTL_MS`, and forgets expired ones.
 *
 * @example
 * await saveOauthState(env.DB, state);
 */
export async function saveOauthState(db: D1Database, state: string, now = new Date()): Promise<void> {
  await ensureGithubSchema(db);
  const created = now.toISOString();
  await db.batch([
    db.prepare("DELETE FROM oauth_states WHERE expires <= ?").bind(created),
    db
      .prepare("INSERT INTO oauth_states (hash, created, expires) VALUES (?, ?, ?)")
      .bind(await sha256Hex(state), created, new Date(now.getTime() + OAUTH_STATE_TTL_MS).toISOString()),
  ]);
}

/**
 * Consumes an OAuth state: true once for a state saved less than `OAUTH_STATE_TTL_MS` ago, false
 * afterwards (so a callback URL cannot be replayed) and for states never issued.
 *
 * @example
 * if (!(await takeOauthState(env.DB, state))) throw new HttpError(ErrorCode.InvalidRequest, "expired");
 */
export async function takeOauthState(db: D1Database, state: string, now = new Date()): Promise<boolean> {
  await ensureGithubSchema(db);
  const row = await db
    .prepare("DELETE FROM oauth_states WHERE hash = ? AND expires > ? RETURNING hash")
    .bind(await sha256Hex(state), now.toISOString())
    .first<{ hash: string }>();
  return row !== null;
}

/** Who GitHub says signed in (`GET /user`). */
export interface GithubUser {
  id: number;
  login: string;
  name: string | null;
}

const UPSERT =
  "INSERT INTO users (id, login, name, github_id, created) VALUES (?, ?, ?, ?, ?) " +
  "ON CONFLICT (github_id) DO UPDATE SET login = excluded.login, name = excluded.name " +
  "RETURNING id, login, name";

/**
 * The user of a GitHub account: found by `github_id` (login and name refreshed from GitHub) or
 * created. GitHub logins can be renamed and reused, so when another user already holds the login
 * here, this one becomes `<login>-<github id>` rather than failing the sign-in.
 *
 * @example
 * const user = await upsertGithubUser(env.DB, { id: 583231, login: "octocat", name: "The Octocat" });
 */
export async function upsertGithubUser(db: D1Database, gh: GithubUser): Promise<User> {
  const created = new Date().toISOString();
  const attempt = (login: string) =>
    db.prepare(UPSERT).bind(crypto.randomUUID(), login, gh.name, gh.id, created).first<User>();
  let user: User | null;
  try {
    user = await attempt(gh.login);
  } catch (e) {
    if (!/UNIQUE constraint failed: users\.login/.test(String(e))) throw e;
    user = await attempt(`${gh.login}-${gh.id}`);
  }
  if (!user) throw new Error(`upsert of GitHub user ${gh.id} returned no row`);
  return user;
}
