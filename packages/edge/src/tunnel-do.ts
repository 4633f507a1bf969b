import { DurableObject } from "cloudflare:workers";
import { ErrorCode, err, ok, type Result, type Task } from "@openagents/protocol";
import type { Env } from "./env.ts";
import { errorResponse } from "./http-error.ts";
import { checkLiveness, failMachineTasks, machineLost, schedule } from "./tunnel-liveness.ts";
import { machineMessage } from "./tunnel-machine-socket.ts";
import { dispatch, listMachines } from "./tunnel-queue.ts";
import {
  type Attachment,
  CLOSE_REPLACED,
  CLOSE_REVOKED,
  closeSocket,
  createTunnelTables,
  type MachineAuth,
  type MachineInfo,
  machineSocket,
  sendFrame,
  setTaskState,
  type TunnelHost,
  taskDO,
  taskRow,
} from "./tunnel-state.ts";

export { CLOSE_REVOKED, type MachineAuth, type MachineInfo } from "./tunnel-state.ts";

/** Header of the edge-internal hop from the `/api/tunnel/ws` route: the authenticated token (JSON). */
export const TUNNEL_MACHINE_HEADER = "x-openagents-machine";

/**
 * One user's tunnel: the WebSockets of their `openagents connect` machines (hibernation API, tagged
 * with the machine's token id), each machine's claims and liveness, and the user's `compute:
 * "tunnel"` tasks — queued until a machine that may run them has room, then assigned, relayed
 * (events → TaskDO, acks ← TaskDO's stored seq) and resumed after a reconnect. All calls to a task's
 * TaskDO go through one promise chain per task, so statuses and events arrive in order.
 *
 * The work is split by concept: the machines' frames (tunnel-machine-socket.ts), the queue and
 * dispatch (tunnel-queue.ts), the heartbeat/grace/queue-timeout alarm (tunnel-liveness.ts), the
 * tables and shared helpers (tunnel-state.ts).
 *
 * @example
 * const tunnel = env.TUNNEL.get(env.TUNNEL.idFromName(user.id));
 * const queued = await tunnel.submit(taskId, task);
 */
export class TunnelDO extends DurableObject<Env> {
  readonly #chains = new Map<string, Promise<void>>();
  /** What the split-out code is lent; a plain object, so none of it is an RPC method of this object. */
  readonly #host: TunnelHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    createTunnelTables(ctx.storage.sql);
    this.#host = {
      env,
      sql: ctx.storage.sql,
      sockets: (tokenId) => (tokenId === undefined ? ctx.getWebSockets() : ctx.getWebSockets(tokenId)),
      getAlarm: () => ctx.storage.getAlarm(),
      setAlarm: (at) => ctx.storage.setAlarm(at),
      chain: (taskId, fn) => this.#chain(taskId, fn),
    };
  }

  // ---- calls from TaskDOs and routes ----------------------------------------------------------

  /** Takes a task for one of the user's machines: assigns it now or queues it (idempotent). */
  async submit(taskId: string, task: Task): Promise<Result<{ queued: boolean }>> {
    const host = this.#host;
    const row = taskRow(host, taskId);
    if (row?.state === "done") return err(ErrorCode.Cancelled, "the task was cancelled");
    if (!row) {
      host.sql.exec(
        "INSERT INTO tasks (task_id, state, task, enqueued_at) VALUES (?, 'queued', ?, ?)",
        taskId,
        JSON.stringify(task),
        Date.now(),
      );
      const waiting = dispatch(host, taskId);
      if (waiting !== null)
        await this.#chain(taskId, () =>
          taskDO(host, taskId).tunnelStatus("queued", `waiting for a machine: ${waiting}`),
        );
      await schedule(host);
    }
    await this.#chains.get(taskId);
    return ok({ queued: taskRow(host, taskId)?.state === "queued" });
  }

  /** Cancels: a queued task leaves the queue; a running one is told to its machine. */
  async cancel(taskId: string): Promise<Result<void>> {
    const host = this.#host;
    const row = taskRow(host, taskId);
    if (!row) {
      // Not submitted yet (a cancel racing the start): a tombstone refuses the later submit.
      host.sql.exec(
        "INSERT INTO tasks (task_id, state, enqueued_at) VALUES (?, 'done', ?)",
        taskId,
        Date.now(),
      );
      return err(ErrorCode.NotFound, "cancelled before the task reached a machine");
    }
    if (row.state === "queued" || row.state === "done") {
      setTaskState(host, taskId, "done");
      return err(ErrorCode.NotFound, "cancelled before the task reached a machine");
    }
    const ws = machineSocket(host, row.token_id!);
    if (!ws) {
      setTaskState(host, taskId, "done");
      return err(ErrorCode.RunnerLost, "its machine is not connected");
    }
    sendFrame(ws, { type: "cancel", taskId });
    return ok(undefined);
  }

  /** A follow-up turn on the machine that ran the task (it keeps the workspace and conversation). */
  async followUp(taskId: string, prompt: string): Promise<Result<void>> {
    const host = this.#host;
    const row = taskRow(host, taskId);
    if (row?.state !== "idle" || row.token_id === null)
      return err(ErrorCode.Conflict, "the machine that ran the task no longer has it; start a new task");
    const ws = machineSocket(host, row.token_id);
    if (!ws) return err(ErrorCode.Conflict, "the machine that ran the task is not connected");
    setTaskState(host, taskId, "assigned");
    sendFrame(ws, { type: "follow-up", taskId, prompt });
    return ok(undefined);
  }

  /** The user's machines that have connected at least once, with their claims and liveness. */
  async machines(): Promise<MachineInfo[]> {
    return listMachines(this.#host);
  }

  /** A revoked token: its connection closes now and its running tasks fail. */
  async revoke(tokenId: string): Promise<void> {
    for (const ws of this.ctx.getWebSockets(tokenId))
      closeSocket(ws, CLOSE_REVOKED, "the machine token was revoked");
    this.#host.sql.exec("DELETE FROM machines WHERE token_id = ?", tokenId);
    await failMachineTasks(this.#host, tokenId, "the machine's token was revoked while the task ran");
  }

  // ---- the machines' WebSockets ----------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const raw = request.headers.get(TUNNEL_MACHINE_HEADER);
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !raw) {
      return errorResponse({
        code: ErrorCode.InvalidRequest,
        message: "expected a machine's WebSocket upgrade",
      });
    }
    const auth = JSON.parse(raw) as MachineAuth;
    // One connection per machine: a restarted `openagents connect` replaces its old socket.
    for (const old of this.ctx.getWebSockets(auth.id))
      closeSocket(old, CLOSE_REPLACED, "replaced by a new connection");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [auth.id]);
    server.serializeAttachment({ auth, name: null, strikes: 0 } satisfies Attachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await machineMessage(this.#host, ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
    await machineLost(this.#host, ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await machineLost(this.#host, ws);
  }

  /** Heartbeat check, grace period and queue timeout. */
  override async alarm(): Promise<void> {
    await checkLiveness(this.#host);
  }

  /** Runs `fn` after every earlier call for the same task, so the TaskDO sees them in order. */
  #chain(taskId: string, fn: () => Promise<unknown>): Promise<void> {
    const next = (this.#chains.get(taskId) ?? Promise.resolve()).then(fn).then(
      () => undefined,
      (e: unknown) => console.error(`tunnel: task ${taskId}: ${(e as Error).message}`),
    );
    this.#chains.set(taskId, next);
    void next.then(() => {
      if (this.#chains.get(taskId) === next) this.#chains.delete(taskId);
    });
    return next;
  }
}
