import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import { deleteGithubTokens, loadGithubTokens, saveGithubTokens } from "./db/github-tokens.ts";
import { parseDuration } from "./duration.ts";
import type { Env } from "./env.ts";
import type { GithubEnv } from "./github-env.ts";
import { type GithubGrant, type GithubOauthConfig, githubConfig, refreshGrant } from "./github-oauth.ts";
import { KeyVault } from "./key-vault.ts";

/** A repository on github.com, as a task names it. */
export interface GithubRepo {
  owner: string;
  name: string;
}

const GITHUB_REPO = /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/i;

/**
 * The GitHub repository a task's `repo` names (`https://github.com/<owner>/<name>[.git]`), or null.
 *
 * @example
 * githubRepoOf("https://github.com/acme/app.git"); // { owner: "acme", name: "app" }
 */
export function githubRepoOf(repo: string): GithubRepo | null {
  const m = GITHUB_REPO.exec(repo.trim());
  return m ? { owner: m[1]!, name: m[2]! } : null;
}

/** True when both name the same repository (GitHub's names are case-insensitive). */
export const sameRepo = (a: GithubRepo, b: GithubRepo): boolean =>
  a.owner.toLowerCase() === b.owner.toLowerCase() && a.name.toLowerCase() === b.name.toLowerCase();

const DEFAULT_TTL_MS = 8 * 3_600_000;

/**
 * Keeps the token GitHub granted at sign-in, sealed, for at most `GITHUB_TOKEN_TTL` (default 8 h) or
 * GitHub's own expiry when shorter. Without a platform secret nothing is kept (private repositories
 * then cannot be cloned; sign-in still works).
 *
 * @example
 * await keepGithubGrant(c.env, user.id, grant.value);
 */
export async function keepGithubGrant(env: Env, userId: string, grant: GithubGrant): Promise<void> {
  const vault = KeyVault.fromEnv(env);
  if (!vault.ok) return;
  const now = Date.now();
  const ttl = parseDuration(env.GITHUB_TOKEN_TTL, DEFAULT_TTL_MS);
  const lifetime = Math.min(ttl, grant.expiresIn === null ? ttl : grant.expiresIn * 1000);
  await saveGithubTokens(env.DB, vault.value, userId, {
    accessToken: grant.accessToken,
    expires: new Date(now + lifetime).toISOString(),
    refreshToken: grant.refreshToken,
    refreshExpires:
      grant.refreshToken === null
        ? null
        : new Date(now + (grant.refreshTokenExpiresIn ?? 180 * 86_400) * 1000).toISOString(),
    scope: grant.scope,
  });
}

/**
 * The GitHub token the platform may use for `userId` now: the stored one while it is fresh, else a
 * refreshed one (GitHub Apps), else null (none kept, or expired for good, which also forgets it).
 * Decrypted only in the caller's memory; never logged or returned by the API.
 *
 * @example
 * const token = await githubTokenFor(env, userId);
 */
export async function githubTokenFor(env: Env, userId: string, requestUrl: string): Promise<string | null> {
  const vault = KeyVault.fromEnv(env);
  if (!vault.ok) return null;
  const stored = await loadGithubTokens(env.DB, vault.value, userId);
  if (!stored) return null;
  const now = new Date().toISOString();
  if (stored.expires > now) return stored.accessToken;
  const config = githubConfig(env, requestUrl);
  if (!config.ok || !stored.refreshToken || (stored.refreshExpires ?? "") <= now) {
    await deleteGithubTokens(env.DB, userId);
    return null;
  }
  const grant = await refreshGrant(config.value, stored.refreshToken);
  if (!grant.ok) {
    await deleteGithubTokens(env.DB, userId);
    return null;
  }
  await keepGithubGrant(env, userId, grant.value);
  return grant.value.accessToken;
}

/**
 * Whether the user can read `repo` on GitHub (`GET /repos/:owner/:name` with their token, or without
 * one for public repositories): refused as `repo_not_found` when GitHub does not show it to them.
 * Unreachable GitHub is not a refusal: the clone will say what went wrong.
 *
 * @example
 * const access = await checkRepoAccess(config, token, { owner: "acme", name: "app" });
 */
export async function checkRepoAccess(
  config: GithubOauthConfig,
  token: string | null,
  repo: GithubRepo,
): Promise<Result<true>> {
  let res: Response;
  try {
    res = await fetch(
      `${config.apiUrl}/repos/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}`,
      {
        headers: {
          accept: "application/vnd.github+json",
          "user-agent": "openagents-edge",
          "x-github-api-version": "2022-11-28",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
    );
  } catch {
    return ok(true);
  }
  await res.body?.cancel();
  if (res.status === 404 || res.status === 403 || res.status === 401) {
    return err(
      ErrorCode.RepoNotFound,
      token
        ? `repository not found: github.com/${repo.owner}/${repo.name} does not exist or your GitHub account cannot read it`
        : `repository not found: github.com/${repo.owner}/${repo.name} is not public; sign in with GitHub to use private repositories`,
    );
  }
  return ok(true);
}

/**
 * The task-start check for GitHub repositories on a server with GitHub sign-in: the repository must
 * be one the user can read. Other repositories, and servers without GitHub sign-in, pass.
 *
 * @example
 * const access = await checkTaskRepo(c.env, user.id, task.repo, c.req.url);
 * if (!access.ok) throw HttpError.from(access.error);
 */
export async function checkTaskRepo(
  env: Env & GithubEnv,
  userId: string,
  repo: string,
  requestUrl: string,
): Promise<Result<true>> {
  const gh = githubRepoOf(repo);
  const config = githubConfig(env, requestUrl);
  if (!gh || !config.ok) return ok(true);
  return checkRepoAccess(config.value, await githubTokenFor(env, userId, requestUrl), gh);
}
