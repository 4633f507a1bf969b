import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { parseRunEvent, type RunEvent } from "@openagents/protocol";

const FILE = /^([A-Za-z0-9_-]{1,64})\.jsonl$/;

/**
 * The events of one tunnel task that the edge may not have stored yet, on disk (one JSON line per
 * event in `<dir>/<taskId>.jsonl`) and in memory. Each event is written with a synchronous write
 * before it is sent, so a killed `openagents connect` loses nothing it could have sent: the next
 * one reloads the file and resends what the edge has not acknowledged.
 *
 * @example
 * const buffer = TaskBuffer.create(dir, "t_1");
 * buffer.append(event);            // on disk now
 * send(buffer.after(acked, 1000)); // what the edge lacks
 * buffer.trim(ackedSeq);           // forget what the edge stored (the file stays until remove())
 */
export class TaskBuffer {
  readonly taskId: string;
  readonly #file: string;
  #fd: number | null = null;
  /** Events not yet trimmed, consecutive seqs. */
  #events: RunEvent[] = [];
  #lastSeq: number;

  private constructor(dir: string, taskId: string, events: RunEvent[]) {
    this.taskId = taskId;
    this.#file = path.join(dir, `${taskId}.jsonl`);
    this.#events = events;
    this.#lastSeq = events.at(-1)?.seq ?? 0;
  }

  /** A new, empty buffer for a task (the file is created on the first append). */
  static create(dir: string, taskId: string, lastSeq = 0): TaskBuffer {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const buffer = new TaskBuffer(dir, taskId, []);
    buffer.#lastSeq = lastSeq;
    return buffer;
  }

  /**
   * Every buffer left in `dir` by an earlier process. A torn last line (the process died mid-write)
   * and anything after a gap are dropped: what remains is exactly what can be resent in order.
   */
  static loadAll(dir: string): TaskBuffer[] {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    const buffers: TaskBuffer[] = [];
    for (const name of names.sort()) {
      const id = FILE.exec(name)?.[1];
      if (!id) continue;
      const events: RunEvent[] = [];
      for (const line of readFileSync(path.join(dir, name), "utf8").split("\n")) {
        if (line === "") continue;
        let parsed: ReturnType<typeof parseRunEvent>;
        try {
          parsed = parseRunEvent(JSON.parse(line));
        } catch {
          break;
        }
        if (!parsed.ok) break;
        const prev = events.at(-1);
        if (prev && parsed.value.seq !== prev.seq + 1) break;
        events.push(parsed.value);
      }
      if (events.length > 0) buffers.push(new TaskBuffer(dir, id, events));
      else rmSync(path.join(dir, name), { force: true });
    }
    return buffers;
  }

  /** The highest seq appended (kept after a trim). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** True when the last event appended is the task's `result`. */
  get ended(): boolean {
    return this.#events.at(-1)?.type === "result" || (this.#events.length === 0 && this.#endedAtTrim);
  }
  #endedAtTrim = false;

  /** Appends the next event (its seq must follow the last one) and writes it to disk synchronously. */
  append(event: RunEvent): void {
    if (event.seq !== this.#lastSeq + 1) {
      throw new Error(`task ${this.taskId}: event seq ${event.seq} does not follow ${this.#lastSeq}`);
    }
    this.#fd ??= openSync(this.#file, "a", 0o600);
    writeSync(this.#fd, `${JSON.stringify(event)}\n`);
    this.#events.push(event);
    this.#lastSeq = event.seq;
  }

  /** Up to `max` events after `seq`, oldest first, whose JSON adds up to at most `maxBytes`. */
  after(seq: number, max: number, maxBytes = Number.POSITIVE_INFINITY): RunEvent[] {
    const first = this.#events[0]?.seq;
    if (first === undefined || seq >= this.#lastSeq) return [];
    const start = Math.max(0, seq + 1 - first);
    const out: RunEvent[] = [];
    let bytes = 0;
    for (let i = start; i < this.#events.length && out.length < max; i++) {
      const e = this.#events[i]!;
      bytes += JSON.stringify(e).length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Drops events up to `seq` from memory: the edge has stored them. */
  trim(seq: number): void {
    const first = this.#events[0]?.seq;
    if (first === undefined || seq < first) return;
    const ended = this.ended;
    this.#events.splice(0, seq + 1 - first);
    if (this.#events.length === 0) this.#endedAtTrim = ended;
  }

  /** A follow-up turn: the task continues (the file is re-created if it was removed). */
  reopen(): void {
    this.#endedAtTrim = false;
  }

  /** Deletes the file: every event is stored at the edge. */
  remove(): void {
    this.close();
    rmSync(this.#file, { force: true });
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}
