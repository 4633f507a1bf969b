import { ErrorCode } from "@openagents/protocol";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env.ts";
import { requireUser, SESSION_COOKIE } from "../auth.ts";
import { createSession, deleteSession, SESSION_TTL_MS, userForToken } from "../db/users.ts";
import { HttpError } from "../http-error.ts";
import { readJson } from "../read-json.ts";

/**
 * Browser sign-in: `POST /api/session {token}` trades an API token for an HttpOnly,
 * SameSite=Strict session cookie (scripts keep using the token itself). `GET /api/me` tells a
 * client who it is.
 */
export const sessionRoutes = new Hono<AppEnv>();

sessionRoutes.post("/session", async (c) => {
  const body = await readJson(c.req.raw);
  if (!body.ok) throw HttpError.from(body.error);
  const token = (body.value as { token?: unknown } | null)?.token;
  if (typeof token !== "string" || token.length === 0 || token.length > 512) {
    throw new HttpError(ErrorCode.InvalidRequest, 'body must be {"token": "<API token>"}', { path: "token" });
  }
  const user = await userForToken(c.env.DB, token);
  if (!user) throw new HttpError(ErrorCode.Unauthorized, "the token is not valid");
  await startSession(c, user.id);
  return c.json({ user });
});

/**
 * Opens a browser session for a user and sets its cookie on the response (HttpOnly,
 * SameSite=Strict): what `POST /api/session` and the GitHub callback do once they know the user.
 *
 * @example
 * await startSession(c, user.id);
 */
export async function startSession(c: Context<AppEnv>, userId: string): Promise<void> {
  const secret = await createSession(c.env.DB, userId);
  setCookie(c, SESSION_COOKIE, secret, {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    // Browsers accept Secure cookies on http://localhost too, but not on other plain-http hosts.
    secure: new URL(c.req.url).protocol === "https:",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

sessionRoutes.delete("/session", async (c) => {
  const secret = getCookie(c, SESSION_COOKIE);
  if (secret) await deleteSession(c.env.DB, secret);
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
  return c.body(null, 204);
});

sessionRoutes.get("/me", requireUser, (c) => c.json({ ...c.var.user, via: c.var.via }));
