import { ErrorCode } from "@openagents/protocol";
import { parseDuration } from "./duration.ts";
import { waitReason } from "./tunnel-queue.ts";
import {
  type Attachment,
  CLOSE_NO_HEARTBEAT,
  closeSocket,
  heartbeatMs,
  type MachineRow,
  machineSocket,
  setTaskState,
  type TaskRow,
  type TunnelHost,
  taskDO,
} from "./tunnel-state.ts";

/*
 * The TunnelDO's clock: one alarm for the heartbeat check, the grace period of a disconnected
 * machine (its running tasks fail after it) and the queue timeout (a task no machine took fails).
 */

const graceMs = (host: TunnelHost) => parseDuration(host.env.TUNNEL_GRACE, 120_000);
const queueTimeoutMs = (host: TunnelHost) => parseDuration(host.env.TUNNEL_QUEUE_TIMEOUT, 600_000);

/**
 * The alarm: closes silent machines, fails the tasks of machines gone past their grace period and
 * the queued tasks past the queue timeout, then sets the next alarm.
 *
 * @example
 * override async alarm() { await checkLiveness(this.#host); }
 */
export async function checkLiveness(host: TunnelHost): Promise<void> {
  const now = Date.now();
  const stale = now - 3 * heartbeatMs(host.env);
  for (const m of host.sql.exec<MachineRow>("SELECT * FROM machines").toArray()) {
    const ws = machineSocket(host, m.token_id);
    if (ws && (m.last_seen ?? 0) < stale) closeSocket(ws, CLOSE_NO_HEARTBEAT, "no heartbeat");
    if ((!ws || (m.last_seen ?? 0) < stale) && m.disconnected_at === null)
      host.sql.exec("UPDATE machines SET disconnected_at = ? WHERE token_id = ?", now, m.token_id);
  }
  const gone = host.sql
    .exec<MachineRow>(
      "SELECT * FROM machines WHERE disconnected_at IS NOT NULL AND disconnected_at <= ?",
      now - graceMs(host),
    )
    .toArray();
  for (const m of gone) {
    await failMachineTasks(
      host,
      m.token_id,
      `machine "${m.name}" has been disconnected for longer than ${host.env.TUNNEL_GRACE || "2m"}`,
    );
  }
  const expired = host.sql
    .exec<TaskRow>(
      "SELECT * FROM tasks WHERE state = 'queued' AND enqueued_at <= ?",
      now - queueTimeoutMs(host),
    )
    .toArray();
  for (const t of expired) {
    const why = waitReason(host, t) ?? "no machine took it";
    setTaskState(host, t.task_id, "done");
    const error = {
      code: ErrorCode.Timeout,
      message: `no machine took the task within ${host.env.TUNNEL_QUEUE_TIMEOUT || "10m"}: ${why}`,
    };
    await host.chain(t.task_id, () => taskDO(host, t.task_id).tunnelFail(error));
  }
  await schedule(host);
}

/**
 * Sets the next alarm: the earliest heartbeat check, grace expiry or queue timeout.
 *
 * @example
 * dispatch(host);
 * await schedule(host);
 */
export async function schedule(host: TunnelHost): Promise<void> {
  const times: number[] = [];
  const now = Date.now();
  if (host.sockets().length > 0) times.push(now + heartbeatMs(host.env));
  const gone = host.sql
    .exec<{ t: number | null }>(
      `SELECT MIN(m.disconnected_at) AS t FROM machines m WHERE m.disconnected_at IS NOT NULL
       AND EXISTS (SELECT 1 FROM tasks t WHERE t.token_id = m.token_id AND t.state = 'assigned')`,
    )
    .one().t;
  if (gone !== null) times.push(gone + graceMs(host));
  const oldest = host.sql
    .exec<{ t: number | null }>("SELECT MIN(enqueued_at) AS t FROM tasks WHERE state = 'queued'")
    .one().t;
  if (oldest !== null) times.push(oldest + queueTimeoutMs(host));
  if (times.length === 0) return;
  const next = Math.max(Math.min(...times), now + 50);
  const current = await host.getAlarm();
  if (current === null || current > next || current < now) await host.setAlarm(next);
}

/**
 * A machine's socket closed or failed: unless a newer connection replaced it, its grace period starts.
 *
 * @example
 * override async webSocketError(ws: WebSocket) { await machineLost(this.#host, ws); }
 */
export async function machineLost(host: TunnelHost, ws: WebSocket): Promise<void> {
  const att = ws.deserializeAttachment() as Attachment | null;
  if (!att || machineSocket(host, att.auth.id, ws) !== null) return; // Replaced by a newer connection.
  host.sql.exec(
    "UPDATE machines SET disconnected_at = COALESCE(disconnected_at, ?) WHERE token_id = ?",
    Date.now(),
    att.auth.id,
  );
  await schedule(host);
}

/**
 * Fails every task the machine is running with `message` (machine gone or token revoked).
 *
 * @example
 * await failMachineTasks(host, tokenId, "the machine's token was revoked while the task ran");
 */
export async function failMachineTasks(host: TunnelHost, tokenId: string, message: string): Promise<void> {
  const rows = host.sql
    .exec<TaskRow>("SELECT * FROM tasks WHERE token_id = ? AND state = 'assigned'", tokenId)
    .toArray();
  for (const row of rows) {
    setTaskState(host, row.task_id, "done");
    const error = { code: ErrorCode.RunnerLost, message };
    await host.chain(row.task_id, () => taskDO(host, row.task_id).tunnelFail(error));
  }
}
