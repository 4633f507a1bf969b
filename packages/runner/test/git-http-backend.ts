import { spawn } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Serves one smart-HTTP git request with real git (`git http-backend`, the CGI program git ships):
 * `repoDir` is the bare repository, `rest` what follows `<repo>.git/` in the URL (`info/refs`,
 * `git-upload-pack`, …). Tests put their own authentication in front of it, the way GitHub does.
 *
 * @example
 * if (url.pathname.startsWith("/acme/app.git/")) return gitHttpBackend(req, res, bare, "info/refs");
 */
export function gitHttpBackend(
  req: IncomingMessage,
  res: ServerResponse,
  repoDir: string,
  rest: string,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://git.test");
  const child = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_PROJECT_ROOT: repoDir,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: `/${rest}`,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? "GET",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_ADDR: "127.0.0.1",
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  req.pipe(child.stdin);
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    child.on("close", () => {
      if (!headersDone) res.writeHead(500).end("git http-backend failed");
      else res.end();
      resolve();
    });
  });
}
