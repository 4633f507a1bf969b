/** What `GET /api/auth/github` says: whether this server offers sign-in with GitHub, and where it starts. */
export interface GithubSignIn {
  configured: boolean;
  /** A path on this origin; the browser goes there (a full page load, GitHub comes back to `/`). */
  loginUrl: string;
}

/** Where the edge starts the sign-in, when its answer names nothing usable. */
export const GITHUB_LOGIN_PATH = "/api/auth/github/login";

/**
 * Reads `GET /api/auth/github`. Anything but `configured: true` hides the button, and only a path on
 * this origin is followed: a login link must not be able to send the user to another site.
 *
 * @example
 * toGithubSignIn({ configured: true, loginUrl: "/api/auth/github/login" });
 * // { configured: true, loginUrl: "/api/auth/github/login" }
 */
export function toGithubSignIn(raw: unknown): GithubSignIn {
  const o = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const url = o.loginUrl;
  // "/x" is this origin; "//host/x" and "/\host" are other sites to a browser.
  const sameOrigin = typeof url === "string" && /^\/(?![/\\])/.test(url);
  return { configured: o.configured === true, loginUrl: sameOrigin ? url : GITHUB_LOGIN_PATH };
}
