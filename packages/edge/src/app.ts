import { ErrorCode } from "@openagents/protocol";
import { Hono } from "hono";
import type { AppEnv } from "./app-env.ts";
import { prepare } from "./auth.ts";
import { egressRoutes } from "./egress.ts";
import { gitEgressRoutes } from "./git-egress.ts";
import { errorResponse, HttpError } from "./http-error.ts";
import { openApiDocument } from "./openapi.ts";
import { containerRoutes } from "./routes/container.ts";
import { creditRoutes } from "./routes/credits.ts";
import { githubAuthRoutes } from "./routes/github-auth.ts";
import { keyRoutes } from "./routes/keys.ts";
import { sessionRoutes } from "./routes/session.ts";
import { taskRoutes } from "./routes/tasks.ts";
import { tunnelRoutes } from "./routes/tunnel.ts";
import { serveWeb } from "./web-fallback.ts";

/**
 * The edge Worker's HTTP app: `/api/*` routes (one group per file under `routes/`), JSON errors
 * everywhere, and the web app for every other path.
 *
 * @example
 * export default createApp();
 */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.onError((e, c) => {
    if (e instanceof HttpError) {
      const error =
        e.path === undefined
          ? { code: e.code, message: e.message }
          : { code: e.code, message: e.message, path: e.path };
      return errorResponse(error, e.headers);
    }
    // A bug or an outage, not the caller's input: log it, say nothing internal.
    console.error(`${c.req.method} ${new URL(c.req.url).pathname}: ${(e as Error).stack ?? e}`);
    return errorResponse({ code: ErrorCode.Internal, message: "internal error" });
  });

  app.get("/api/openapi.json", (c) => c.json(openApiDocument));
  app.route("/egress/git", gitEgressRoutes);
  app.route("/egress", egressRoutes);
  app.use("/api/*", prepare);
  app.route("/api", sessionRoutes);
  app.route("/api", githubAuthRoutes);
  app.route("/api", taskRoutes);
  app.route("/api", containerRoutes);
  app.route("/api", keyRoutes);
  app.route("/api", creditRoutes);
  app.route("/api", tunnelRoutes);

  app.notFound((c) => {
    const { pathname } = new URL(c.req.url);
    if (pathname === "/api" || pathname.startsWith("/api/")) {
      return errorResponse({ code: ErrorCode.NotFound, message: `no route ${c.req.method} ${pathname}` });
    }
    return serveWeb(c.req.raw, c.env);
  });

  return app;
}
