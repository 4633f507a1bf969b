import { MAX_FRAME_BYTES } from "@openagents/protocol";
import WebSocket from "ws";

export interface TunnelLinkOptions {
  /** `http(s)://host[:port]` (the edge's origin) or a full `ws(s)://…` URL of the tunnel socket. */
  url: string;
  token: string;
  /** A fresh connection is open: say hello. */
  onOpen(): void;
  onMessage(text: string): void;
  /** The connection dropped (the link reconnects by itself unless `fatal`). */
  onDown(info: { code: number; reason: string; retryInMs: number | null; fatal: boolean }): void;
  /** First retry delay; doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Close codes the edge uses for "stop": the token was revoked. */
const FATAL_CLOSE = new Set([4401]);

/**
 * The edge's WebSocket URL for a `--url` value: an origin gets `/api/tunnel/ws`; a ws(s) URL with a
 * path is used as it is.
 *
 * @example
 * tunnelUrl("https://openagents.example"); // "wss://openagents.example/api/tunnel/ws"
 */
export function tunnelUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:")
    throw new Error(`--url must be http(s) or ws(s), got ${url}`);
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/api/tunnel/ws";
  return u.toString();
}

/**
 * One machine's connection to the edge that stays up: connects with the machine token, watches the
 * edge's heartbeats, and after a drop reconnects with exponential backoff (with jitter) until
 * stopped or refused for good (401/403 on the upgrade, or close code 4401 after a revocation).
 *
 * @example
 * const link = new TunnelLink({ url, token, onOpen: () => link.send(hello), onMessage, onDown });
 * link.start();
 */
export class TunnelLink {
  readonly #opts: TunnelLinkOptions;
  readonly #url: string;
  #ws: WebSocket | null = null;
  #attempt = 0;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  #beat: NodeJS.Timeout | null = null;
  #heartbeatMs = 15_000;
  #lastHeard = 0;
  #heartbeat: () => string = () => '{"type":"heartbeat"}';

  constructor(opts: TunnelLinkOptions) {
    this.#opts = opts;
    this.#url = tunnelUrl(opts.url);
  }

  get url(): string {
    return this.#url;
  }

  get open(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Bytes queued on the socket and not yet sent: the sender slows down when it grows. */
  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Heartbeats every `ms` (the edge's pace from `welcome`); three missed edge beats drop the connection. */
  setHeartbeat(ms: number, frame: () => string): void {
    this.#heartbeatMs = ms;
    this.#heartbeat = frame;
    if (this.#beat) clearInterval(this.#beat);
    this.#beat = setInterval(() => this.send(this.#heartbeat()), ms);
    this.#beat.unref();
    this.#attempt = 0; // A welcome means the link works: the next drop retries quickly again.
  }

  send(text: string): boolean {
    if (!this.open) return false;
    this.#ws!.send(text);
    return true;
  }

  /** Drops the current connection as if the network had (tests and the watchdog use it). */
  drop(): void {
    this.#ws?.terminate();
  }

  async stop(code = 1000, reason = "openagents connect stopped"): Promise<void> {
    this.#stopped = true;
    this.#clearTimers();
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(code, reason);
    });
  }

  #connect(): void {
    if (this.#stopped) return;
    const ws = new WebSocket(this.#url, {
      headers: { authorization: `Bearer ${this.#opts.token}` },
      handshakeTimeout: 10_000,
      maxPayload: MAX_FRAME_BYTES + 1024,
      perMessageDeflate: false,
    });
    this.#ws = ws;
    let refused: { code: number; reason: string } | null = null;
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => {
        const message = /"message":"([^"]*)"/.exec(body)?.[1] ?? `HTTP ${res.statusCode}`;
        refused = { code: res.statusCode ?? 0, reason: message };
        ws.terminate();
      });
    });
    ws.on("open", () => {
      this.#lastHeard = Date.now();
      this.#armWatchdog();
      this.#opts.onOpen();
    });
    ws.on("message", (data, isBinary) => {
      this.#lastHeard = Date.now();
      if (!isBinary) this.#opts.onMessage(data.toString());
    });
    ws.on("error", () => {
      // Followed by "close"; the reason is reported there.
    });
    ws.on("close", (code, reasonBuf) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#clearTimers();
      const reason = refused?.reason ?? reasonBuf.toString();
      const status = refused?.code ?? code;
      const fatal = status === 401 || status === 403 || FATAL_CLOSE.has(code);
      if (this.#stopped || fatal) {
        this.#stopped = true;
        this.#opts.onDown({ code: status, reason, retryInMs: null, fatal });
        return;
      }
      const base = this.#opts.minBackoffMs ?? 100;
      const delay = Math.min(base * 2 ** this.#attempt, this.#opts.maxBackoffMs ?? 10_000);
      const retryInMs = Math.round(delay * (0.75 + Math.random() * 0.5));
      this.#attempt++;
      this.#opts.onDown({ code: status, reason, retryInMs, fatal: false });
      this.#retryTimer = setTimeout(() => this.#connect(), retryInMs);
    });
  }

  #armWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = setInterval(
      () => {
        if (Date.now() - this.#lastHeard > 3 * this.#heartbeatMs) this.#ws?.terminate();
      },
      Math.max(100, Math.floor(this.#heartbeatMs / 2)),
    );
    this.#watchdog.unref();
  }

  #clearTimers(): void {
    for (const t of [this.#retryTimer, this.#watchdog, this.#beat]) if (t) clearTimeout(t);
    if (this.#watchdog) clearInterval(this.#watchdog);
    if (this.#beat) clearInterval(this.#beat);
    this.#retryTimer = this.#watchdog = this.#beat = null;
  }
}
