import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import {
  type AppError,
  ErrorCode,
  MAX_PROMPT_CHARS,
  parseTask,
  type Result,
  type Task,
} from "@openagents/protocol";
import { WebSocketServer } from "ws";
import { bearerCheck } from "./bearer-auth.ts";
import {
  DEFAULT_MAX_BODY_BYTES,
  rawErrorResponse,
  readJsonBody,
  sendError,
  sendJson,
} from "./http-errors.ts";
import { streamSse } from "./sse.ts";
import type { TaskManager } from "./task-manager.ts";
import type { TaskHandle } from "./task-runner.ts";
import { streamWebSocket } from "./ws-stream.ts";

/** What the server needs of a task manager (the real `TaskManager` fits). */
export type TaskService = Pick<TaskManager, "start" | "get" | "list" | "followUp" | "shutdown">;

export interface RunnerServerOptions {
  manager: TaskService;
  /** When set, every route but `GET /healthz` needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest JSON body accepted (413 above); default 1 MiB. */
  maxBodyBytes?: number;
  /** Interval of SSE heartbeat comments and WebSocket pings; default 15 s. */
  heartbeatMs?: number;
  /** How long `shutdown()` lets streams flush the cancelled tasks' last events before closing them. */
  shutdownFlushMs?: number;
}

/** The runner's HTTP server, plus a graceful stop for SIGTERM. */
export interface RunnerServer extends Server {
  /**
   * Stops accepting connections and new tasks, cancels every running task and waits for it
   * (`manager.shutdown()`), lets open streams deliver those tasks' final events, then closes every
   * stream and connection. Resolves once the server is closed; safe to call more than once.
   */
  shutdown(): Promise<void>;
}

interface OpenStream {
  readonly done: Promise<void>;
  /** Closes the stream now (server shutdown). */
  close(): void;
}

const errorOf = (code: ErrorCode, message: string, path?: string): AppError =>
  path === undefined ? { code, message } : { code, message, path };

const UNAUTHORIZED = errorOf(ErrorCode.Unauthorized, "missing or wrong bearer token");
const AUTH_CHALLENGE = { "www-authenticate": 'Bearer realm="runner"' };

type RouteName = "healthz" | "tasks" | "task" | "cancel" | "messages" | "events";
interface Route {
  name: RouteName;
  id?: string;
  methods: readonly string[];
}

/**
 * Parses the request target. Concatenating (rather than resolving against a base) keeps `//x` a path
 * instead of a host; a target that is no path at all (`*`) yields undefined.
 */
function parseUrl(target: string | undefined): URL | undefined {
  if (!target?.startsWith("/")) return undefined;
  try {
    return new URL(`http://runner${target}`);
  } catch {
    return undefined;
  }
}

/** Maps a path to its route, or undefined (404). Task ids are matched verbatim: they are plain tokens. */
function matchRoute(pathname: string): Route | undefined {
  if (pathname === "/healthz") return { name: "healthz", methods: ["GET"] };
  if (pathname === "/tasks") return { name: "tasks", methods: ["GET", "POST"] };
  const m = /^\/tasks\/([^/]+)(?:\/(cancel|messages|events))?$/.exec(pathname);
  if (!m) return undefined;
  const id = m[1]!;
  switch (m[2]) {
    case undefined:
      return { name: "task", id, methods: ["GET"] };
    case "cancel":
      return { name: "cancel", id, methods: ["POST"] };
    case "messages":
      return { name: "messages", id, methods: ["POST"] };
    default:
      return { name: "events", id, methods: ["GET"] };
  }
}

/**
 * Where a stream resumes: the `Last-Event-ID` header (what an EventSource sends when it reconnects,
 * so it wins over the URL it reconnects to) or `?after=N`; 0 means from the start.
 */
function resumePoint(req: IncomingMessage, url: URL, handle: TaskHandle): Result<number> {
  const header = req.headers["last-event-id"];
  const raw =
    typeof header === "string" && header.trim() !== "" ? header.trim() : url.searchParams.get("after");
  const where = typeof header === "string" && header.trim() !== "" ? "Last-Event-ID" : "after";
  if (raw === null) return { ok: true, value: 0 };
  if (!/^\d{1,15}$/.test(raw)) {
    return {
      ok: false,
      error: errorOf(ErrorCode.InvalidRequest, `${where} must be a non-negative integer`, where),
    };
  }
  const after = Number(raw);
  if (after > handle.log.lastSeq) {
    return {
      ok: false,
      error: errorOf(
        ErrorCode.InvalidRequest,
        `${where}=${after} is past the last event (${handle.log.lastSeq})`,
        where,
      ),
    };
  }
  return { ok: true, value: after };
}

