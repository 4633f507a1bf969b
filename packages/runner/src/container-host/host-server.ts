import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { type AppError, ErrorCode, type Result } from "@openagents/protocol";
import { bearerCheck } from "../bearer-auth.ts";
import { rawErrorResponse, readJsonBody, sendError, sendJson } from "../http-errors.ts";
import {
  CONTAINER_SIGNALS,
  type ContainerSignal,
  isContainerName,
  parseStartRequest,
} from "./container-env.ts";
import { ContainerHost, type ContainerHostOptions } from "./container-host.ts";
import { proxyHttp, proxyUpgrade } from "./proxy.ts";

const MAX_BODY_BYTES = 256 * 1024;
const UNAUTHORIZED: AppError = { code: ErrorCode.Unauthorized, message: "missing or wrong bearer token" };
const AUTH_CHALLENGE = { "www-authenticate": 'Bearer realm="container-host"' };

/**
 * The contract says 503 for "not running" (the container is absent, as a cold Cloudflare container
 * would be), while `runner_lost` alone maps to 502 (it was there and stopped answering).
 */
const NOT_RUNNING_STATUS = 503;

type Route =
  | { kind: "container"; name: string }
  | { kind: "start" | "signal"; name: string }
  | { kind: "fetch"; name: string; path: string };

/** Maps `/containers/:name[/start|/signal|/fetch/<path>]`; the name is checked by the caller. */
function matchRoute(target: string): Route | undefined {
  if (!target.startsWith("/containers/")) return undefined;
  const rest = target.slice("/containers/".length);
  const q = rest.indexOf("?");
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q);
  const slash = pathPart.indexOf("/");
  const name = decodeURIComponentSafe(slash < 0 ? pathPart : pathPart.slice(0, slash));
  if (name === undefined) return undefined;
  if (slash < 0) return { kind: "container", name };
  const sub = pathPart.slice(slash + 1);
  if (sub === "start" || sub === "signal") return { kind: sub, name };
  // The fetched path is forwarded byte for byte (still percent-encoded), with the query kept.
  if (sub === "fetch" || sub.startsWith("fetch/")) {
    return { kind: "fetch", name, path: `/${sub.slice("fetch/".length)}${query}` };
  }
  return undefined;
}

function decodeURIComponentSafe(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const badName = (name: string): AppError => ({
  code: ErrorCode.InvalidRequest,
  message: `container name "${name.slice(0, 80)}" must be 1-64 letters, digits, "_" or "-"`,
});

function notRunning(res: ServerResponse, name: string): void {
  sendJson(res, NOT_RUNNING_STATUS, {
    error: { code: ErrorCode.RunnerLost, message: `container ${name} is not running` },
  });
}

/** Reads the start body; an empty body (no content at all) means `{}`. */
async function readStartBody(req: IncomingMessage): Promise<Result<unknown>> {
  const length = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (length === undefined || length === "0")) {
    req.resume();
    return { ok: true, value: undefined };
  }
  return readJsonBody(req, MAX_BODY_BYTES);
}

function parseSignal(body: unknown): Result<ContainerSignal> {
  const signal =
    typeof body === "object" && body !== null ? (body as { signal?: unknown }).signal : undefined;
  if (typeof signal === "string" && (CONTAINER_SIGNALS as readonly string[]).includes(signal)) {
    return { ok: true, value: signal as ContainerSignal };
  }
  return {
    ok: false,
    error: {
      code: ErrorCode.InvalidRequest,
      message: `signal must be one of ${CONTAINER_SIGNALS.join(", ")}`,
      path: "signal",
    },
  };
}

export interface ContainerHostServerOptions {
  host: ContainerHost;
  /** Every call needs `Authorization: Bearer <token>`. */
  token: string;
}

/**
 * The container host's loopback HTTP API, the verbs of `ctx.container` for the edge's ContainerDO:
 * `POST /containers/:name/start`, `GET /containers/:name`, `POST /containers/:name/signal`,
 * `DELETE /containers/:name[?purge=1]`, and any method on `/containers/:name/fetch/<path>` (HTTP and
 * WebSocket) forwarded to the container's runner. Returns a server that is not listening yet.
 *
 * @example
 * const server = createContainerHostServer({ host: new ContainerHost({ root, entrypoint }), token });
 * server.listen(0, "127.0.0.1");
 */
