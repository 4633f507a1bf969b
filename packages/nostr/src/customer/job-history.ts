import { mkdirSync } from "node:fs";
import path from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";

export const CUSTOMER_JOB_STATES = ["submitted", "succeeded", "failed", "timed-out", "cancelled"] as const;
export type CustomerJobState = (typeof CUSTOMER_JOB_STATES)[number];

/** One job this customer posted, as `openagents job list|show` shows it. */
export interface CustomerJob {
  id: string;
  kind: number;
  skill: string;
  relays: string[];
  /** The provider asked for, or the one whose result was accepted. */
  provider: string | null;
  /** The signed request event JSON (its inputs stay encrypted when it was encrypted). */
  request: string;
  state: CustomerJobState;
  createdAt: number;
  updatedAt: number;
  paidMsats: number;
  /** The accepted result event JSON. */
  resultEvent: string | null;
  /** The verified result content JSON. */
  content: string | null;
  error: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  kind INTEGER NOT NULL,
  skill TEXT NOT NULL,
  relays TEXT NOT NULL,
  provider TEXT,
  request TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  paid_msats INTEGER NOT NULL DEFAULT 0,
  result_event TEXT,
  content TEXT,
  error TEXT
);`;

const COLUMNS: Partial<Record<keyof CustomerJob, string>> = {
  provider: "provider",
  state: "state",
  paidMsats: "paid_msats",
  resultEvent: "result_event",
  content: "content",
  error: "error",
};

/**
 * The customer's local job history (SQLite), so that `job list|show|cancel` work after the
 * `job submit` process is gone.
 *
 * @example
 * const h = JobHistory.open(path.join(stateDir, "jobs.sqlite"));
 * h.record({ id, kind, skill: "code", relays, provider: null, request: JSON.stringify(ev) });
 */
export class JobHistory {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  static open(file: string): JobHistory {
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(file);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
    db.exec(SCHEMA);
    return new JobHistory(db);
  }

  record(job: Pick<CustomerJob, "id" | "kind" | "skill" | "relays" | "provider" | "request">): void {
    const now = Math.floor(Date.now() / 1000);
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO jobs (id, kind, skill, relays, provider, request, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'submitted', ?, ?)`,
      )
      .run(job.id, job.kind, job.skill, JSON.stringify(job.relays), job.provider, job.request, now, now);
  }

  update(
    id: string,
    fields: Partial<
      Pick<CustomerJob, "provider" | "state" | "paidMsats" | "resultEvent" | "content" | "error">
    >,
  ): void {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    const sets = entries.map(([k]) => `${COLUMNS[k as keyof CustomerJob]} = ?`).join(", ");
    this.#db
      .prepare(`UPDATE jobs SET ${sets}, updated_at = ? WHERE id = ?`)
      .run(...entries.map(([, v]) => v as SQLInputValue), Math.floor(Date.now() / 1000), id);
  }

  /** A job by full id or by a unique prefix (at least 6 characters), as users type them. */
  find(idOrPrefix: string): CustomerJob | undefined | "ambiguous" {
    if (!/^[0-9a-f]{6,64}$/.test(idOrPrefix)) return undefined;
    const rows = this.#db.prepare("SELECT * FROM jobs WHERE id LIKE ? LIMIT 2").all(`${idOrPrefix}%`);
    if (rows.length > 1) return "ambiguous";
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  list(limit = 50): CustomerJob[] {
    return this.#db
      .prepare("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?")
      .all(limit)
      .map(fromRow);
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function fromRow(row: Record<string, SQLInputValue>): CustomerJob {
  const text = (v: SQLInputValue | undefined) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(row.id),
    kind: Number(row.kind),
    skill: String(row.skill),
    relays: JSON.parse(String(row.relays)) as string[],
    provider: text(row.provider),
    request: String(row.request),
    state: String(row.state) as CustomerJobState,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    paidMsats: Number(row.paid_msats),
    resultEvent: text(row.result_event),
    content: text(row.content),
    error: text(row.error),
  };
}
