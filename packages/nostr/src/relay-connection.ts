import type { NostrEvent } from "./event.ts";

/** Reconnection delays: `initial · 2^attempt`, capped at `max`, with ±20 % jitter so clients spread out. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 10_000 };
const CONNECT_TIMEOUT_MS = 10_000;

export type RelayMessage =
  | ["EVENT", string, NostrEvent]
  | ["EOSE", string]
  | ["OK", string, boolean, string]
  | ["CLOSED", string, string]
  | ["NOTICE", string];

interface Hooks {
  onopen(): void;
  onmessage(msg: RelayMessage): void;
  ondown(reason: string): void;
}

/**
 * One relay's WebSocket, kept open: it reconnects with backoff whenever the socket drops, until
 * `close()`. It knows nothing of subscriptions; the pool re-sends them from `onopen`.
 */
export class RelayConnection {
  readonly url: string;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private waiters: Array<() => void> = [];
  private readonly hooks: Hooks;
  private readonly backoff: Backoff;

  constructor(url: string, hooks: Hooks, backoff: Backoff = DEFAULT_BACKOFF) {
    this.url = url;
    this.hooks = hooks;
    this.backoff = backoff;
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Starts connecting if not already connected or connecting. */
  ensure(): void {
    if (this.closed || this.ws || this.timer) return;
    this.connect();
  }

  private connect(): void {
    this.timer = undefined;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.hooks.ondown(e instanceof Error ? e.message : String(e));
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.hooks.onopen();
      for (const w of this.waiters.splice(0)) w();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      let msg: unknown;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // A relay that sends garbage is ignored message by message, not trusted.
      }
      if (Array.isArray(msg) && typeof msg[0] === "string") this.hooks.onmessage(msg as RelayMessage);
    };
    const down = (reason: string) => {
      if (this.ws !== ws) return;
      clearTimeout(connectTimer);
      this.ws = null;
      this.hooks.ondown(reason);
      this.scheduleReconnect();
      try {
        ws.close();
      } catch {
        // Already closing; nothing left to release.
      }
    };
    // A handshake that neither opens nor fails (a black-holed port) must not stall us forever.
    const connectTimer = setTimeout(() => {
      if (ws.readyState !== WebSocket.OPEN) down("connect timeout");
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => clearTimeout(connectTimer));
    ws.onclose = (ev: CloseEvent) => down(`closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`);
    // Node 22's WebSocket reports a refused handshake with `error` alone, never `close` (and stays
    // CONNECTING), so an error is a drop too.
    ws.onerror = () => down("error");
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    this.attempt++;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Resolves true once open, or false after `timeoutMs` (or when the connection is closed for good). */
  waitOpen(timeoutMs: number): Promise<boolean> {
    if (this.open) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    this.ensure();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve(this.open);
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  /** Sends a frame if open; false otherwise (the caller decides whether to wait and retry). */
  send(frame: unknown[]): boolean {
    if (!this.open) return false;
    this.ws!.send(JSON.stringify(frame));
    return true;
  }

  /** Closes for good: no reconnection. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w();
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }
}
