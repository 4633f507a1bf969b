import type { ResultBody, Task } from "@openagents/protocol";
import type { EventLog } from "./event-log.ts";

export type TaskState = "running" | "succeeded" | "failed" | "cancelled";

/** A task that has been started: its event log, state and controls. */
export interface TaskHandle {
  readonly id: string;
  readonly task: Task;
  readonly log: EventLog;
  readonly createdAt: string;
  state(): TaskState;
  /** The final result once the task ended. */
  result(): ResultBody | undefined;
  /** Stops the task's whole process tree; the task ends with `error{code:"cancelled"}` then `result.ok=false`. */
  cancel(reason?: string): void;
  /** Settles when the final `result` event has been appended (never rejects). */
  readonly done: Promise<ResultBody>;
}