/** The task as the API shows it: env values are write-only, since they may hold the user's tokens. */
function publicTask(task: Task): Task {
  if (!task.env) return task;
  return { ...task, env: Object.fromEntries(Object.keys(task.env).map((k) => [k, "[redacted]"])) };
}

function summaryOf(handle: TaskHandle) {
  return {
    id: handle.id,
    state: handle.state(),
    createdAt: handle.createdAt,
    lastSeq: handle.log.lastSeq,
    task: publicTask(handle.task),
  };
}

function viewOf(handle: TaskHandle) {
  const result = handle.result();
  return result && handle.state() !== "running" ? { ...summaryOf(handle), result } : summaryOf(handle);
}

function readPrompt(body: unknown): Result<string> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: errorOf(ErrorCode.InvalidRequest, "body must be an object { prompt }", "") };
  }
  for (const key of Object.keys(body)) {
    if (key !== "prompt") {
      return {
        ok: false,
        error: errorOf(ErrorCode.InvalidRequest, `unknown field "${key}" (allowed: prompt)`, key),
      };
    }
  }
  const prompt = (body as { prompt?: unknown }).prompt;
  if (typeof prompt !== "string" || prompt.trim() === "") {
    return {
      ok: false,
      error: errorOf(ErrorCode.InvalidRequest, "prompt must be a non-empty string", "prompt"),
    };
  }
  if (prompt.length > MAX_PROMPT_CHARS) {
    return {
      ok: false,
      error: errorOf(
        ErrorCode.InvalidRequest,
        `prompt is longer than ${MAX_PROMPT_CHARS} characters`,
        "prompt",
      ),
    };
  }
  return { ok: true, value: prompt };
}

/**
 * The runner's HTTP API (ARCHITECTURE.md §4), the entrypoint of every cloud container:
 * `GET /healthz`, `POST|GET /tasks`, `GET /tasks/:id`, `POST /tasks/:id/cancel`,
 * `POST /tasks/:id/messages`, and `GET /tasks/:id/events` as SSE or, on upgrade, as a WebSocket.
 * Returns a server that is not listening yet.
 *
 * @example
 * const server = createRunnerServer({ manager: new TaskManager({ workRoot, credentials }), token });
 * server.listen(8080, "0.0.0.0");
 * process.once("SIGTERM", () => void server.shutdown().then(() => process.exit(0)));
 */
