import type { RunEvent } from "@openagents/protocol";
import type { EventLog } from "./event-log.ts";

/** A transport that carries events to one watcher (an SSE response, a WebSocket). */
export interface EventSink {
  /** Writes a batch in order; returns false when the transport's buffer is full and it must drain first. */
  write(events: readonly RunEvent[]): boolean;
  /** Calls `resume` once the transport can take more (after `write` returned false). */
  onDrain(resume: () => void): void;
  /** Ends the transport after the final event has been written. */
  finish(): void;
}

export interface EventPumpOptions {
  /** Events per `write` call: big enough to amortise a syscall, small enough to keep latency low. */
  batchSize?: number;
}

const DEFAULT_BATCH = 512;

/**
 * Follows a task's log from `after` and feeds one sink: events are queued as the log emits them,
 * written in batches once per tick (`setImmediate`), and held while the sink drains, so a slow watcher
 * never loses, doubles or reorders an event and never blocks the task. The sink finishes after the
 * `result` that closes the log.
 *
 * @example
 * const pump = new EventPump(handle.log, lastEventId, sseSink(res));
 * res.on("close", () => pump.stop());
 */
export class EventPump {
  readonly #sink: EventSink;
  readonly #batchSize: number;
  #queue: RunEvent[] = [];
  #head = 0;
  #lastSent: number;
  #scheduled = false;
  #draining = false;
  #logClosed = false;
  #stopped = false;
  #unsubscribe: () => void = () => {};

  constructor(log: EventLog, after: number, sink: EventSink, opts: EventPumpOptions = {}) {
    this.#sink = sink;
    this.#batchSize = opts.batchSize ?? DEFAULT_BATCH;
    this.#lastSent = after;
    // subscribe replays synchronously, then follows: every event reaches #enqueue exactly once.
    this.#unsubscribe = log.subscribe(
      after,
      (event) => this.#enqueue(event),
      () => {
        this.#logClosed = true;
        this.#schedule();
      },
    );
    this.#schedule();
  }

  /** True once the sink has been finished or the pump stopped. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops following (the watcher went away); queued events are dropped. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe();
    this.#queue = [];
    this.#head = 0;
  }

  #enqueue(event: RunEvent): void {
    if (this.#stopped) return;
    this.#queue.push(event);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#draining || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (!this.#stopped && this.#head < this.#queue.length) {
      const end = Math.min(this.#queue.length, this.#head + this.#batchSize);
      const batch: RunEvent[] = [];
      for (let i = this.#head; i < end; i++) {
        const event = this.#queue[i]!;
        // A guard, not a repair: the log already delivers each seq once and in order.
        if (event.seq > this.#lastSent) {
          batch.push(event);
          this.#lastSent = event.seq;
        }
      }
      this.#head = end;
      if (batch.length > 0 && !this.#sink.write(batch)) {
        this.#draining = true;
        this.#sink.onDrain(() => {
          this.#draining = false;
          this.#flush();
        });
        return;
      }
    }
    if (this.#stopped) return;
    this.#queue = [];
    this.#head = 0;
    if (this.#logClosed) {
      this.#stopped = true;
      this.#unsubscribe();
      this.#sink.finish();
    }
  }
}
