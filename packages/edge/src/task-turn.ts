import {
  type AppError,
  ErrorCode,
  emptyDiffstat,
  type RunEvent,
  type RunEventBody,
} from "@openagents/protocol";
import type { TaskHost, TaskMeta } from "./task-meta.ts";

/** A runner's opening phases, which a cloud task's log already has from its TaskDO. */
const isPreamblePhase = (body: RunEventBody) =>
  body.type === "status" && (body.phase === "queued" || body.phase === "provisioning");

/**
 * Takes runner events (runner seqs, ascending) into the log under this task's own seqs, in one
 * transaction; events at or before the cursor (taken before a resume) are skipped, and nothing
 * after a `result` is taken. While `meta.runnerPreamble` holds, the runner's `queued` and
 * `provisioning` statuses are passed over (the cursor still moves past them). True when the
 * result was among them.
 *
 * @example
 * for await (const batch of stream) if (ingestBatch(host, batch)) return;
 */
export function ingestBatch(host: TaskHost, events: readonly RunEvent[]): boolean {
  const meta = host.meta()!;
  const before = meta.status;
  const cursor = meta.cursor;
  const items: Array<{ body: RunEventBody; time: string }> = [];
  let ended = false;
  for (const event of events) {
    if (event.seq <= meta.cursor) continue;
    const { seq: runnerSeq, time, ...sent } = event;
    meta.cursor = runnerSeq;
    if (meta.runnerPreamble) {
      if (isPreamblePhase(sent)) continue;
      if (sent.type === "status" || sent.type === "result") meta.runnerPreamble = false;
    }
    const taken = meta.stopError ? asStopped(meta, meta.stopError, sent) : [sent];
    for (const body of taken) items.push({ body, time });
    const body = taken.at(-1)!;
    if (body.type === "usage") {
      meta.usage.inputTokens += body.inputTokens;
      meta.usage.outputTokens += body.outputTokens;
      meta.usage.costUsd += body.costUsd ?? 0;
      host.bill(meta, { usage: body });
    } else if (body.type === "error" && body.code === ErrorCode.Cancelled) {
      meta.sawCancelled = true;
    } else if (body.type === "status" && meta.status !== "running") {
      meta.status = "running";
    } else if (body.type === "result") {
      endTurn(host, meta, body.ok);
      const seq = host.log.lastSeq + items.length;
      meta.workspaceSeq = seq;
      meta.result = {
        ok: body.ok,
        exitCode: body.exitCode,
        summary: body.summary,
        diffstat: body.diffstat,
        seq,
      };
      ended = true;
      break;
    }
  }
  if (items.length > 0) host.commitMany(meta, items, before);
  // Only passed-over events: the cursor still has to move past them (a resume must not see them again).
  else if (meta.cursor !== cursor) host.save(meta);
  return ended;
}

/**
 * What this log takes for a runner event while the edge stops the turn (`meta.stopError`): the
 * runner's `cancelled` error becomes the stop's error, and a failed result says why in its summary,
 * after that error (added here when the runner sent none). The result keeps the runner's patch.
 */
function asStopped(meta: TaskMeta, stop: AppError, body: RunEventBody): RunEventBody[] {
  const error: RunEventBody = { type: "error", code: stop.code, message: stop.message };
  if (body.type === "error" && body.code === ErrorCode.Cancelled) {
    meta.sawCancelled = true;
    return [error];
  }
  if (body.type !== "result" || body.ok) return [body];
  const result: RunEventBody = { ...body, summary: `failed: ${stop.message}` };
  if (meta.sawCancelled) return [result];
  meta.sawCancelled = true;
  return [error, result];
}

/**
 * Bills the running turn's whole seconds not billed yet (the watchdog alarm calls it, so a long
 * turn is charged while it runs and stopped when the credits or budget run out, see
 * task-billing.ts). The fraction of a second carries over; `endTurn` bills the rest. Returns the
 * seconds billed now.
 *
 * @example
 * const meta = host.meta();
 * if (meta && !isEnded(meta.status)) billRunningSeconds(host, meta);
 */
export function billRunningSeconds(host: TaskHost, meta: TaskMeta, now = Date.now()): number {
  if (meta.turnStartedAt === null) return 0;
  const billed = meta.turnSecondsBilled ?? 0;
  const due = Math.floor((now - meta.turnStartedAt) / 1000) - billed;
  if (due <= 0) return 0;
  meta.turnSecondsBilled = billed + due;
  meta.usage.containerSeconds += due;
  host.save(meta);
  host.bill(meta, { seconds: due });
  return due;
}

/**
 * Ends the turn: bills the rest of its container seconds (the turn's rounded duration less what
 * `billRunningSeconds` billed while it ran) and sets the final status. A turn the edge stopped
 * (`meta.stopError`) fails; one the user or runner cancelled is cancelled.
 *
 * @example
 * endTurn(host, meta, body.ok);
 */
export function endTurn(host: TaskHost, meta: TaskMeta, succeeded: boolean): void {
  if (meta.turnStartedAt !== null) {
    const total = Math.round((Date.now() - meta.turnStartedAt) / 1000);
    const seconds = Math.max(0, total - (meta.turnSecondsBilled ?? 0));
    meta.usage.containerSeconds += seconds;
    meta.turnStartedAt = null;
    meta.turnSecondsBilled = 0;
    if (seconds > 0) host.bill(meta, { seconds });
  }
  const cancelled = !meta.stopError && (meta.cancelRequested || meta.sawCancelled);
  meta.status = succeeded ? "succeeded" : cancelled ? "cancelled" : "failed";
  meta.stopError = null;
}

/**
 * Ends the task here (no runner result will come): `error`, then `result{ok:false}`. A cancel
 * while the edge stops the turn (`meta.stopError`) is reported as the stop's error.
 *
 * @example
 * finishTask(host, meta, { code: ErrorCode.RunnerLost, message: "the runner stopped" });
 */
export function finishTask(host: TaskHost, meta: TaskMeta, error: AppError): void {
  const reported = meta.stopError && error.code === ErrorCode.Cancelled ? meta.stopError : error;
  host.commit(meta, { type: "error", code: reported.code, message: reported.message });
  endTurn(host, meta, false);
  const summary = reported.code === ErrorCode.Cancelled ? "cancelled" : `failed: ${reported.message}`;
  const diffstat = emptyDiffstat();
  meta.result = { ok: false, exitCode: null, summary, diffstat, seq: host.log.lastSeq + 1 };
  host.commit(meta, { type: "result", ok: false, exitCode: null, summary, diffstat, patch: "" });
}
