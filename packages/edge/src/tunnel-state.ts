import { type EdgeFrame, encodeFrame } from "@openagents/protocol";
import { parseDuration } from "./duration.ts";
import type { Env } from "./env.ts";
import type { MachineSlot } from "./tunnel-dispatch.ts";
import type { MachinePolicy } from "./tunnel-tokens.ts";

/*
 * A TunnelDO's stored state (its `machines` and `tasks` tables), the host object it lends the code
 * split out of it (tunnel-machine-socket.ts, tunnel-queue.ts, tunnel-liveness.ts), and the small
 * helpers all of them use.
 */

/** What the route tells the TunnelDO about the token a machine authenticated with. */
export interface MachineAuth extends MachinePolicy {
  id: string;
  label: string;
}

/** A machine as `GET /api/tunnel/machines` shows it. */
export interface MachineInfo {
  id: string;
  name: string;
  connected: boolean;
  connectedAt: string | null;
  lastSeen: string | null;
  disconnectedAt: string | null;
  agents: string[];
  /** What the machine claims. */
  claimed: { maxTasks: number; allowRepos: string[]; allowDirs: string[] };
  /** Tasks it may hold at once (its claim capped by its token's policy). */
  maxTasks: number;
  /** Tasks the edge has given it that have not ended. */
  running: number;
  tasks: string[];
}

export type TaskState = "queued" | "assigned" | "idle" | "done";

/** Kept on each machine socket (it survives hibernation): who it is and how often it misbehaved. */
export interface Attachment {
  auth: MachineAuth;
  /** Null until the machine said hello. */
  name: string | null;
  strikes: number;
}

export interface MachineRow extends Record<string, SqlStorageValue> {
  token_id: string;
  name: string;
  agents: string;
  max_tasks: number;
  allow_repos: string;
  allow_dirs: string;
  policy_repos: string;
  policy_max: number;
  connected_at: number | null;
  last_seen: number | null;
  disconnected_at: number | null;
}

export interface TaskRow extends Record<string, SqlStorageValue> {
  task_id: string;
  state: TaskState;
  token_id: string | null;
  task: string | null;
  enqueued_at: number;
  acked: number;
}

/** Close codes the machine acts on: 4401 = token revoked (stop), the others = reconnect. */
export const CLOSE_REVOKED = 4401;
export const CLOSE_REPLACED = 4000;
export const CLOSE_NO_HEARTBEAT = 4408;
export const CLOSE_NAME_IN_USE = 4409;
export const CLOSE_TOO_MANY_BAD = 1008;

/**
 * What the TunnelDO lends the code split out of it; a plain object, so none of it is an RPC method
 * of the Durable Object.
 *
 * @example
 * // Built once in the TunnelDO's constructor, then passed to the split-out functions:
 * await schedule(this.#host);
 */
export interface TunnelHost {
  env: Env;
  sql: SqlStorage;
  /** The accepted machine sockets: all of them, or those tagged with one token id. */
  sockets: (tokenId?: string) => WebSocket[];
  getAlarm: () => Promise<number | null>;
  setAlarm: (at: number) => Promise<void>;
  /** Runs `fn` after every earlier call for the same task, so the TaskDO sees them in order. */
  chain: (taskId: string, fn: () => Promise<unknown>) => Promise<void>;
}

/**
 * Creates the two tables (once per object).
 *
 * @example
 * createTunnelTables(ctx.storage.sql);
 */
export function createTunnelTables(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS machines (token_id TEXT PRIMARY KEY, name TEXT NOT NULL,
    agents TEXT NOT NULL, max_tasks INTEGER NOT NULL, allow_repos TEXT NOT NULL, allow_dirs TEXT NOT NULL,
    policy_repos TEXT NOT NULL, policy_max INTEGER NOT NULL, connected_at INTEGER, last_seen INTEGER,
    disconnected_at INTEGER)`);
  sql.exec(`CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, state TEXT NOT NULL,
    token_id TEXT, task TEXT, enqueued_at INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0)`);
}

/**
 * The heartbeat interval both ways (`TUNNEL_HEARTBEAT`); three missed beats mean the machine is gone.
 *
 * @example
 * const stale = Date.now() - 3 * heartbeatMs(host.env);
 */
export const heartbeatMs = (env: Env): number => parseDuration(env.TUNNEL_HEARTBEAT, 15_000);

/**
 * The task's row, or null.
 *
 * @example
 * if (taskRow(host, taskId)?.state === "done") return;
 */
export function taskRow(host: TunnelHost, taskId: string): TaskRow | null {
  return host.sql.exec<TaskRow>("SELECT * FROM tasks WHERE task_id = ?", taskId).toArray()[0] ?? null;
}

/**
 * Moves a task to `state`.
 *
 * @example
 * setTaskState(host, taskId, "done");
 */
export function setTaskState(host: TunnelHost, taskId: string, state: TaskState): void {
  host.sql.exec("UPDATE tasks SET state = ? WHERE task_id = ?", state, taskId);
}

/**
 * The machine's live socket (one that said hello), other than `except`.
 *
 * @example
 * const ws = machineSocket(host, row.token_id);
 * if (ws) sendFrame(ws, { type: "cancel", taskId });
 */
export function machineSocket(host: TunnelHost, tokenId: string, except?: WebSocket): WebSocket | null {
  for (const ws of host.sockets(tokenId)) {
    if (ws === except || ws.readyState !== WebSocket.OPEN) continue;
    const att = ws.deserializeAttachment() as Attachment | null;
    if (att?.name) return ws;
  }
  return null;
}

/**
 * Sends a frame; one that does not encode is logged, a closed socket ignored.
 *
 * @example
 * sendFrame(ws, { type: "heartbeat" });
 */
export function sendFrame(ws: WebSocket, frame: EdgeFrame): void {
  const text = encodeFrame(frame);
  if (!text.ok) {
    console.error(`tunnel: could not send a ${frame.type} frame: ${text.error.message}`);
    return;
  }
  try {
    ws.send(text.value);
  } catch {
    // The socket closed; its close handler records that.
  }
}

/**
 * Closes a socket that may already be closed.
 *
 * @example
 * closeSocket(ws, CLOSE_REVOKED, "the machine token was revoked");
 */
export function closeSocket(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

/**
 * The task's TaskDO, which the TunnelDO reports statuses, events and failures to.
 *
 * @example
 * await host.chain(taskId, () => taskDO(host, taskId).tunnelFail(error));
 */
export function taskDO(host: TunnelHost, taskId: string) {
  return host.env.TASK.get(host.env.TASK.idFromName(taskId));
}

/**
 * A machine row as dispatch sees it, with the edge's count of its running tasks.
 *
 * @example
 * capacityOf(slotOf(row, 0));
 */
export function slotOf(m: MachineRow, running: number): MachineSlot {
  return {
    tokenId: m.token_id,
    name: m.name,
    agents: JSON.parse(m.agents) as MachineSlot["agents"],
    claimedMaxTasks: m.max_tasks,
    allowRepos: JSON.parse(m.allow_repos) as string[],
    allowDirs: JSON.parse(m.allow_dirs) as string[],
    policyRepos: JSON.parse(m.policy_repos) as string[],
    policyMaxTasks: m.policy_max,
    running,
  };
}
