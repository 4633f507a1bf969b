import { ErrorCode, err, ok, type Result, type RunEvent, type RunEventBody } from "@openagents/protocol";
import { isEnded } from "./db/tasks.ts";
import { recreateTask } from "./recreate-workspace.ts";
import { runnerFor } from "./task-cloud-driver.ts";
import type { TaskHost, TaskInfo, TaskMeta } from "./task-meta.ts";
import { followUpTunnel } from "./task-tunnel.ts";

/**
 * A follow-up turn on the same log. The runner that ran the task continues it (same workspace,
 * same conversation); when that runner no longer has it (the container stopped or restarted),
 * the workspace is re-created on a fresh runner from the last result's patch (`recreateTask`).
 *
 * @example
 * const turn = await followUp(host, "now add tests");
 */
export async function followUp(host: TaskHost, prompt: string): Promise<Result<TaskInfo>> {
  const meta = host.meta();
  if (!meta) return err(ErrorCode.NotFound, "no such task");
  if (!isEnded(meta.status)) return err(ErrorCode.Conflict, "the task is still running; wait for its result");
  if (meta.task.agent === "shell")
    return err(ErrorCode.InvalidRequest, 'agent "shell" takes no follow-up prompts');
  if (meta.task.compute === "tunnel") return followUpTunnel(host, meta, prompt);
  if (meta.runnerTaskId === null && (meta.workspaceSeq ?? null) === null)
    return err(ErrorCode.Conflict, "the task never reached a runner; start a new task");
  if (meta.runnerTaskId !== null) {
    const sent = await runnerFor(host, meta).followUp(meta.runnerTaskId, prompt);
    // The runner logs the turn's `queued` ("follow-up") itself; this log adds nothing.
    if (sent.ok) return startTurn(host, {});
    const gone = sent.error.code === ErrorCode.RunnerLost || sent.error.code === ErrorCode.NotFound;
    if (!gone) return sent;
  }
  return recreate(host, prompt);
}

/** A follow-up on a new runner task that first re-creates the workspace (see `recreateTask`). */
async function recreate(host: TaskHost, prompt: string): Promise<Result<TaskInfo>> {
  const meta = host.meta()!;
  // Another follow-up may have started a turn while this one waited for the runner.
  if (!isEnded(meta.status)) return err(ErrorCode.Conflict, "the task is still running; wait for its result");
  const last = lastRunnerResult(host, meta);
  const next = recreateTask(
    meta.task,
    { patch: last?.patch ?? "", filesChanged: last?.diffstat.filesChanged ?? 0 },
    prompt,
    meta.envNames,
  );
  if (!next.ok) return next;
  const where = meta.task.ref ? `${meta.task.repo} @ ${meta.task.ref}` : meta.task.repo;
  const changes = last?.patch
    ? `then applying the last result's patch (${last.diffstat.filesChanged} file${last.diffstat.filesChanged === 1 ? "" : "s"})`
    : "with no changes to restore";
  return startTurn(host, { runnerTaskId: null, cursor: 0, resubmit: next.value, status: "queued" }, [
    {
      type: "log",
      stream: "system",
      text: `the task's container stopped since the last turn: re-creating the workspace from ${where}, ${changes}; the agent starts a new conversation`,
    },
    // The turn's one `queued`, as on the live runner (whose "follow-up" queued is not sent by the
    // new runner task: its opening phases are passed over, see `runnerPreamble`).
    { type: "status", phase: "queued", message: "follow-up" },
  ]);
}

/** The last `result` a runner sent (with its patch), if any. */
function lastRunnerResult(host: TaskHost, meta: TaskMeta): Extract<RunEvent, { type: "result" }> | undefined {
  const seq = meta.workspaceSeq ?? null;
  if (seq === null) return undefined;
  for (const json of host.log.after(seq - 1, 1)) {
    const event = JSON.parse(json) as RunEvent;
    if (event.type === "result") return event;
  }
  return undefined;
}

/** Marks a new turn as running (optionally logging `announce`) and drives it. */
async function startTurn(
  host: TaskHost,
  change: Partial<TaskMeta>,
  announce: readonly RunEventBody[] = [],
): Promise<Result<TaskInfo>> {
  const now = host.meta()!;
  Object.assign(now, {
    status: "running",
    result: null,
    turnStartedAt: Date.now(),
    cancelRequested: false,
    sawCancelled: false,
    ...change,
  });
  if (announce.length > 0)
    host.commitMany(
      now,
      announce.map((body) => ({ body })),
    );
  else {
    host.save(now);
    host.index(now.id, now.status);
  }
  await host.watchdog();
  void host.drive();
  return ok(host.info(now));
}
