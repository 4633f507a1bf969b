import type { RunEvent, RunEventBody } from "@openagents/protocol";

/** Rows per multi-row INSERT: Durable Object SQL allows at most 100 bound parameters per statement. */
const ROWS_PER_INSERT = 33;

/**
 * A task's RunEvents in its Durable Object's SQLite storage. `seq` is the row's primary key and is
 * assigned here, one more than the last row (read from storage each time, so a rolled-back
 * transaction cannot leave a gap): the log has no gaps and no duplicates whatever the source of the events.
 *
 * @example
 * const log = new EventLog(ctx.storage.sql);
 * const event = log.append({ type: "log", stream: "stdout", text: "hi" });
 * for (const json of log.after(0)) ws.send(json);
 */
export class EventLog {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(
      "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, json TEXT NOT NULL)",
    );
  }

  /** The seq of the newest event (0 when empty). */
  get lastSeq(): number {
    // MAX of an INTEGER PRIMARY KEY is a single b-tree lookup.
    return this.#sql.exec<{ last: number }>("SELECT COALESCE(MAX(seq), 0) AS last FROM events").one().last;
  }

  /** Appends an event with the next seq; `time` defaults to now. */
  append(body: RunEventBody, time?: string): { event: RunEvent; json: string } {
    return this.appendMany([{ body, time }])[0]!;
  }

  /**
   * Appends events with consecutive seqs after the last one; `time` defaults to now. A burst of
   * runner events costs one lookup of the last seq and one INSERT per {@link ROWS_PER_INSERT} rows,
   * not one of each per event. Call it inside a transaction when the batch must be all or nothing.
   */
  appendMany(items: ReadonlyArray<{ body: RunEventBody; time?: string | undefined }>): Array<{
    event: RunEvent;
    json: string;
  }> {
    let seq = this.lastSeq;
    const now = new Date().toISOString();
    const out = items.map(({ body, time }) => {
      seq++;
      const event = { seq, time: time ?? now, ...body } as RunEvent;
      return { event, json: JSON.stringify(event) };
    });
    for (let i = 0; i < out.length; i += ROWS_PER_INSERT) {
      const rows = out.slice(i, i + ROWS_PER_INSERT);
      this.#sql.exec(
        `INSERT INTO events (seq, type, json) VALUES ${rows.map(() => "(?, ?, ?)").join(", ")}`,
        ...rows.flatMap(({ event, json }) => [event.seq, event.type, json]),
      );
    }
    return out;
  }

  /** The events after `seq`, oldest first, as their JSON text (what watchers are sent). */
  *after(seq: number, limit = Number.MAX_SAFE_INTEGER): Generator<string> {
    const rows = this.#sql.exec<{ json: string }>(
      "SELECT json FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
      seq,
      limit,
    );
    for (const row of rows) yield row.json;
  }
}
