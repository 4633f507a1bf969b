import type { AgentKind, ComputeKind } from "@openagents/protocol";

/** Where a task is in its life; the index in D1 mirrors the TaskDO's own state. */
export const TASK_STATUSES = [
  "queued",
  "provisioning",
  "running",
  "succeeded",
  "failed",
  "cancelled",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** True once a task has ended: its last event is a `result` (until a follow-up turn starts). */
export const isEnded = (status: TaskStatus): boolean =>
  status === "succeeded" || status === "failed" || status === "cancelled";

/** One row of the task index: what lists and ownership checks need, without opening the TaskDO. */
export interface TaskRow {
  id: string;
  owner: string;
  status: TaskStatus;
  created: string;
  updated: string;
  repo: string;
  agent: AgentKind;
  compute: ComputeKind;
  /** The first line of the prompt (or script), for lists. */
  title: string;
}

/**
 * Adds a task to the index.
 *
 * @example
 * await insertTask(env.DB, { id, owner: user.id, status: "queued", … });
 */
export async function insertTask(db: D1Database, row: TaskRow): Promise<void> {
  await db
    .prepare(
      "INSERT INTO tasks (id, owner, status, created, updated, repo, agent, compute, title) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(
      row.id,
      row.owner,
      row.status,
      row.created,
      row.updated,
      row.repo,
      row.agent,
      row.compute,
      row.title,
    )
    .run();
}

/** The task if `owner` owns it; another user's task is indistinguishable from a missing one. */
export async function getOwnedTask(db: D1Database, id: string, owner: string): Promise<TaskRow | null> {
  return db.prepare("SELECT * FROM tasks WHERE id = ? AND owner = ?").bind(id, owner).first<TaskRow>();
}

/** A user's tasks, newest first; `before` (a `created` timestamp) pages back. */
export async function listTasks(
  db: D1Database,
  owner: string,
  opts: { limit: number; before?: string },
): Promise<TaskRow[]> {
  const { results } = await db
    .prepare("SELECT * FROM tasks WHERE owner = ? AND created < ? ORDER BY created DESC, id DESC LIMIT ?")
    .bind(owner, opts.before ?? "9999", opts.limit)
    .all<TaskRow>();
  return results;
}

/** Records a status change reported by the TaskDO. */
export async function setTaskStatus(db: D1Database, id: string, status: TaskStatus): Promise<void> {
  await db
    .prepare("UPDATE tasks SET status = ?, updated = ? WHERE id = ?")
    .bind(status, new Date().toISOString(), id)
    .run();
}

/** A short title for lists: the first non-empty line, at most 120 characters. */
export const titleOf = (text: string): string => {
  const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.trim().slice(0, 120);
};
