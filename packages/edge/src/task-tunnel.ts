import { type AppError, ErrorCode, ok, type Result, type RunEvent } from "@openagents/protocol";
import { isEnded } from "./db/tasks.ts";
import type { TaskHost, TaskInfo, TaskMeta } from "./task-meta.ts";
import { finishTask, ingestBatch } from "./task-turn.ts";

/*
 * Compute "tunnel": the owner's TunnelDO runs the task on one of their machines. The TaskDO hands
 * the task (and its follow-ups and cancel) over, and the TunnelDO calls back with statuses, the
 * machine's events and failures (the `tunnel*` RPC methods of the TaskDO, which end up here).
 */

function tunnelOf(host: TaskHost, meta: TaskMeta) {
  return host.env.TUNNEL.get(host.env.TUNNEL.idFromName(meta.owner));
}

/**
 * Hands the task to the owner's TunnelDO (idempotent); its events then arrive by `tunnelIngest`.
 *
 * @example
 * if (meta.task.compute === "tunnel") return driveTunnel(host, meta);
 */
export async function driveTunnel(host: TaskHost, meta: TaskMeta): Promise<void> {
  if (meta.runnerTaskId !== null) return;
  const queued = await tunnelOf(host, meta).submit(meta.id, meta.task);
  const now = host.meta()!;
  if (isEnded(now.status)) return;
  if (!queued.ok) return finishTask(host, now, queued.error);
  now.runnerTaskId = now.id;
  // The TunnelDO keeps the task until a machine has it; the values need not stay here.
  delete now.task.env;
  host.save(now);
}

/**
 * Cancels a tunnel task (its cancel request is stored) through the TunnelDO.
 *
 * @example
 * return cancelTunnel(host, meta);
 */
export async function cancelTunnel(host: TaskHost, meta: TaskMeta): Promise<Result<TaskInfo>> {
  const sent = await tunnelOf(host, meta).cancel(meta.id);
  const now = host.meta()!;
  if (!sent.ok && !isEnded(now.status))
    finishTask(host, now, { code: ErrorCode.Cancelled, message: `cancelled (${sent.error.message})` });
  return ok(host.info(host.meta()!));
}

/**
 * A follow-up turn. It is marked running before the machine hears of it, so its first events are taken.
 *
 * @example
 * if (meta.task.compute === "tunnel") return followUpTunnel(host, meta, prompt);
 */
export async function followUpTunnel(
  host: TaskHost,
  meta: TaskMeta,
  prompt: string,
): Promise<Result<TaskInfo>> {
  const { status, result, turnStartedAt, cancelRequested, sawCancelled } = meta;
  // No turnStartedAt: the user's own machine holds no container, so no container seconds are billed.
  const turn = { status: "running" as const, result: null };
  host.save(Object.assign(meta, turn, { cancelRequested: false, sawCancelled: false }));
  const sent = await tunnelOf(host, meta).followUp(meta.id, prompt);
  const now = host.meta()!;
  if (!sent.ok) {
    host.save(Object.assign(now, { status, result, turnStartedAt, cancelRequested, sawCancelled }));
    return sent;
  }
  host.index(now.id, "running");
  await host.watchdog();
  return ok(host.info(now));
}

/**
 * From the TunnelDO: a status line (waiting for a machine, on machine X).
 *
 * @example
 * tunnelStatus(host, "provisioning", 'on machine "box"');
 */
export function tunnelStatus(host: TaskHost, phase: "queued" | "provisioning", message: string): void {
  const meta = host.meta();
  if (!meta || isEnded(meta.status)) return;
  if (phase === "provisioning") meta.status = "provisioning";
  host.commit(meta, { type: "status", phase, message });
}

/**
 * From the TunnelDO: a machine's events (runner seqs). Seqs already taken are skipped (a resend
 * after a reconnect); a gap is refused with the seq to resend after. `cursor` is what is stored.
 *
 * @example
 * const { cursor, refused } = tunnelIngest(host, events);
 */
export function tunnelIngest(
  host: TaskHost,
  events: RunEvent[],
): { cursor: number; ended: boolean; refused?: string } {
  let meta = host.meta();
  if (!meta) return { cursor: 0, ended: true, refused: "no such task" };
  for (const event of events) {
    meta = host.meta()!;
    if (event.seq <= meta.cursor) continue;
    if (isEnded(meta.status)) return { cursor: meta.cursor, ended: true, refused: "the task has ended" };
    if (event.seq !== meta.cursor + 1) {
      const refused = `out-of-order seq: expected ${meta.cursor + 1}, got ${event.seq}`;
      return { cursor: meta.cursor, ended: false, refused };
    }
    ingestBatch(host, [event]);
  }
  meta = host.meta()!;
  return { cursor: meta.cursor, ended: isEnded(meta.status) };
}

/**
 * From the TunnelDO: the task ends here (queue timeout, machine lost or refused it).
 *
 * @example
 * tunnelFail(host, { code: ErrorCode.Timeout, message: "no machine connected in time" });
 */
export function tunnelFail(host: TaskHost, error: AppError): void {
  const meta = host.meta();
  if (meta && !isEnded(meta.status)) finishTask(host, meta, error);
}
