import type { Task } from "@openagents/protocol";
import { capacityOf, chooseMachine, type MachineSlot } from "./tunnel-dispatch.ts";
import {
  heartbeatMs,
  type MachineInfo,
  type MachineRow,
  machineSocket,
  sendFrame,
  slotOf,
  type TaskRow,
  type TunnelHost,
  taskDO,
} from "./tunnel-state.ts";

/*
 * The queue of a user's tunnel tasks: which connected machine takes which task (the choice itself
 * is tunnel-dispatch.ts), why a task still waits, and the machines as the user sees them.
 */

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Assigns queued tasks (oldest first) to machines with room. Decisions are taken synchronously,
 * so two overlapping calls cannot assign one task twice. Returns why `waitingFor` (if given) still waits.
 *
 * @example
 * const waiting = dispatch(host, taskId);
 * if (waiting !== null) log(`waiting for a machine: ${waiting}`);
 */
export function dispatch(host: TunnelHost, waitingFor?: string): string | null {
  const queued = host.sql
    .exec<TaskRow>("SELECT * FROM tasks WHERE state = 'queued' ORDER BY enqueued_at")
    .toArray();
  if (queued.length === 0) return null;
  const slots = connectedSlots(host);
  let reason: string | null = null;
  for (const row of queued) {
    const task = JSON.parse(row.task ?? "null") as Task | null;
    if (!task) continue;
    const pick = chooseMachine(task, slots);
    if (!pick.ok) {
      if (row.task_id === waitingFor) reason = pick.reason;
      continue;
    }
    const m = pick.value;
    m.running++;
    host.sql.exec(
      "UPDATE tasks SET state = 'assigned', token_id = ? WHERE task_id = ?",
      m.tokenId,
      row.task_id,
    );
    const taskId = row.task_id;
    void host.chain(taskId, async () => {
      await taskDO(host, taskId).tunnelStatus("provisioning", `on machine "${m.name}"`);
      const ws = machineSocket(host, m.tokenId);
      if (ws) sendFrame(ws, { type: "assign", taskId, task });
    });
  }
  return reason;
}

/**
 * Why a queued task still waits (null when a machine could take it now).
 *
 * @example
 * const why = waitReason(host, row) ?? "no machine took it";
 */
export function waitReason(host: TunnelHost, row: TaskRow): string | null {
  const task = JSON.parse(row.task ?? "null") as Task | null;
  if (!task) return null;
  const pick = chooseMachine(task, connectedSlots(host));
  return pick.ok ? null : pick.reason;
}

/** Connected machines (a live socket that said hello and beats) with the edge's count of their tasks. */
function connectedSlots(host: TunnelHost): MachineSlot[] {
  const stale = Date.now() - 3 * heartbeatMs(host.env);
  return host.sql
    .exec<MachineRow>("SELECT * FROM machines WHERE disconnected_at IS NULL AND last_seen >= ?", stale)
    .toArray()
    .filter((m) => machineSocket(host, m.token_id) !== null)
    .map((m) => {
      const running = host.sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM tasks WHERE token_id = ? AND state = 'assigned'",
          m.token_id,
        )
        .one().n;
      return slotOf(m, running);
    });
}

/**
 * The user's machines that have connected at least once, with their claims and liveness.
 *
 * @example
 * return Response.json(listMachines(host));
 */
export function listMachines(host: TunnelHost): MachineInfo[] {
  const rows = host.sql.exec<MachineRow>("SELECT * FROM machines ORDER BY name").toArray();
  return rows.map((m) => {
    const tasks = host.sql
      .exec<{ task_id: string }>(
        "SELECT task_id FROM tasks WHERE token_id = ? AND state = 'assigned' ORDER BY enqueued_at",
        m.token_id,
      )
      .toArray()
      .map((t) => t.task_id);
    const slot = slotOf(m, tasks.length);
    return {
      id: m.token_id,
      name: m.name,
      connected: machineSocket(host, m.token_id) !== null,
      connectedAt: iso(m.connected_at),
      lastSeen: iso(m.last_seen),
      disconnectedAt: iso(m.disconnected_at),
      agents: slot.agents,
      claimed: { maxTasks: m.max_tasks, allowRepos: slot.allowRepos, allowDirs: slot.allowDirs },
      maxTasks: capacityOf(slot),
      running: tasks.length,
      tasks,
    };
  });
}
