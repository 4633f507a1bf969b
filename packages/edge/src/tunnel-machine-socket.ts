import {
  type AppError,
  type EdgeFrame,
  ErrorCode,
  type EventsFrame,
  type HelloFrame,
  parseMachineFrame,
} from "@openagents/protocol";
import { schedule } from "./tunnel-liveness.ts";
import { dispatch } from "./tunnel-queue.ts";
import {
  type Attachment,
  CLOSE_NAME_IN_USE,
  CLOSE_TOO_MANY_BAD,
  closeSocket,
  heartbeatMs,
  machineSocket,
  sendFrame,
  setTaskState,
  type TaskRow,
  type TunnelHost,
  taskDO,
  taskRow,
} from "./tunnel-state.ts";

/*
 * The frames a connected machine sends: `hello` (its claims, and the tasks it still holds, which
 * resumes them), `heartbeat`, `events` (relayed to the task's TaskDO and acked with its stored seq)
 * and `error` (it refused or lost a task). Bad frames earn strikes; too many close the socket.
 */

/** Bad frames a socket may send before it is closed. */
const MAX_STRIKES = 100;

const invalid = (message: string): AppError => ({ code: ErrorCode.InvalidRequest, message });

/**
 * Handles one message on a machine socket.
 *
 * @example
 * override async webSocketMessage(ws, message) { await machineMessage(this.#host, ws, message); }
 */
export async function machineMessage(
  host: TunnelHost,
  ws: WebSocket,
  message: string | ArrayBuffer,
): Promise<void> {
  const att = ws.deserializeAttachment() as Attachment | null;
  if (!att) return;
  if (typeof message !== "string") return reject(ws, att, invalid("binary frames are not accepted"));
  const parsed = parseMachineFrame(message);
  if (!parsed.ok) return reject(ws, att, parsed.error);
  const frame = parsed.value;
  if (frame.type === "hello") return hello(host, ws, att, frame);
  if (att.name === null) return reject(ws, att, invalid("send hello first"));
  host.sql.exec("UPDATE machines SET last_seen = ? WHERE token_id = ?", Date.now(), att.auth.id);
  switch (frame.type) {
    case "heartbeat":
      return sendFrame(ws, { type: "heartbeat" });
    case "events":
      return events(host, ws, att, frame);
    case "error": {
      const row = frame.taskId === undefined ? null : taskRow(host, frame.taskId);
      if (!row || row.token_id !== att.auth.id || row.state !== "assigned") return;
      // The machine refused the task or lost it: it ends with the machine's reason.
      setTaskState(host, row.task_id, "done");
      const error: AppError = { code: frame.code, message: `machine "${att.name}": ${frame.message}` };
      await host.chain(row.task_id, () => taskDO(host, row.task_id).tunnelFail(error));
      dispatch(host);
      return;
    }
  }
}