export function createContainerHostServer(opts: ContainerHostServerOptions): Server {
  const { host } = opts;
  const authorized = bearerCheck(opts.token);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    if (!authorized(req.headers.authorization)) {
      req.resume();
      return sendError(res, UNAUTHORIZED, AUTH_CHALLENGE);
    }
    const route = matchRoute(req.url ?? "");
    if (!route) {
      req.resume();
      return sendError(res, {
        code: ErrorCode.NotFound,
        message: `no route ${method} ${(req.url ?? "").split("?")[0]}`,
      });
    }
    if (!isContainerName(route.name)) {
      req.resume();
      // A name that cannot exist is "not found" for a read, and bad input for anything else.
      if (route.kind === "container" && method === "GET") {
        return sendError(res, {
          code: ErrorCode.NotFound,
          message: `no container "${route.name.slice(0, 80)}"`,
        });
      }
      return sendError(res, badName(route.name));
    }
    if (route.kind === "fetch") {
      const target = host.target(route.name);
      if (!target) {
        req.resume();
        return notRunning(res, route.name);
      }
      return proxyHttp(req, res, target, route.path);
    }
    const allowed = route.kind === "container" ? ["GET", "DELETE"] : ["POST"];
    if (!allowed.includes(method)) {
      req.resume();
      return sendJson(
        res,
        405,
        { error: { code: ErrorCode.InvalidRequest, message: `${method} is not allowed here` } },
        { allow: allowed.join(", ") },
      );
    }
    switch (route.kind) {
      case "container": {
        req.resume();
        if (method === "GET") return sendJson(res, 200, host.status(route.name));
        const purge = new URL(req.url ?? "/", "http://host").searchParams.get("purge");
        const stopped = await host.stop(route.name, { purge: purge === "1" || purge === "true" });
        return stopped.ok ? sendJson(res, 200, stopped.value) : sendError(res, stopped.error);
      }
      case "start": {
        const body = await readStartBody(req);
        if (!body.ok) return sendError(res, body.error);
        const start = parseStartRequest(body.value);
        if (!start.ok) return sendError(res, start.error);
        const started = await host.start(route.name, start.value);
        if (!started.ok) return sendError(res, started.error);
        return sendJson(res, 200, { status: "running", port: started.value.port });
      }
      case "signal": {
        const body = await readJsonBody(req, MAX_BODY_BYTES);
        if (!body.ok) return sendError(res, body.error);
        const signal = parseSignal(body.value);
        if (!signal.ok) return sendError(res, signal.error);
        const sent = host.signal(route.name, signal.value);
        return sent.ok ? sendJson(res, 200, sent.value) : notRunning(res, route.name);
      }
    }
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    if (!authorized(req.headers.authorization)) {
      socket.end(rawErrorResponse(UNAUTHORIZED, AUTH_CHALLENGE));
      return;
    }
    const route = matchRoute(req.url ?? "");
    if (route?.kind !== "fetch") {
      socket.end(
        rawErrorResponse({
          code: ErrorCode.NotFound,
          message: "upgrades are proxied under /containers/:name/fetch/",
        }),
      );
      return;
    }
    if (!isContainerName(route.name)) {
      socket.end(rawErrorResponse(badName(route.name)));
      return;
    }
    const target = host.target(route.name);
    if (!target) {
      const text = JSON.stringify({
        error: { code: ErrorCode.RunnerLost, message: `container ${route.name} is not running` },
      });
      socket.end(
        `HTTP/1.1 ${NOT_RUNNING_STATUS} Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
      return;
    }
    proxyUpgrade(req, socket, head, target, route.path);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      console.error("container-host: request failed:", e instanceof Error ? e.message : e);
      if (!res.headersSent) sendError(res, { code: ErrorCode.Internal, message: "internal error" });
      else res.destroy();
    });
  });
  server.on("upgrade", handleUpgrade);
  server.on("clientError", (_e: Error, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    socket.end(rawErrorResponse({ code: ErrorCode.InvalidRequest, message: "malformed HTTP request" }));
  });
  return server;
}

export interface ServeContainerHostOptions extends ContainerHostOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  token: string;
}

/** A running container host: its URL, and a stop that also stops every container it started. */
export interface RunningContainerHost {
  url: string;
  port: number;
  host: ContainerHost;
  close(): Promise<void>;
}

/**
 * Starts a container host on loopback and returns once it listens.
 *
 * @example
 * const running = await serveContainerHost({ port: 0, token, root, entrypoint: [process.execPath, bin] });
 * await fetch(`${running.url}/containers/u1/start`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
 * await running.close();
 */
export async function serveContainerHost(opts: ServeContainerHostOptions): Promise<RunningContainerHost> {
  const host = new ContainerHost(opts);
  await host.reapStale();
  const server = createContainerHostServer({ host, token: opts.token });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    host,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await host.close();
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
