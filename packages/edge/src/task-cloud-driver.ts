import { type AppError, ErrorCode, ok, type Result } from "@openagents/protocol";
import { isEnded } from "./db/tasks.ts";
import { RunnerClient } from "./runner-client.ts";
import type { TaskHost, TaskInfo, TaskMeta } from "./task-meta.ts";
import { finishTask, ingestBatch } from "./task-turn.ts";

const MAX_STREAM_RETRIES = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The runner of the task's owner, through their ContainerDO.
 *
 * @example
 * await runnerFor(host, meta).followUp(meta.runnerTaskId, "now add tests");
 */
export function runnerFor(host: TaskHost, meta: TaskMeta): RunnerClient {
  const { CONTAINER } = host.env;
  return new RunnerClient(CONTAINER.get(CONTAINER.idFromName(meta.owner)), meta.owner);
}

/**
 * Drives a cloud task (compute "cloud"): asks the owner's ContainerDO for a runner and posts the
 * task when no runner has it yet, then follows the runner's SSE stream to the result (resuming
 * after the last event taken); a runner that dies before its result ends the task with
 * `error{runner_lost}` + `result{ok:false}`.
 *
 * @example
 * await driveCloud(host, host.meta()!);
 */
export async function driveCloud(host: TaskHost, meta: TaskMeta): Promise<void> {
  const runner = runnerFor(host, meta);
  if (meta.runnerTaskId === null) {
    meta.status = "provisioning";
    meta.turnStartedAt ??= Date.now();
    host.commit(meta, { type: "status", phase: "provisioning", message: "starting a container" });
    // The submit starts the container when it is not running (and reports why it could not).
    const submitted = await runner.submit(meta.resubmit ?? meta.task);
    meta = host.meta()!;
    if (isEnded(meta.status)) {
      // Cancelled while the container started or the runner took the task.
      if (submitted.ok) await runner.cancel(submitted.value.id);
      return;
    }
    if (!submitted.ok) return finishTask(host, meta, submitted.error);
    meta.runnerTaskId = submitted.value.id;
    meta.cursor = 0;
    meta.resubmit = null;
    // The runner opens with its own queued/provisioning, which this log already has.
    meta.runnerPreamble = true;
    meta.status = "running";
    // The runner has the env now; the values need not stay in storage.
    delete meta.task.env;
    host.save(meta);
    // Off the hot path: the index follows, in order with the other status changes.
    host.index(meta.id, "running");
    if (meta.cancelRequested) await runner.cancel(meta.runnerTaskId);
  }
  await follow(host, runner);
}

/** Reads the runner's events until a `result`, resuming after drops; a runner that is gone ends the task. */
async function follow(host: TaskHost, runner: RunnerClient): Promise<void> {
  let failures = 0;
  let lastError: AppError = {
    code: ErrorCode.RunnerLost,
    message: "the runner's event stream ended before the result",
  };
  for (;;) {
    let meta = host.meta()!;
    if (isEnded(meta.status) || meta.runnerTaskId === null) return;
    const stream = await runner.events(meta.runnerTaskId, meta.cursor);
    if (stream.ok) {
      try {
        for await (const batch of stream.value) {
          failures = 0;
          if (ingestBatch(host, batch)) return;
        }
        lastError = {
          code: ErrorCode.RunnerLost,
          message: "the runner's event stream ended before the result",
        };
      } catch (e) {
        lastError = {
          code: ErrorCode.RunnerLost,
          message: `the runner's event stream broke: ${(e as Error).message}`,
        };
      }
    } else {
      lastError = stream.error;
      // The runner does not know the task: it restarted and lost it.
      if (stream.error.code === ErrorCode.NotFound) {
        meta = host.meta()!;
        return finishTask(host, meta, {
          code: ErrorCode.RunnerLost,
          message: "the runner no longer knows this task (its container restarted)",
        });
      }
    }
    failures++;
    const alive = await runner.alive();
    meta = host.meta()!;
    if (isEnded(meta.status)) return;
    if (!alive || failures > MAX_STREAM_RETRIES) {
      return finishTask(host, meta, {
        code: ErrorCode.RunnerLost,
        message: alive
          ? `the runner stopped answering: ${lastError.message}`
          : "the runner stopped before the task finished",
      });
    }
    await sleep(Math.min(200 * 2 ** failures, 5000));
  }
}

/**
 * Cancels a cloud task (its cancel request is stored): the runner's cancel, or ends it here if no
 * runner has it yet.
 *
 * @example
 * meta.cancelRequested = true;
 * host.save(meta);
 * return cancelCloud(host, meta);
 */
export async function cancelCloud(host: TaskHost, meta: TaskMeta): Promise<Result<TaskInfo>> {
  if (meta.runnerTaskId === null) {
    finishTask(host, meta, {
      code: ErrorCode.Cancelled,
      message: "cancelled before the task reached a runner",
    });
    return ok(host.info(meta));
  }
  const sent = await runnerFor(host, meta).cancel(meta.runnerTaskId);
  if (!sent.ok) {
    const now = host.meta()!;
    if (!isEnded(now.status))
      finishTask(host, now, { code: ErrorCode.Cancelled, message: `cancelled (${sent.error.message})` });
  }
  return ok(host.info(host.meta()!));
}
