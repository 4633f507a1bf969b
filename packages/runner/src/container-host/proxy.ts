import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { ErrorCode } from "@openagents/protocol";
import { rawErrorResponse, sendError } from "../http-errors.ts";
import type { ContainerTarget } from "./container-host.ts";

/** Headers about one hop of a connection (RFC 9110 §7.6.1): never forwarded as they are. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * The request headers the runner sees: the client's, minus hop-by-hop ones and minus the host's own
 * bearer token (which must never reach a container), plus the container's runner token.
 */
function forwardedHeaders(
  headers: IncomingHttpHeaders,
  target: ContainerTarget,
): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase()),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === "authorization") continue;
    out[name] = value;
  }
  out.host = `127.0.0.1:${target.port}`;
  out.authorization = `Bearer ${target.token}`;
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const lost = (message: string) => ({ code: ErrorCode.RunnerLost, message });

/**
 * Forwards one HTTP request to the runner at `target` under `path` (with its query), streaming both
 * bodies: an SSE response goes out event by event (headers are flushed at once and nothing is
 * buffered). A client that goes away closes the runner connection too.
 *
 * @example
 * proxyHttp(req, res, host.target("user-1")!, "/tasks?limit=5");
 */
export function proxyHttp(
  req: IncomingMessage,
  res: ServerResponse,
  target: ContainerTarget,
  path: string,
): void {
  const upstream = request(
    {
      host: "127.0.0.1",
      port: target.port,
      method: req.method,
      path,
      headers: forwardedHeaders(req.headers, target),
      agent: false,
    },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes.headers));
      // Headers now, so that a stream's first event is not held back waiting for a body chunk.
      res.flushHeaders();
      upRes.pipe(res);
      upRes.on("error", () => res.destroy());
      upRes.on("aborted", () => res.destroy());
    },
  );
  upstream.on("error", (e) => {
    if (!res.headersSent) {
      // 502: the container is registered as running but did not answer (dying, or overloaded).
      sendError(res, lost(`the container's runner did not answer: ${e.message}`));
    } else {
      res.destroy();
    }
  });
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

/**
 * Forwards an HTTP upgrade (WebSocket) to the runner by replaying the request head on a new TCP
 * connection and then piping the two sockets, so the runner's own handshake answer (101 or an error)
 * reaches the client unchanged and frames flow both ways untouched.
 *
 * @example
 * server.on("upgrade", (req, socket, head) => proxyUpgrade(req, socket, head, target, "/tasks/abc/events"));
 */
export function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: ContainerTarget,
  path: string,
): void {
  const headers = forwardedHeaders(req.headers, target);
  // An upgrade needs its hop-by-hop headers: they are the request.
  headers.connection = "Upgrade";
  if (req.headers.upgrade) headers.upgrade = req.headers.upgrade;
  const lines = [`${req.method ?? "GET"} ${path} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (/[\r\n]/.test(v)) continue;
      lines.push(`${name}: ${v}`);
    }
  }
  const upstream = connect({ host: "127.0.0.1", port: target.port });
  let connected = false;
  upstream.on("connect", () => {
    connected = true;
    upstream.setNoDelay(true);
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  upstream.on("error", (e) => {
    if (!connected && socket.writable)
      socket.end(rawErrorResponse(lost(`the container's runner did not answer: ${e.message}`)));
    else socket.destroy();
  });
  upstream.on("close", () => socket.destroy());
  socket.on("error", () => upstream.destroy());
  socket.on("close", () => upstream.destroy());
}