export function createRunnerServer(opts: RunnerServerOptions): RunnerServer {
  const { manager } = opts;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const authorized = opts.token === undefined ? () => true : bearerCheck(opts.token);
  const streams = new Set<OpenStream>();
  // Deflate would hold messages in zlib's queue and defeat the backpressure accounting; events are small.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  let draining = false;

  const track = (stream: OpenStream) => {
    streams.add(stream);
    void stream.done.then(() => streams.delete(stream));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseUrl(req.url);
    const route = url && matchRoute(url.pathname);
    const method = req.method ?? "GET";
    if (route?.name !== "healthz" && !authorized(req.headers.authorization)) {
      return sendError(res, UNAUTHORIZED, AUTH_CHALLENGE);
    }
    if (!url || !route)
      return sendError(res, errorOf(ErrorCode.NotFound, `no route ${method} ${url?.pathname ?? ""}`));
    if (!route.methods.includes(method)) {
      return sendJson(
        res,
        405,
        { error: { code: ErrorCode.InvalidRequest, message: `${method} is not allowed on ${url.pathname}` } },
        { allow: route.methods.join(", ") },
      );
    }

    switch (route.name) {
      case "healthz": {
        const running = manager.list().filter((t) => t.state() === "running").length;
        // A draining runner is no longer ready: 503 tells a container host to send nothing new.
        return sendJson(res, draining ? 503 : 200, { ok: !draining, tasks: { running } });
      }
      case "tasks": {
        if (method === "GET") return sendJson(res, 200, { tasks: manager.list().map(summaryOf) });
        const body = await readJsonBody(req, maxBodyBytes);
        if (!body.ok) return sendBodyError(res, body.error);
        const task = parseTask(body.value);
        if (!task.ok) return sendError(res, task.error);
        if (draining) return sendError(res, shuttingDown);
        const started = manager.start(task.value);
        return sendJson(res, 201, { id: started.id }, { location: `/tasks/${started.id}` });
      }
      case "messages": {
        const body = await readJsonBody(req, maxBodyBytes);
        if (!body.ok) return sendBodyError(res, body.error);
        const prompt = readPrompt(body.value);
        if (!prompt.ok) return sendError(res, prompt.error);
        const found = manager.get(route.id!);
        if (!found) return sendError(res, notFound(route.id!));
        if (found.state() === "running") {
          return sendError(
            res,
            errorOf(ErrorCode.Conflict, "the task is still running; wait for its result"),
          );
        }
        if (draining) return sendError(res, shuttingDown);
        // Watchers of the new turn resume from here: its events follow the previous result.
        const after = found.log.lastSeq;
        const turn = manager.followUp(route.id!, prompt.value);
        if (!turn.ok) return sendError(res, turn.error);
        return sendJson(res, 202, { id: turn.value.id, state: turn.value.state(), after });
      }
      default:
        break;
    }

    const found = manager.get(route.id!);
    if (!found) return sendError(res, notFound(route.id!));
    switch (route.name) {
      case "task":
        return sendJson(res, 200, viewOf(found));
      case "cancel":
        req.resume();
        found.cancel("cancelled by request");
        return sendJson(res, 202, { id: found.id, state: found.state() });
      case "events": {
        const after = resumePoint(req, url, found);
        if (!after.ok) return sendError(res, after.error);
        const sse = streamSse(res, found.log, after.value, { heartbeatMs: opts.heartbeatMs });
        track({ done: sse.done, close: sse.end });
        return;
      }
    }
  }

  /** Which task's stream an upgrade asks for, checked like the SSE route (auth, route, id, resume point). */
  function upgradeTarget(req: IncomingMessage): Result<{ handle: TaskHandle; after: number }> {
    const url = parseUrl(req.url);
    const route = url && matchRoute(url.pathname);
    if (!authorized(req.headers.authorization)) return { ok: false, error: UNAUTHORIZED };
    if (!url || route?.name !== "events" || req.method !== "GET") {
      return { ok: false, error: errorOf(ErrorCode.NotFound, `no WebSocket at ${url?.pathname ?? ""}`) };
    }
    const found = manager.get(route.id!);
    if (!found) return { ok: false, error: notFound(route.id!) };
    const after = resumePoint(req, url, found);
    return after.ok ? { ok: true, value: { handle: found, after: after.value } } : after;
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    const target = upgradeTarget(req);
    if (!target.ok) {
      socket.end(rawErrorResponse(target.error, target.error === UNAUTHORIZED ? AUTH_CHALLENGE : {}));
      return;
    }
    const { handle: found, after } = target.value;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = streamWebSocket(ws, socket, found.log, after, { heartbeatMs: opts.heartbeatMs });
      track({
        done: stream.done,
        close: () => {
          stream.end(1001, "runner shutting down");
          // A peer that never answers the close frame must not hold the shutdown.
          setTimeout(() => ws.terminate(), 1000).unref();
        },
      });
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // Bad input never gets here (every parser returns a Result); this is a bug, reported without a stack.
      console.error("runner: request failed:", e instanceof Error ? e.message : e);
      if (!res.headersSent) sendError(res, errorOf(ErrorCode.Internal, "internal error"));
      else res.destroy();
    });
  }) as RunnerServer;

  server.on("upgrade", handleUpgrade);
  server.on("clientError", (e: NodeJS.ErrnoException, socket: Duplex) => {
    if (e.code === "ECONNRESET" || !socket.writable) return socket.destroy();
    socket.end(rawErrorResponse(errorOf(ErrorCode.InvalidRequest, "malformed HTTP request")));
  });

  let stopping: Promise<void> | undefined;
  server.shutdown = () => {
    stopping ??= (async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await manager.shutdown();
      // Streams of the cancelled tasks end by themselves after their result; wait for that a little.
      const flushed = Promise.all([...streams].map((s) => s.done));
      await Promise.race([flushed, delay(opts.shutdownFlushMs ?? 2000)]);
      for (const s of streams) s.close();
      server.closeAllConnections();
      wss.close();
      await closed;
    })();
    return stopping;
  };
  return server;
}

const shuttingDown = errorOf(ErrorCode.SandboxUnavailable, "the runner is shutting down");
const notFound = (id: string) => errorOf(ErrorCode.NotFound, `no task ${id}`);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** A 413 leaves the rest of the body unread, so that connection cannot carry another request. */
function sendBodyError(res: ServerResponse, error: AppError): void {
  sendError(res, error, error.code === ErrorCode.PayloadTooLarge ? { connection: "close" } : {});
}
