import { ErrorCode } from "@openagents/protocol";
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import { randomToken } from "../crypto.ts";
import { OAUTH_STATE_TTL_MS, saveOauthState, takeOauthState, upsertGithubUser } from "../db/github.ts";
import { deleteGithubTokens, githubTokenStatus } from "../db/github-tokens.ts";
import { keepGithubGrant } from "../github-access.ts";
import { authorizeUrl, exchangeCode, fetchGithubUser, githubConfig } from "../github-oauth.ts";
import { HttpError } from "../http-error.ts";
import { startSession } from "./session.ts";

/** Cookie binding a sign-in to the browser that started it (the random `state`, in clear only here). */
export const OAUTH_STATE_COOKIE = "oa_oauth_state";
const COOKIE_PATH = "/api/auth/github";

/**
 * Sign-in with GitHub (production). `GET /api/auth/github/login` sends the browser to GitHub with a
 * fresh `state` (hash in D1, value in a short-lived HttpOnly cookie); GitHub sends it back to
 * `GET /api/auth/github/callback?code&state`, which checks the state, trades the code for a token,
 * reads `GET /user`, finds or creates the user by GitHub id, opens a session like
 * `POST /api/session` and redirects to `/`. The GitHub token is kept sealed (github-access.ts) for
 * the git egress, for `GITHUB_TOKEN_TTL` at most, and never leaves the Worker.
 */
export const githubAuthRoutes = new Hono<AppEnv>();

/** `GET /api/auth/github`: whether this server offers GitHub sign-in (the login page shows the button). */
githubAuthRoutes.get("/auth/github", (c) =>
  c.json({ configured: githubConfig(c.env, c.req.url).ok, loginUrl: "/api/auth/github/login" }),
);

githubAuthRoutes.get("/auth/github/login", async (c) => {
  const config = githubConfig(c.env, c.req.url);
  if (!config.ok) throw HttpError.from(config.error);
  const state = randomToken();
  await saveOauthState(c.env.DB, state);
  setCookie(c, OAUTH_STATE_COOKIE, state, {
    httpOnly: true,
    // Lax, not Strict: the cookie must come back on GitHub's top-level redirect to the callback.
    sameSite: "Lax",
    path: COOKIE_PATH,
    secure: new URL(c.req.url).protocol === "https:",
    maxAge: Math.floor(OAUTH_STATE_TTL_MS / 1000),
  });
  c.header("cache-control", "no-store");
  return c.redirect(authorizeUrl(config.value, state), 302);
});

githubAuthRoutes.get("/auth/github/callback", async (c) => {
  const config = githubConfig(c.env, c.req.url);
  if (!config.ok) throw HttpError.from(config.error);
  const expected = getCookie(c, OAUTH_STATE_COOKIE);
  // Whatever happens next, this state is spent: the browser must start a new sign-in.
  deleteCookie(c, OAUTH_STATE_COOKIE, { path: COOKIE_PATH });
  c.header("cache-control", "no-store");
  const denied = c.req.query("error");
  if (denied !== undefined) {
    const why = c.req.query("error_description");
    throw new HttpError(
      ErrorCode.Unauthorized,
      `GitHub sign-in was not completed (${denied}${why ? `: ${why}` : ""})`,
    );
  }
  const state = c.req.query("state");
  if (!expected) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      "the sign-in cookie is missing or expired; start again at /api/auth/github/login",
    );
  }
  if (!state || state !== expected) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      "the sign-in state does not match this browser's; start again",
      {
        path: "state",
      },
    );
  }
  if (!(await takeOauthState(c.env.DB, state))) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      "the sign-in state has expired or was already used; start again",
      {
        path: "state",
      },
    );
  }
  const code = c.req.query("code");
  if (!code || code.length > 512) {
    throw new HttpError(ErrorCode.InvalidRequest, "the callback has no authorization code", { path: "code" });
  }
  const grant = await exchangeCode(config.value, code);
  if (!grant.ok) throw HttpError.from(grant.error);
  const who = await fetchGithubUser(config.value, grant.value.accessToken);
  if (!who.ok) throw HttpError.from(who.error);
  const user = await upsertGithubUser(c.env.DB, who.value);
  // Sealed, for cloning the user's private repositories through the git egress (git-egress.ts).
  await keepGithubGrant(c.env, user.id, grant.value);
  await startSession(c, user.id);
  return c.redirect("/", 302);
});

/** `GET /api/auth/github/token`: whether the platform holds a GitHub token for the user (never the token). */
githubAuthRoutes.get("/auth/github/token", requireUser, async (c) =>
  c.json(await githubTokenStatus(c.env.DB, c.var.user.id)),
);

/** `DELETE /api/auth/github/token`: forgets the user's GitHub token; private repositories need a new sign-in. */
githubAuthRoutes.delete("/auth/github/token", requireUser, async (c) => {
  await deleteGithubTokens(c.env.DB, c.var.user.id);
  return c.body(null, 204);
});
