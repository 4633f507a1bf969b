import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo, Socket } from "node:net";

/**
 * How the vendor's API authenticates: Anthropic reads `x-api-key`, OpenAI `Authorization: Bearer`.
 * The proxy accepts the capability token in either header and sends the real key in the vendor's one.
 */
export type KeyStyle = "anthropic" | "openai";

export interface KeyProxyOptions {
  style: KeyStyle;
  /** The real key. Without it every request is refused with a 401 from the proxy itself. */
  apiKey?: string;
  /** Upstream base URL, path included (`https://api.openai.com/v1`): request paths are appended to it. */
  upstream: string;
  /** The capability token the sandboxed agent must present; random when omitted. */
  token?: string;
}

export interface KeyProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the base URL to give the agent (ANTHROPIC_BASE_URL / OPENAI_BASE_URL). */
  readonly url: string;
  /** The per-task capability token to give the agent in place of the key. Worthless once closed. */
  readonly token: string;
  /** Refuses every further request, aborts those in flight and stops listening. */
  close(): Promise<void>;
}

// RFC 9110 §7.6.1 hop-by-hop headers, plus the ones that carry credentials in or name the proxy's host.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);
const CREDENTIAL_HEADERS = new Set(["x-api-key", "authorization"]);

/**
 * Starts a loopback HTTP proxy, outside the sandbox, that swaps a per-task capability token for the
 * real API key. The agent is pointed at `url` with `token` as its key, so the key itself never enters
 * the sandbox: a prompt-injected `env` or `cat /proc/self/environ` can leak only a token that stops
 * working when the task ends. Path and query are kept, bodies stream both ways unbuffered (SSE
 * included), hop-by-hop headers are dropped. Errors never contain the key.
 *
 * @example
 * const proxy = await startKeyProxy({ style: "anthropic", apiKey, upstream: "https://api.anthropic.com" });
 * const env = { ANTHROPIC_BASE_URL: proxy.url, ANTHROPIC_API_KEY: proxy.token };
 * try { await sandbox.run(argv, { env, hostPorts: [proxy.port] }); } finally { await proxy.close(); }
 */
export async function startKeyProxy(options: KeyProxyOptions): Promise<KeyProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== "http:" && upstream.protocol !== "https:") {
    throw new Error(`key proxy: upstream must be an http(s) URL, got ${upstream.protocol}`);
  }
  const token = options.token ?? `oa-cap-${randomBytes(24).toString("base64url")}`;
  const tokenBytes = Buffer.from(token);
  const apiKey = options.apiKey && options.apiKey.length > 0 ? options.apiKey : undefined;
  const redact = (text: string) => (apiKey ? text.split(apiKey).join("[redacted]") : text);
  const inFlight = new Set<AbortController>();
  const sockets = new Set<Socket>();
  let closed = false;

  const presented = (headers: IncomingHttpHeaders): string | undefined => {
    const xApiKey = headers["x-api-key"];
    if (typeof xApiKey === "string" && xApiKey.length > 0) return xApiKey;
    const auth = headers.authorization;
    const m = typeof auth === "string" ? /^Bearer\s+(.+)$/i.exec(auth) : null;
    return m?.[1]?.trim();
  };
  const tokenMatches = (candidate: string | undefined) => {
    if (candidate === undefined) return false;
    const bytes = Buffer.from(candidate);
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  const server = createServer((req, res) => {
    if (closed) return refuse(res, options.style, 401, "the task that owned this key proxy has ended");
    if (!tokenMatches(presented(req.headers))) {
      return refuse(res, options.style, 401, "missing or wrong capability token for the key proxy");
    }
    if (!apiKey) {
      const name = options.style === "anthropic" ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
      return refuse(res, options.style, 401, `no API key is configured for this runner (set ${name})`);
    }
    try {
      forward(req, res);
    } catch (e) {
      // e.g. a key with characters no header may carry: say so, without the key, and keep serving.
      const message = e instanceof Error ? redact(e.message) : "unknown error";
      if (!res.headersSent)
        refuse(res, options.style, 502, `key proxy could not forward the request: ${message}`);
      else res.destroy();
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const target = new URL(upstream.href);
    const incoming = new URL(req.url ?? "/", "http://proxy.invalid");
    target.pathname = `${upstream.pathname.replace(/\/+$/, "")}${incoming.pathname}`;
    target.search = incoming.search;

    const headers: OutgoingHttpHeaders = {};
    const connectionListed = new Set(
      String(req.headers.connection ?? "")
        .split(",")
        .map((h) => h.trim().toLowerCase()),
    );
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || connectionListed.has(name)) continue;
      if (CREDENTIAL_HEADERS.has(name)) continue;
      headers[name] = value;
    }
    if (options.style === "anthropic") headers["x-api-key"] = apiKey;
    else headers.authorization = `Bearer ${apiKey}`;

    const abort = new AbortController();
    inFlight.add(abort);
    const done = () => inFlight.delete(abort);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const out = send(target, { method: req.method, headers, signal: abort.signal }, (upRes) => {
      const resHeaders: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upRes.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) resHeaders[name] = value;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, resHeaders);
      // Send the status line now: an SSE client should see the stream open before the first event.
      res.flushHeaders();
      upRes.pipe(res);
      upRes.on("error", () => res.destroy());
      upRes.on("end", done);
    });
    out.on("error", (e) => {
      done();
      if (res.headersSent) return void res.destroy();
      const reason = abort.signal.aborted ? "the task ended" : redact(e.message);
      refuse(
        res,
        options.style,
        502,
        `key proxy could not reach the upstream API ${target.origin}: ${reason}`,
      );
    });
    res.on("close", () => {
      // The agent went away (or the task ended): do not keep the upstream call running.
      if (!res.writableFinished) abort.abort();
      done();
    });
    req.pipe(out);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    token,
    close: () => {
      closed = true;
      for (const a of inFlight) a.abort();
      inFlight.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

/** Answers in the vendor's own error shape, so the agent prints a readable message instead of retrying. */
function refuse(res: ServerResponse, style: KeyStyle, status: 401 | 502, message: string): void {
  const body =
    style === "anthropic"
      ? {
          type: "error",
          error: { type: status === 401 ? "authentication_error" : "api_error", message },
        }
      : {
          error: {
            message,
            type: status === 401 ? "invalid_request_error" : "server_error",
            code: status === 401 ? "invalid_api_key" : "upstream_unreachable",
          },
        };
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