async function hello(host: TunnelHost, ws: WebSocket, att: Attachment, frame: HelloFrame): Promise<void> {
  const name = frame.name ?? att.auth.label.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  const clash = host.sql
    .exec<{ token_id: string }>(
      "SELECT token_id FROM machines WHERE name = ? AND token_id != ?",
      name,
      att.auth.id,
    )
    .toArray()
    .some((m) => machineSocket(host, m.token_id) !== null);
  if (clash) {
    sendFrame(ws, {
      type: "error",
      code: ErrorCode.Conflict,
      message: `another connected machine is named "${name}"`,
    });
    return closeSocket(ws, CLOSE_NAME_IN_USE, "machine name in use");
  }
  const now = Date.now();
  host.sql.exec(
    `INSERT INTO machines (token_id, name, agents, max_tasks, allow_repos, allow_dirs, policy_repos, policy_max,
      connected_at, last_seen, disconnected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
     ON CONFLICT (token_id) DO UPDATE SET name = excluded.name, agents = excluded.agents,
      max_tasks = excluded.max_tasks, allow_repos = excluded.allow_repos, allow_dirs = excluded.allow_dirs,
      policy_repos = excluded.policy_repos, policy_max = excluded.policy_max,
      connected_at = excluded.connected_at, last_seen = excluded.last_seen, disconnected_at = NULL`,
    att.auth.id,
    name,
    JSON.stringify(frame.agents),
    frame.maxTasks,
    JSON.stringify(frame.allowRepos),
    JSON.stringify(frame.allowDirs),
    JSON.stringify(att.auth.allowRepos),
    att.auth.maxTasks,
    now,
    now,
  );
  ws.serializeAttachment({ ...att, name } satisfies Attachment);

  // Resume: each task the edge expects from this machine is acked at the seq stored; a task the
  // machine no longer has was lost with its process; a task the edge no longer expects is released.
  const held = new Map(frame.tasks.map((t) => [t.taskId, t]));
  const acks: Array<{ taskId: string; seq: number }> = [];
  const lost: TaskRow[] = [];
  const mine = host.sql
    .exec<TaskRow>("SELECT * FROM tasks WHERE token_id = ? AND state IN ('assigned', 'idle')", att.auth.id)
    .toArray();
  for (const row of mine) {
    if (held.has(row.task_id)) acks.push({ taskId: row.task_id, seq: row.acked });
    else if (row.state === "idle") setTaskState(host, row.task_id, "done");
    else lost.push(row);
    held.delete(row.task_id);
  }
  sendFrame(ws, { type: "welcome", machine: name, heartbeatMs: heartbeatMs(host.env), acks });
  for (const taskId of held.keys())
    sendFrame(ws, { type: "release", taskId, reason: "the task is not running here" });
  for (const row of lost) {
    if (row.acked === 0 && row.task !== null) {
      // The assignment never took: the task goes back to the queue.
      host.sql.exec("UPDATE tasks SET state = 'queued', token_id = NULL WHERE task_id = ?", row.task_id);
    } else {
      setTaskState(host, row.task_id, "done");
      const error = {
        code: ErrorCode.RunnerLost,
        message: `machine "${name}" reconnected without the task (its runner stopped)`,
      };
      await host.chain(row.task_id, () => taskDO(host, row.task_id).tunnelFail(error));
    }
  }
  dispatch(host);
  await schedule(host);
}

async function events(host: TunnelHost, ws: WebSocket, att: Attachment, frame: EventsFrame): Promise<void> {
  const { taskId } = frame;
  const row = taskRow(host, taskId);
  if (!row || row.token_id !== att.auth.id) {
    return reject(
      ws,
      att,
      { code: ErrorCode.NotFound, message: `no task ${taskId} on this machine` },
      taskId,
    );
  }
  if (row.state === "done") return sendFrame(ws, { type: "release", taskId, reason: "the task has ended" });
  await host.chain(taskId, async () => {
    const r = await taskDO(host, taskId).tunnelIngest(frame.events);
    if (r.cursor > 0)
      host.sql.exec("UPDATE tasks SET acked = ?, task = NULL WHERE task_id = ?", r.cursor, taskId);
    if (r.refused !== undefined) {
      sendFrame(ws, { type: "error", taskId, code: ErrorCode.Conflict, message: r.refused, seq: r.cursor });
    } else {
      sendFrame(ws, { type: "ack", taskId, seq: r.cursor });
    }
    if (r.ended && taskRow(host, taskId)?.state === "assigned") {
      setTaskState(host, taskId, "idle");
      dispatch(host);
    }
  });
}

/** Answers a bad frame with an error and a strike; too many strikes close the socket. */
function reject(ws: WebSocket, att: Attachment, error: AppError, taskId?: string): void {
  const frame: EdgeFrame = { type: "error", code: error.code, message: error.message };
  if (taskId !== undefined) frame.taskId = taskId;
  sendFrame(ws, frame);
  att.strikes++;
  ws.serializeAttachment(att);
  if (att.strikes >= MAX_STRIKES) closeSocket(ws, CLOSE_TOO_MANY_BAD, "too many bad frames");
}
