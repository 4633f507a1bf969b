import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { type AppError, ErrorCode, httpStatus, parseTask } from "@openagents/protocol";
import type { TaskManager } from "@openagents/runner";
import { WebSocketServer } from "ws";

/**
 * A small stand-in for the edge Worker, for the browser test until `openagents up` exists: it serves
 * `dist/` and speaks the edge HTTP API (ARCHITECTURE.md §4: session cookie, tasks, WebSocket events
 * with `?after=N`, container state) on top of a real runner `TaskManager`. The WebSocket closes
 * after each `result`, as the runner's does, so the app's reconnect-for-a-follow-up path runs too
 * (the real edge keeps it open; the app handles both).
 */
export interface TestEdge {
  url: string;
  /** `after` of every WebSocket the browser opened, in order. */
  readonly socketAfters: number[];
  /** Kills every open event stream without a close frame (a dropped network). */
  dropSockets(): number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".map": "application/json",
};

const COOKIE = "oa_session";

export async function startTestEdge(opts: {
  manager: TaskManager;
  token: string;
  distDir: string;
}): Promise<TestEdge> {
  const { manager, distDir } = opts;
  const sessions = new Set<string>();
  const socketAfters: number[] = [];
  const wss = new WebSocketServer({ noServer: true });
  let started = false;

  const sameToken = (t: string) => {
    const a = Buffer.from(t);
    const b = Buffer.from(opts.token);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const authed = (req: IncomingMessage) => {
    const cookie = /(?:^|;\s*)oa_session=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    return (cookie !== undefined && sessions.has(cookie)) || (bearer !== undefined && sameToken(bearer));
  };
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, error: AppError) => send(res, httpStatus[error.code], { error });
  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return undefined;
    }
  };
  const summary = (h: ReturnType<TaskManager["list"]>[number]) => ({
    id: h.id,
    status: h.state(),
    created: h.createdAt,
    repo: h.task.repo,
    agent: h.task.agent,
    compute: h.task.compute ?? "cloud",
    title: (h.task.prompt ?? h.task.script ?? "").split("\n", 1)[0],
    lastSeq: h.log.lastSeq,
  });

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const p = url.pathname;
    const method = req.method ?? "GET";
    if (p === "/api/session" && method === "POST") {
      const body = await readBody(req);
      const token = (body as { token?: unknown } | undefined)?.token;
      if (typeof token !== "string" || !sameToken(token)) {
        return fail(res, { code: ErrorCode.Unauthorized, message: "the token is not valid" });
      }
      const secret = randomBytes(24).toString("hex");
      sessions.add(secret);
      return send(
        res,
        200,
        { user: { id: "local" } },
        {
          "set-cookie": `${COOKIE}=${secret}; HttpOnly; SameSite=Strict; Path=/`,
        },
      );
    }
    if (!authed(req)) return fail(res, { code: ErrorCode.Unauthorized, message: "log in first" });
    if (p === "/api/me") return send(res, 200, { id: "local" });
    if (p === "/api/container") return send(res, 200, { state: started ? "running" : "cold" });
    if (p === "/api/tasks" && method === "GET") {
      return send(res, 200, { tasks: manager.list().map(summary).reverse() });
    }
    if (p === "/api/task/start" && method === "POST") {
      const task = parseTask(await readBody(req));
      if (!task.ok) return fail(res, task.error);
      if ((task.value.compute ?? "cloud") !== "cloud") {
        return fail(res, { code: ErrorCode.InvalidTask, message: "only cloud", path: "compute" });
      }
      started = true;
      return send(res, 201, { id: manager.start(task.value).id });
    }
    const m = /^\/api\/tasks\/([^/]+)(?:\/(cancel|messages))?$/.exec(p);
    const handle = m ? manager.get(m[1]!) : undefined;
    if (!m || !handle) return fail(res, { code: ErrorCode.NotFound, message: `no route or task ${p}` });
    if (m[2] === "cancel") {
      handle.cancel("cancelled by request");
      return send(res, 202, { id: handle.id, status: handle.state() });
    }
    if (m[2] === "messages") {
      const prompt = (await readBody(req)) as { prompt?: unknown } | undefined;
      if (typeof prompt?.prompt !== "string" || prompt.prompt.trim() === "") {
        return fail(res, { code: ErrorCode.InvalidRequest, message: "prompt must be a non-empty string" });
      }
      const after = handle.log.lastSeq;
      const r = manager.followUp(handle.id, prompt.prompt);
      if (!r.ok) return fail(res, r.error);
      return send(res, 202, { id: handle.id, status: handle.state(), after });
    }
    const result = handle.result();
    return send(res, 200, { ...summary(handle), task: handle.task, ...(result ? { result } : {}) });
  }

  async function asset(res: ServerResponse, pathname: string): Promise<void> {
    const rel = path.normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, "");
    let file = path.join(distDir, rel);
    if (
      !file.startsWith(distDir) ||
      !(await stat(file).then(
        (s) => s.isFile(),
        () => false,
      ))
    ) {
      file = path.join(distDir, "index.html");
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    res.end(await readFile(file));
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://edge");
    const work = url.pathname.startsWith("/api/") ? api(req, res, url) : asset(res, url.pathname);
    work.catch((e: unknown) => {
      if (!res.headersSent) fail(res, { code: ErrorCode.Internal, message: (e as Error).message });
      else res.destroy();
    });
  });

  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://edge");
    const m = /^\/api\/task\/ws\/([^/]+)$/.exec(url.pathname);
    const handle = m ? manager.get(m[1]!) : undefined;
    if (!authed(req) || !handle) {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const after = Number(url.searchParams.get("after") ?? "0");
    socketAfters.push(after);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", (m) => String(m) === "ping" && ws.send("pong"));
      const stop = handle.log.subscribe(
        after,
        (e) => ws.send(JSON.stringify(e)),
        () => ws.close(1000, "task ended"),
      );
      ws.on("close", stop);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    socketAfters,
    dropSockets() {
      let n = 0;
      for (const ws of wss.clients) {
        ws.terminate();
        n++;
      }
      return n;
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await manager.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
