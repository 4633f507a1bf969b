/** The bindings GitHub sign-in reads; part of the Worker's `Env` (env.ts). See README "Sign-in with GitHub". */
export interface GithubEnv {
  /** Client ID of the GitHub OAuth app (a var). Unset: GitHub sign-in answers 404 (local stacks use tokens). */
  GITHUB_CLIENT_ID?: string;
  /** Client secret of the OAuth app: `wrangler secret put GITHUB_CLIENT_SECRET`. Never sent to a browser. */
  GITHUB_CLIENT_SECRET?: string;
  /** Public origin of this Worker, e.g. `https://openagents.example`; the OAuth callback is `${PUBLIC_URL}/api/auth/github/callback`. Default: the request's origin. */
  PUBLIC_URL?: string;
  /** Base URL of GitHub's OAuth endpoints (default `https://github.com`; tests point it at a scripted GitHub). */
  GITHUB_OAUTH_URL?: string;
  /** Base URL of GitHub's REST API (default `https://api.github.com`). */
  GITHUB_API_URL?: string;
  /** Base URL git fetches of `github.com` repositories go to from the git egress (default `https://github.com`). */
  GITHUB_GIT_URL?: string;
  /**
   * OAuth scopes asked for (default `read:user`). An OAuth app needs `read:user repo` for private
   * repositories; a GitHub App ignores scopes (its permissions apply, e.g. Contents: read-only).
   */
  GITHUB_SCOPE?: string;
  /** How long a user's GitHub token is kept and used at most, e.g. "8h" (default; GitHub Apps' own expiry wins when shorter). */
  GITHUB_TOKEN_TTL?: string;
}
