import { mkdirSync } from "node:fs";
import path from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import type { Skill } from "../job-types.ts";

/**
 * A provider job's life: `awaiting-payment` → `queued` → `running` → `delivering` → `done` | `failed`;
 * or it ends early as `refused`, `expired` (never paid) or `cancelled` (NIP-09 deletion by the customer).
 */
export const JOB_STATES = [
  "awaiting-payment",
  "queued",
  "running",
  "delivering",
  "done",
  "failed",
  "refused",
  "expired",
  "cancelled",
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States a restart must pick up again: none of these may be dropped silently. */
export const UNFINISHED_STATES: readonly JobState[] = ["awaiting-payment", "queued", "running", "delivering"];

/** One row of the provider's job history. Events are stored as received/signed (encrypted when the request was). */
export interface ProviderJob {
  id: string;
  kind: number;
  skill: Skill | null;
  customer: string;
  /** The request event JSON. */
  request: string;
  state: JobState;
  priceMsats: number;
  bolt11: string | null;
  paymentHash: string | null;
  /** When an unpaid invoice stops being waited for (seconds since the epoch). */
  payBy: number | null;
  paidAt: number | null;
  receivedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** How many times the job was started (a run interrupted by a crash is started again). */
  attempts: number;
  ok: boolean | null;
  exitCode: number | null;
  summary: string | null;
  /** The signed result event JSON, kept until at least one relay acknowledged it. */
  resultEvent: string | null;
  /** The signed `error` feedback JSON that goes out with a failed result. */
  errorEvent: string | null;
  error: string | null;
}

const COLUMNS: Record<keyof ProviderJob, string> = {
  id: "id",
  kind: "kind",
  skill: "skill",
  customer: "customer",
  request: "request",
  state: "state",
  priceMsats: "price_msats",
  bolt11: "bolt11",
  paymentHash: "payment_hash",
  payBy: "pay_by",
  paidAt: "paid_at",
  receivedAt: "received_at",
  startedAt: "started_at",
  finishedAt: "finished_at",
  attempts: "attempts",
  ok: "ok",
  exitCode: "exit_code",
  summary: "summary",
  resultEvent: "result_event",
  errorEvent: "error_event",
  error: "error",
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  kind INTEGER NOT NULL,
  skill TEXT,
  customer TEXT NOT NULL,
  request TEXT NOT NULL,
  state TEXT NOT NULL,
  price_msats INTEGER NOT NULL DEFAULT 0,
  bolt11 TEXT,
  payment_hash TEXT,
  pay_by INTEGER,
  paid_at INTEGER,
  received_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  ok INTEGER,
  exit_code INTEGER,
  summary TEXT,
  result_event TEXT,
  error_event TEXT,
  error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export type NewJob = Pick<ProviderJob, "id" | "kind" | "skill" | "customer" | "request" | "state"> &
  Partial<Pick<ProviderJob, "priceMsats" | "error" | "finishedAt">>;

export interface StoreStats {
  byState: Partial<Record<JobState, number>>;
  /** Sum of the prices of paid jobs. */
  earningsMsats: number;
  paidJobs: number;
  total: number;
}

/**
 * The provider's durable job history (SQLite through `node:sqlite`). Inserting a request id is the
 * one atomic duplicate check: a request seen twice — from two relays, a replay after a reconnect or a
 * restart — is inserted once and therefore run at most once.
 *
 * @example
 * const store = JobStore.open(path.join(stateDir, "provider.sqlite"));
 * if (store.insert({ id, kind, skill, customer, request: JSON.stringify(ev), state: "queued" })) run(id);
 */
export class JobStore {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  static open(file: string): JobStore {
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const db = new DatabaseSync(file);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;");
    db.exec(SCHEMA);
    return new JobStore(db);
  }

  /** Records a new job; false when the id is already known (a duplicate). */
  insert(job: NewJob, receivedAt = Math.floor(Date.now() / 1000)): boolean {
    const r = this.#db
      .prepare(
        `INSERT OR IGNORE INTO jobs (id, kind, skill, customer, request, state, price_msats, received_at, error, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        job.id,
        job.kind,
        job.skill,
        job.customer,
        job.request,
        job.state,
        job.priceMsats ?? 0,
        receivedAt,
        job.error ?? null,
        job.finishedAt ?? null,
      );
    return Number(r.changes) === 1;
  }

  has(id: string): boolean {
    return this.#db.prepare("SELECT 1 FROM jobs WHERE id = ?").get(id) !== undefined;
  }

  get(id: string): ProviderJob | undefined {
    const row = this.#db.prepare("SELECT * FROM jobs WHERE id = ?").get(id);
    return row ? fromRow(row) : undefined;
  }

  update(id: string, fields: Partial<Omit<ProviderJob, "id">>): void {
    const entries = Object.entries(fields) as Array<[keyof ProviderJob, unknown]>;
    if (entries.length === 0) return;
    const sets = entries.map(([k]) => `${COLUMNS[k]} = ?`).join(", ");
    const values = entries.map(([, v]) => toSql(v));
    this.#db.prepare(`UPDATE jobs SET ${sets} WHERE id = ?`).run(...values, id);
  }

  /** Jobs in `states`, oldest first (the order they are resumed in). */
  inStates(states: readonly JobState[]): ProviderJob[] {
    const marks = states.map(() => "?").join(", ");
    return this.#db
      .prepare(`SELECT * FROM jobs WHERE state IN (${marks}) ORDER BY received_at, rowid`)
      .all(...states)
      .map(fromRow);
  }

  /** The newest jobs first. */
  recent(limit = 20): ProviderJob[] {
    return this.#db
      .prepare("SELECT * FROM jobs ORDER BY received_at DESC, rowid DESC LIMIT ?")
      .all(limit)
      .map(fromRow);
  }

  stats(): StoreStats {
    const byState: Partial<Record<JobState, number>> = {};
    let total = 0;
    for (const row of this.#db.prepare("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all()) {
      byState[row.state as JobState] = Number(row.n);
      total += Number(row.n);
    }
    const paid = this.#db
      .prepare(
        "SELECT COUNT(*) AS n, COALESCE(SUM(price_msats), 0) AS sum FROM jobs WHERE paid_at IS NOT NULL",
      )
      .get()!;
    return { byState, earningsMsats: Number(paid.sum), paidJobs: Number(paid.n), total };
  }

  setMeta(key: string, value: string): void {
    this.#db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  getMeta(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key);
    return row ? String(row.value) : undefined;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

const toSql = (v: unknown): SQLInputValue =>
  v === undefined || v === null ? null : typeof v === "boolean" ? (v ? 1 : 0) : (v as SQLInputValue);

function fromRow(row: Record<string, SQLInputValue>): ProviderJob {
  const num = (v: SQLInputValue | undefined) => (v === null || v === undefined ? null : Number(v));
  const text = (v: SQLInputValue | undefined) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(row.id),
    kind: Number(row.kind),
    skill: text(row.skill) as Skill | null,
    customer: String(row.customer),
    request: String(row.request),
    state: String(row.state) as JobState,
    priceMsats: Number(row.price_msats),
    bolt11: text(row.bolt11),
    paymentHash: text(row.payment_hash),
    payBy: num(row.pay_by),
    paidAt: num(row.paid_at),
    receivedAt: Number(row.received_at),
    startedAt: num(row.started_at),
    finishedAt: num(row.finished_at),
    attempts: Number(row.attempts),
    ok: row.ok === null ? null : Number(row.ok) === 1,
    exitCode: num(row.exit_code),
    summary: text(row.summary),
    resultEvent: text(row.result_event),
    errorEvent: text(row.error_event),
    error: text(row.error),
  };
}
