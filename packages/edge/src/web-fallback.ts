import type { Env } from "./env.ts";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenAgents Compute</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>OpenAgents Compute</h1>
<p>The API is up, but the web app has not been built (<code>packages/web/dist</code> is missing).
Build it with <code>npm run build -w @openagents/web</code>, or use the API directly:
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
`;

/**
 * Serves the web app from the assets binding, and a small page that points at the API when the
 * app is not built, so a fresh checkout never answers with a bare 404.
 *
 * @example
 * if (!url.pathname.startsWith("/api/")) return serveWeb(request, env);
 */
export async function serveWeb(request: Request, env: Env): Promise<Response> {
  if (env.ASSETS) {
    const res = await env.ASSETS.fetch(request);
    if (res.status !== 404) return res;
  }
  const wantsPage =
    request.method === "GET" && (request.headers.get("accept") ?? "text/html").includes("text/html");
  if (!wantsPage) return new Response("not found\n", { status: 404 });
  return new Response(PAGE, { status: 200, headers: { "content-type": "text/html; charset=utf-8" } });
}
