import { parseRunEvent } from "@openagents/protocol";
import { type BackoffOptions, backoffDelay } from "./backoff.ts";
import type { RunState } from "./run-state.ts";

const MAX_TURN_WAIT_ATTEMPTS = 6;

/** Where the connection stands: shown next to the live view. */
export type SocketState = "connecting" | "live" | "reconnecting" | "ended" | "stopped";

/** The part of the WebSocket constructor the client uses (the browser's, or Node's in tests). */
export type SocketFactory = (url: string) => WebSocket;

export interface TaskSocketOptions {
  /** The stream address resuming after `after` (see `taskSocketUrl`). */
  url: (after: number) => string;
  run: RunState;
  /** Called after events were applied to `run` (the view batches its renders itself). */
  onEvents: () => void;
  onState?: (state: SocketState, detail?: { attempt: number; delayMs: number }) => void;
  connect?: SocketFactory;
  backoff?: BackoffOptions;
  random?: () => number;
  /**
   * Interval of the `ping` text frames that keep idle proxies from closing the socket (the edge
   * answers `pong` without waking the task). A socket silent for 3 intervals is taken as dead (a
   * phone that slept, a network that changed) and replaced. Default 25 s; 0 turns both off.
   */
  pingMs?: number;
}

/**
 * Follows a task's event stream over a WebSocket into a `RunState`, and keeps following it: when the
 * connection drops before the task's result, it reconnects with exponential backoff and resumes with
 * `?after=<last seq applied>`. `RunState` drops replayed events and holds early ones, so the view has
 * no duplicates and no gaps; an early event (a gap) also forces a reconnect from the last good seq.
 *
 * @example
 * const sock = new TaskSocket({ url: (n) => taskSocketUrl(location, id, n), run, onEvents: render });
 * sock.start();
 * // after POST /messages: sock.resume();
 */
export class TaskSocket {
  readonly #o: TaskSocketOptions;
  #ws: WebSocket | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #stopped = false;
  /** A follow-up was sent: keep reconnecting until its turn's events arrive, even though the stream had ended. */
  #awaitingTurn = false;
  #state: SocketState | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #lastHeard = 0;

  constructor(options: TaskSocketOptions) {
    this.#o = options;
  }

  get state(): SocketState | undefined {
    return this.#state;
  }

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  /** Closes the connection for good (the view unmounted). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close();
    this.#setState("stopped");
  }

  /** The task continues (a follow-up was accepted): connect again if the stream had ended. */
  resume(): void {
    this.#awaitingTurn = true;
    if (this.#stopped || this.#ws) return;
    this.#attempt = 0;
    this.retryNow();
  }

  /** Skips the backoff wait (the browser came back online or the tab became visible). */
  retryNow(): void {
    if (this.#stopped || this.#ws) return;
    if (this.#timer === undefined && !this.#wantsMore()) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#open();
  }

  #wantsMore(): boolean {
    return !this.#o.run.ended || this.#awaitingTurn;
  }

  #setState(state: SocketState, detail?: { attempt: number; delayMs: number }): void {
    this.#state = state;
    this.#o.onState?.(state, detail);
  }

  #open(): void {
    const run = this.#o.run;
    const connect = this.#o.connect ?? ((url: string) => new WebSocket(url));
    this.#setState(this.#attempt === 0 ? "connecting" : "reconnecting");
    let ws: WebSocket;
    try {
      ws = connect(this.#o.url(run.lastSeq));
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#lastHeard = Date.now();
      this.#setState("live");
      this.#startHeartbeat(ws);
    };
    ws.onmessage = (msg: MessageEvent) => {
      if (this.#ws !== ws) return;
      this.#lastHeard = Date.now();
      if (this.#receive(msg.data)) this.#attempt = 0;
      if (run.hasGap) {
        // Something between lastSeq and the early event was lost on the way: resume from lastSeq.
        this.#drop(ws);
        this.#scheduleRetry();
      }
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      clearInterval(this.#heartbeat);
      if (this.#stopped) return;
      // A follow-up's turn starts within moments; past a few tries the task is simply over.
      if (this.#awaitingTurn && this.#o.run.ended && this.#attempt >= MAX_TURN_WAIT_ATTEMPTS) {
        this.#awaitingTurn = false;
      }
      if (this.#wantsMore()) this.#scheduleRetry();
      else this.#setState("ended");
    };
    ws.onerror = () => {
      // A close event always follows; reconnecting is decided there.
    };
  }

  /** Applies one message; true when it moved the stream forward. */
  #receive(data: unknown): boolean {
    if (typeof data !== "string") return false;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return false;
    }
    const parsed = parseRunEvent(json);
    if (!parsed.ok) return false;
    const before = this.#o.run.ended;
    const accepted = this.#o.run.accept(parsed.value);
    if (accepted !== "applied") return false;
    if (before && !this.#o.run.ended) this.#awaitingTurn = false;
    this.#o.onEvents();
    return true;
  }

  #startHeartbeat(ws: WebSocket): void {
    const every = this.#o.pingMs ?? 25_000;
    clearInterval(this.#heartbeat);
    if (every <= 0) return;
    this.#heartbeat = setInterval(() => {
      if (this.#ws !== ws) return;
      if (Date.now() - this.#lastHeard > every * 3) {
        this.#drop(ws);
        if (this.#wantsMore()) this.#scheduleRetry();
        else this.#setState("ended");
        return;
      }
      try {
        ws.send("ping");
      } catch {
        // Closing already; onclose decides what comes next.
      }
    }, every);
  }

  #drop(ws: WebSocket): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#ws = undefined;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    ws.close();
  }

  #scheduleRetry(): void {
    const delayMs = backoffDelay(this.#attempt, this.#o.backoff, this.#o.random);
    this.#setState("reconnecting", { attempt: this.#attempt + 1, delayMs });
    this.#attempt++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopped) this.#open();
    }, delayMs);
  }
}
