import type { RunEvent, RunEventBody } from "@openagents/protocol";

export type EventListener = (event: RunEvent) => void;

/**
 * The in-memory log of one task: assigns the gap-free `seq` (from 1) and the time, keeps every event
 * for replay, and fans each new event out to subscribers. After a `result` event the log is closed:
 * later appends are dropped, so `result` is always last.
 *
 * @example
 * const log = new EventLog();
 * const stop = log.subscribe(0, (e) => console.log(e.seq, e.type));
 * log.append({ type: "status", phase: "running" });
 */
export class EventLog {
  readonly #events: RunEvent[] = [];
  readonly #listeners = new Set<EventListener>();
  readonly #closeListeners = new Set<() => void>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** The highest `seq` so far (0 when empty). */
  get lastSeq(): number {
    return this.#events.length;
  }

  /** Opens a closed log again for a follow-up turn: new events continue after the previous `result`. */
  reopen(): void {
    this.#closed = false;
  }

  /** Appends an event; returns it with its `seq`, or `undefined` when the log is already closed. */
  append(body: RunEventBody): RunEvent | undefined {
    if (this.#closed) return undefined;
    const event = { ...body, seq: this.#events.length + 1, time: new Date().toISOString() } as RunEvent;
    this.#events.push(event);
    if (body.type === "result") this.#closed = true;
    for (const listener of this.#listeners) listener(event);
    if (this.#closed) {
      for (const listener of this.#closeListeners) listener();
      this.#listeners.clear();
      this.#closeListeners.clear();
    }
    return event;
  }

  /** Events with `seq > after`, in order. */
  since(after: number): RunEvent[] {
    return this.#events.slice(Math.max(0, after));
  }

  /**
   * Replays every event with `seq > after` synchronously, then delivers new ones as they come, so a
   * subscriber sees each event exactly once and in order. `onClose` runs after the final event (at
   * once when the log is already closed). Returns the unsubscribe function.
   */
  subscribe(after: number, listener: EventListener, onClose?: () => void): () => void {
    for (const event of this.since(after)) listener(event);
    if (this.#closed) {
      onClose?.();
      return () => {};
    }
    this.#listeners.add(listener);
    if (onClose) this.#closeListeners.add(onClose);
    return () => {
      this.#listeners.delete(listener);
      if (onClose) this.#closeListeners.delete(onClose);
    };
  }
}
