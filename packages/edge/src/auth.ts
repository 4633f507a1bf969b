import { ErrorCode } from "@openagents/protocol";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app-env.ts";
import { ensureSchema } from "./db/schema.ts";
import { seedLocalUser, userForSession, userForToken } from "./db/users.ts";
import { HttpError } from "./http-error.ts";

/** Name of the browser session cookie (HttpOnly, SameSite=Strict). */
export const SESSION_COOKIE = "oa_session";

const seeded = new Map<string, Promise<void>>();

/**
 * Runs before every `/api` route: the D1 schema exists and, on a local stack, the local user
 * holds `LOCAL_TOKEN` (both once per isolate).
 */
export const prepare = createMiddleware<AppEnv>(async (c, next) => {
  await ensureSchema(c.env.DB);
  const token = c.env.LOCAL_TOKEN;
  if (token) {
    let done = seeded.get(token);
    if (!done) {
      done = seedLocalUser(c.env.DB, token);
      done.catch(() => seeded.delete(token));
      seeded.set(token, done);
    }
    await done;
  }
  await next();
});

/**
 * Authenticates `Authorization: Bearer <token>` (CLI, scripts, WebSocket upgrades) or the session
 * cookie (browser). A cookie-authenticated request that names another origin is refused, so a
 * page elsewhere cannot drive the API with the user's cookie.
 *
 * @example
 * app.get("/api/me", requireUser, (c) => c.json(c.var.user));
 */
export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    const user = match ? await userForToken(c.env.DB, match[1]!) : null;
    if (!user) throw unauthorized("the bearer token is not valid");
    c.set("user", user);
    c.set("via", "token");
    return next();
  }
  const session = getCookie(c, SESSION_COOKIE);
  if (session) {
    const user = await userForSession(c.env.DB, session);
    if (!user) throw unauthorized("the session has expired; sign in again");
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== new URL(c.req.url).origin) {
      throw new HttpError(ErrorCode.Forbidden, "cross-origin requests cannot use the session cookie");
    }
    c.set("user", user);
    c.set("via", "session");
    return next();
  }
  throw unauthorized(
    "sign in: send Authorization: Bearer <token>, or a session cookie from POST /api/session",
  );
});

const unauthorized = (message: string) =>
  new HttpError(ErrorCode.Unauthorized, message, {
    headers: { "www-authenticate": 'Bearer realm="openagents"' },
  });
