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
    const { seq: runnerSeq, time, ...body } = event;
    meta.cursor = runnerSeq;
    if (meta.runnerPreamble) {
      if (isPreamblePhase(body)) continue;
      if (body.type === "status" || body.type === "result") meta.runnerPreamble = false;
    }
    items.push({ body, time });
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
 * Ends the turn: bills its container seconds and sets the final status.
 *
 * @example
 * endTurn(host, meta, body.ok);
 */
export function endTurn(host: TaskHost, meta: TaskMeta, succeeded: boolean): void {
  if (meta.turnStartedAt !== null) {
    const seconds = Math.round((Date.now() - meta.turnStartedAt) / 1000);
    meta.usage.containerSeconds += seconds;
    meta.turnStartedAt = null;
    host.bill(meta, { seconds });
  }
  meta.status = succeeded ? "succeeded" : meta.cancelRequested || meta.sawCancelled ? "cancelled" : "failed";
}

/**
 * Ends the task here (no runner result will come): `error`, then `result{ok:false}`.
 *
 * @example
 * finishTask(host, meta, { code: ErrorCode.RunnerLost, message: "the runner stopped" });
 */
export function finishTask(host: TaskHost, meta: TaskMeta, error: AppError): void {
  host.commit(meta, { type: "error", code: error.code, message: error.message });
  endTurn(host, meta, false);
  const summary = error.code === ErrorCode.Cancelled ? "cancelled" : `failed: ${error.message}`;
  const diffstat = emptyDiffstat();
  meta.result = { ok: false, exitCode: null, summary, diffstat, seq: host.log.lastSeq + 1 };
  host.commit(meta, { type: "result", ok: false, exitCode: null, summary, diffstat, patch: "" });
}
