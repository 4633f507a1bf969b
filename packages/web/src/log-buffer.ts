import type { LogStream } from "@openagents/protocol";

export interface LogLine {
  seq: number;
  stream: LogStream;
  text: string;
}

/** Lines kept by default: ~100k short lines is a few MB, and the view renders only what is on screen. */
export const DEFAULT_LOG_CAPACITY = 100_000;

/**
 * An append-only, capped store of log lines. It is mutated in place (not copied per event) because a
 * task can print tens of thousands of lines and copying an array per line would be quadratic. When
 * full it drops the oldest lines in chunks, so appends stay amortised O(1), and counts what it dropped.
 *
 * @example
 * const logs = new LogBuffer(1000);
 * logs.append(7, "stdout", "hello\nworld");
 * logs.length; // 2
 */
export class LogBuffer {
  readonly capacity: number;
  #lines: LogLine[] = [];
  #dropped = 0;

  constructor(capacity = DEFAULT_LOG_CAPACITY) {
    this.capacity = Math.max(1, capacity);
  }

  /** Lines currently held. */
  get length(): number {
    return this.#lines.length;
  }

  /** Lines dropped from the front to stay under `capacity`. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The `i`-th line held (0 = oldest kept). */
  at(i: number): LogLine | undefined {
    return this.#lines[i];
  }

  /**
   * Appends one event's text; a text with newlines becomes several lines (a trailing newline adds
   * none), and a line redrawn with carriage returns (a progress counter) keeps its last state.
   */
  append(seq: number, stream: LogStream, text: string): void {
    const parts = text.split("\n");
    if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
    for (const part of parts) this.#lines.push({ seq, stream, text: lastSegment(part) });
    if (this.#lines.length > this.capacity) {
      // Drop a tenth more than needed so the next appends do not each pay for a splice.
      const excess = this.#lines.length - this.capacity + Math.floor(this.capacity / 10);
      const n = Math.min(excess, this.#lines.length);
      this.#lines.splice(0, n);
      this.#dropped += n;
    }
  }

  /** The kept lines as plain text (for download or copy). */
  toText(): string {
    return this.#lines.map((l) => l.text).join("\n");
  }
}

/** What a terminal would show for a line redrawn with `\r`: the last non-empty segment. */
function lastSegment(line: string): string {
  if (!line.includes("\r")) return line;
  const segments = line.split("\r").filter((s) => s !== "");
  return segments[segments.length - 1] ?? "";
}
