import type { AppError, Diffstat, Result, RunEvent, RunEventBody, Task } from "@openagents/protocol";
import type { TaskCharge } from "./billing.ts";
import type { TaskStatus } from "./db/tasks.ts";
import type { Env } from "./env.ts";
import type { EventLog } from "./event-log.ts";

export interface TaskInit {
  id: string;
  owner: string;
  task: Task;
  created: string;
}

export interface TaskUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Seconds the task held its container (all turns). */
  containerSeconds: number;
}

export interface TaskResultSummary {
  ok: boolean;
  exitCode: number | null;
  summary: string;
  diffstat: Diffstat;
  /** Seq of the `result` event, which carries the patch. */
  seq: number;
}

/** What `GET /api/tasks/:id` shows; the task's `env` values are never shown, only their names. */
export interface TaskInfo {
  id: string;
  status: TaskStatus;
  created: string;
  task: Omit<Task, "env"> & { envNames?: string[] };
  lastSeq: number;
  usage: TaskUsage;
  result: TaskResultSummary | null;
}

/** A task's state beside its event log, in its TaskDO's KV storage (under {@link META}). */
export interface TaskMeta {
  id: string;
  owner: string;
  created: string;
  task: Task;
  /** Names of `task.env`, kept after the values are dropped (once the runner has them). */
  envNames: string[];
  status: TaskStatus;
  runnerTaskId: string | null;
  /** The runner's seq of the last event taken into this log: streams resume after it. */
  cursor: number;
  /**
   * True from a cloud runner task's submission until its first phase past `provisioning`: the
   * runner's own `queued`/`provisioning` then repeat what this log already says (the TaskDO wrote
   * its own), so they are not taken. Absent (false) on tasks stored before it existed.
   */
  runnerPreamble?: boolean;
  /**
   * Seq (in this log) of the last `result` a runner sent: its patch is the workspace's state, from
   * which a follow-up re-creates the workspace when the runner lost it. Null until a runner result.
   */
  workspaceSeq?: number | null;
  /** What the next runner is given instead of `task`: a follow-up that re-creates the workspace. */
  resubmit?: Task | null;
  /** When the running turn began holding its container (null: no turn, or one on the user's own machine). */
  turnStartedAt: number | null;
  /**
   * Whole seconds of the running turn already billed (by the watchdog alarm, see
   * `billRunningSeconds`): the turn's end bills only the rest, so nothing is billed twice. Absent
   * (0) on tasks stored before it existed.
   */
  turnSecondsBilled?: number;
  /**
   * Why the edge is stopping the running turn (its owner's credits or budget ran out): the runner's
   * `cancelled` error and its result are reported as this error. Null or absent otherwise.
   */
  stopError?: AppError | null;
  usage: TaskUsage;
  result: TaskResultSummary | null;
  cancelRequested: boolean;
  sawCancelled: boolean;
}

/** The KV key of the {@link TaskMeta}. */
export const META = "meta";

/**
 * How often the watchdog alarm fires while a task runs: it picks up a task whose object was evicted
 * mid-task and bills the running turn's container seconds so far (so a turn is stopped when the
 * credits run out, not only at its end).
 */
export const WATCHDOG_MS = 30_000;

/** One event to append, with the source's time when it has one. */
export type TaskLogItem = { body: RunEventBody; time?: string | undefined };

/**
 * What the TaskDO lends the code that drives a task (cloud driver, tunnel, follow-up, turn
 * bookkeeping): its stored state, its event log and the ways to change them. A plain object made by
 * the TaskDO, so none of it becomes an RPC method of the Durable Object.
 *
 * @example
 * const meta = host.meta()!;
 * meta.status = "provisioning";
 * host.commit(meta, { type: "status", phase: "provisioning" });
 */
export interface TaskHost {
  readonly env: Env;
  /** The task's log; read it here, append to it only through `commit`/`commitMany`. */
  readonly log: EventLog;
  meta(): TaskMeta | undefined;
  /** Stores `meta` with no event. */
  save(meta: TaskMeta): void;
  /** `commitMany` of one event. */
  commit(meta: TaskMeta, body: RunEventBody, time?: string): RunEvent;
  /**
   * Appends events and stores `meta` in one transaction, sends the events to every watcher, and
   * mirrors a status change into the D1 index. `before` is the stored status before the change.
   */
  commitMany(meta: TaskMeta, items: readonly TaskLogItem[], before?: TaskStatus): RunEvent[];
  /** Mirrors `status` into the D1 index, in order with the other changes, off the hot path. */
  index(id: string, status: TaskStatus): void;
  info(meta: TaskMeta): TaskInfo;
  /** Bills a charge to the owner, in order and off the hot path (see task-billing.ts). */
  bill(meta: TaskMeta, charge: TaskCharge): void;
  /** Runs the task to its result (or makes the running drive go round once more). */
  drive(): Promise<void>;
  /** (Re)arms the watchdog alarm. */
  watchdog(): Promise<void>;
  cancel(): Promise<Result<TaskInfo>>;
}
