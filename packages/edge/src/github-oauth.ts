import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import type { GithubUser } from "./db/github.ts";
import type { GithubEnv } from "./github-env.ts";

/** A configured GitHub OAuth app: what the login and callback routes need. */
export interface GithubOauthConfig {
  clientId: string;
  clientSecret: string;
  /** `${PUBLIC_URL}/api/auth/github/callback`, registered as the app's callback URL. */
  redirectUri: string;
  oauthUrl: string;
  apiUrl: string;
  /** Where git fetches of `github.com` repositories go (the git egress). */
  gitUrl: string;
  /** Scopes asked for at sign-in. */
  scope: string;
}

/** The default scope: reading the profile (id, login, name); `GITHUB_SCOPE` adds `repo` for private repositories. */
export const GITHUB_SCOPE = "read:user";

const trimSlash = (url: string) => url.replace(/\/+$/, "");

/**
 * The OAuth app from the Worker's variables, or an error saying what is missing (a `not_found`,
 * since a stack without it simply has no GitHub sign-in). `requestUrl` gives the origin when
 * `PUBLIC_URL` is unset.
 *
 * @example
 * const config = githubConfig(c.env, c.req.url);
 * if (!config.ok) throw HttpError.from(config.error);
 */
export function githubConfig(env: GithubEnv, requestUrl: string): Result<GithubOauthConfig> {
  if (!env.GITHUB_CLIENT_ID) {
    return err(
      ErrorCode.NotFound,
      "GitHub login is not configured on this server (GITHUB_CLIENT_ID is unset)",
    );
  }
  if (!env.GITHUB_CLIENT_SECRET) {
    return err(
      ErrorCode.NotFound,
      "GitHub login is not configured on this server (the GITHUB_CLIENT_SECRET secret is unset)",
    );
  }
  const origin = trimSlash(env.PUBLIC_URL || new URL(requestUrl).origin);
  return ok({
    clientId: env.GITHUB_CLIENT_ID,
    clientSecret: env.GITHUB_CLIENT_SECRET,
    redirectUri: `${origin}/api/auth/github/callback`,
    oauthUrl: trimSlash(env.GITHUB_OAUTH_URL || "https://github.com"),
    apiUrl: trimSlash(env.GITHUB_API_URL || "https://api.github.com"),
    gitUrl: trimSlash(env.GITHUB_GIT_URL || "https://github.com"),
    scope: env.GITHUB_SCOPE?.trim() || GITHUB_SCOPE,
  });
}

/**
 * Where to send the browser to sign in at GitHub.
 *
 * @example
 * return c.redirect(authorizeUrl(config, state), 302);
 */
export function authorizeUrl(config: GithubOauthConfig, state: string): string {
  const url = new URL(`${config.oauthUrl}/login/oauth/authorize`);
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("redirect_uri", config.redirectUri);
  url.searchParams.set("scope", config.scope);
  url.searchParams.set("state", state);
  url.searchParams.set("allow_signup", "true");
  return url.toString();
}

// GitHub's API refuses requests without a User-Agent.
const USER_AGENT = "openagents-edge";

const refused = (message: string) => err(ErrorCode.Unauthorized, `GitHub sign-in failed: ${message}`);

/** What GitHub's token endpoint grants: expiring tokens (GitHub Apps) come with a refresh token. */
export interface GithubGrant {
  accessToken: string;
  /** Seconds the access token lives, or null when GitHub does not expire it (OAuth apps). */
  expiresIn: number | null;
  refreshToken: string | null;
  refreshTokenExpiresIn: number | null;
  scope: string;
}

const seconds = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : null;

/**
 * One call to `POST /login/oauth/access_token`. GitHub answers a bad code or refresh token with
 * HTTP 200 and `{error}`, so both the status and the body are checked. Only GitHub's error code
 * and description are echoed, never the request (it holds the client secret).
 */
async function tokenRequest(
  config: GithubOauthConfig,
  params: Record<string, string>,
  what: string,
): Promise<Result<GithubGrant>> {
  let res: Response;
  try {
    res = await fetch(`${config.oauthUrl}/login/oauth/access_token`, {
      method: "POST",
      headers: {
        accept: "application/json",
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": USER_AGENT,
      },
      body: new URLSearchParams({
        client_id: config.clientId,
        client_secret: config.clientSecret,
        ...params,
      }),
    });
  } catch (e) {
    return refused(`GitHub's token endpoint could not be reached (${(e as Error).message})`);
  }
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  const accessToken = body?.access_token;
  if (!res.ok || body === null || typeof accessToken !== "string" || accessToken === "") {
    const reason =
      typeof body?.error === "string"
        ? `${body.error}${typeof body.error_description === "string" ? `: ${body.error_description}` : ""}`
        : `HTTP ${res.status}`;
    return refused(`GitHub did not accept the ${what} (${reason})`);
  }
  return ok({
    accessToken,
    expiresIn: seconds(body.expires_in),
    refreshToken: typeof body.refresh_token === "string" && body.refresh_token ? body.refresh_token : null,
    refreshTokenExpiresIn: seconds(body.refresh_token_expires_in),
    scope: typeof body.scope === "string" ? body.scope : "",
  });
}

/**
 * Trades the callback's `code` for a grant (`POST /login/oauth/access_token`).
 *
 * @example
 * const grant = await exchangeCode(config, code);
 */
export function exchangeCode(config: GithubOauthConfig, code: string): Promise<Result<GithubGrant>> {
  return tokenRequest(config, { code, redirect_uri: config.redirectUri }, "authorization code");
}

/**
 * Trades a refresh token for a new grant (GitHub Apps' expiring user tokens); the old refresh token
 * is spent.
 *
 * @example
 * const grant = await refreshGrant(config, stored.refreshToken);
 */
export function refreshGrant(config: GithubOauthConfig, refreshToken: string): Promise<Result<GithubGrant>> {
  return tokenRequest(
    config,
    { grant_type: "refresh_token", refresh_token: refreshToken },
    "refresh token (sign in with GitHub again)",
  );
}

/**
 * Reads who signed in (`GET /user` with the access token).
 *
 * @example
 * const who = await fetchGithubUser(config, token);
 */
export async function fetchGithubUser(config: GithubOauthConfig, token: string): Promise<Result<GithubUser>> {
  let res: Response;
  try {
    res = await fetch(`${config.apiUrl}/user`, {
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${token}`,
        "user-agent": USER_AGENT,
        "x-github-api-version": "2022-11-28",
      },
    });
  } catch (e) {
    return refused(`GitHub's API could not be reached (${(e as Error).message})`);
  }
  if (!res.ok) return refused(`GitHub did not return the signed-in user (HTTP ${res.status})`);
  const body = (await res.json().catch(() => null)) as {
    id?: unknown;
    login?: unknown;
    name?: unknown;
  } | null;
  const id = body?.id;
  const login = body?.login;
  if (
    typeof id !== "number" ||
    !Number.isSafeInteger(id) ||
    id <= 0 ||
    typeof login !== "string" ||
    !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(login)
  ) {
    return refused("GitHub returned a user without a valid id and login");
  }
  const name = typeof body?.name === "string" && body.name !== "" ? body.name.slice(0, 200) : null;
  return ok({ id, login, name });
}
