import { DurableObject } from "cloudflare:workers";
import {
  type AppError,
  type EdgeFrame,
  ErrorCode,
  type EventsFrame,
  encodeFrame,
  err,
  type HelloFrame,
  ok,
  parseMachineFrame,
  type Result,
  type Task,
} from "@openagents/protocol";
import { parseDuration } from "./duration.ts";
import type { Env } from "./env.ts";
import { errorResponse } from "./http-error.ts";
import { capacityOf, chooseMachine, type MachineSlot } from "./tunnel-dispatch.ts";
import type { MachinePolicy } from "./tunnel-tokens.ts";

/** Header of the edge-internal hop from the `/api/tunnel/ws` route: the authenticated token (JSON). */
export const TUNNEL_MACHINE_HEADER = "x-openagents-machine";

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

type TaskState = "queued" | "assigned" | "idle" | "done";

interface Attachment {
  auth: MachineAuth;
  name: string | null;
  strikes: number;
}

interface MachineRow extends Record<string, SqlStorageValue> {
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

interface TaskRow extends Record<string, SqlStorageValue> {
  task_id: string;
  state: TaskState;
  token_id: string | null;
  task: string | null;
  enqueued_at: number;
  acked: number;
}

/** Close codes the machine acts on: 4401 = token revoked (stop), the others = reconnect. */
export const CLOSE_REVOKED = 4401;
const CLOSE_REPLACED = 4000;
const CLOSE_NO_HEARTBEAT = 4408;
const CLOSE_TOO_MANY_BAD = 1008;
const MAX_STRIKES = 100;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * One user's tunnel: the WebSockets of their `openagents connect` machines (hibernation API, tagged
 * with the machine's token id), each machine's claims and liveness, and the user's `compute:
 * "tunnel"` tasks — queued until a machine that may run them has room, then assigned, relayed
 * (events → TaskDO, acks ← TaskDO's stored seq) and resumed after a reconnect. All calls to a task's
 * TaskDO go through one promise chain per task, so statuses and events arrive in order.
 *
 * @example
 * const tunnel = env.TUNNEL.get(env.TUNNEL.idFromName(user.id));
 * const queued = await tunnel.submit(taskId, task);
 */
export class TunnelDO extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #chains = new Map<string, Promise<void>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS machines (token_id TEXT PRIMARY KEY, name TEXT NOT NULL,
      agents TEXT NOT NULL, max_tasks INTEGER NOT NULL, allow_repos TEXT NOT NULL, allow_dirs TEXT NOT NULL,
      policy_repos TEXT NOT NULL, policy_max INTEGER NOT NULL, connected_at INTEGER, last_seen INTEGER,
      disconnected_at INTEGER)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, state TEXT NOT NULL,
      token_id TEXT, task TEXT, enqueued_at INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0)`);
  }

  get #heartbeatMs(): number {
    return parseDuration(this.env.TUNNEL_HEARTBEAT, 15_000);
  }

  // ---- calls from TaskDOs and routes ----------------------------------------------------------

  /** Takes a task for one of the user's machines: assigns it now or queues it (idempotent). */
  async submit(taskId: string, task: Task): Promise<Result<{ queued: boolean }>> {
    const row = this.#task(taskId);
    if (row?.state === "done") return err(ErrorCode.Cancelled, "the task was cancelled");
    if (!row) {
      this.#sql.exec(
        "INSERT INTO tasks (task_id, state, task, enqueued_at) VALUES (?, 'queued', ?, ?)",
        taskId,
        JSON.stringify(task),
        Date.now(),
      );
      const waiting = this.#dispatch(taskId);
      if (waiting !== null)
        await this.#chain(taskId, () =>
          this.#taskDO(taskId).tunnelStatus("queued", `waiting for a machine: ${waiting}`),
        );
      await this.#schedule();
    }
    await this.#chains.get(taskId);
    return ok({ queued: this.#task(taskId)?.state === "queued" });
  }

  /** Cancels: a queued task leaves the queue; a running one is told to its machine. */
  async cancel(taskId: string): Promise<Result<void>> {
    const row = this.#task(taskId);
    if (!row) {
      // Not submitted yet (a cancel racing the start): a tombstone refuses the later submit.
      this.#sql.exec(
        "INSERT INTO tasks (task_id, state, enqueued_at) VALUES (?, 'done', ?)",
        taskId,
        Date.now(),
      );
      return err(ErrorCode.NotFound, "cancelled before the task reached a machine");
    }
    if (row.state === "queued" || row.state === "done") {
      this.#setState(taskId, "done");
      return err(ErrorCode.NotFound, "cancelled before the task reached a machine");
    }
    const ws = this.#socket(row.token_id!);
    if (!ws) {
      this.#setState(taskId, "done");
      return err(ErrorCode.RunnerLost, "its machine is not connected");
    }
    this.#send(ws, { type: "cancel", taskId });
    return ok(undefined);
  }

  /** A follow-up turn on the machine that ran the task (it keeps the workspace and conversation). */
  async followUp(taskId: string, prompt: string): Promise<Result<void>> {
    const row = this.#task(taskId);
    if (row?.state !== "idle" || row.token_id === null)
      return err(ErrorCode.Conflict, "the machine that ran the task no longer has it; start a new task");
    const ws = this.#socket(row.token_id);
    if (!ws) return err(ErrorCode.Conflict, "the machine that ran the task is not connected");
    this.#setState(taskId, "assigned");
    this.#send(ws, { type: "follow-up", taskId, prompt });
    return ok(undefined);
  }

  /** The user's machines that have connected at least once, with their claims and liveness. */
  async machines(): Promise<MachineInfo[]> {
    const rows = this.#sql.exec<MachineRow>("SELECT * FROM machines ORDER BY name").toArray();
    return rows.map((m) => {
      const tasks = this.#sql
        .exec<{ task_id: string }>(
          "SELECT task_id FROM tasks WHERE token_id = ? AND state = 'assigned' ORDER BY enqueued_at",
          m.token_id,
        )
        .toArray()
        .map((t) => t.task_id);
      const slot = this.#slot(m, tasks.length);
      return {
        id: m.token_id,
        name: m.name,
        connected: this.#socket(m.token_id) !== null,
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

  /** A revoked token: its connection closes now and its running tasks fail. */
  async revoke(tokenId: string): Promise<void> {
    for (const ws of this.ctx.getWebSockets(tokenId))
      this.#close(ws, CLOSE_REVOKED, "the machine token was revoked");
    this.#sql.exec("DELETE FROM machines WHERE token_id = ?", tokenId);
    await this.#failMachineTasks(tokenId, "the machine's token was revoked while the task ran");
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
      this.#close(old, CLOSE_REPLACED, "replaced by a new connection");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [auth.id]);
    server.serializeAttachment({ auth, name: null, strikes: 0 } satisfies Attachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att) return;
    if (typeof message !== "string") return this.#reject(ws, att, invalid("binary frames are not accepted"));
    const parsed = parseMachineFrame(message);
    if (!parsed.ok) return this.#reject(ws, att, parsed.error);
    const frame = parsed.value;
    if (frame.type === "hello") return this.#hello(ws, att, frame);
    if (att.name === null) return this.#reject(ws, att, invalid("send hello first"));
    this.#sql.exec("UPDATE machines SET last_seen = ? WHERE token_id = ?", Date.now(), att.auth.id);
    switch (frame.type) {
      case "heartbeat":
        return this.#send(ws, { type: "heartbeat" });
      case "events":
        return this.#events(ws, att, frame);
      case "error": {
        const row = frame.taskId === undefined ? null : this.#task(frame.taskId);
        if (!row || row.token_id !== att.auth.id || row.state !== "assigned") return;
        // The machine refused the task or lost it: it ends with the machine's reason.
        this.#setState(row.task_id, "done");
        const error: AppError = { code: frame.code, message: `machine "${att.name}": ${frame.message}` };
        await this.#chain(row.task_id, () => this.#taskDO(row.task_id).tunnelFail(error));
        this.#dispatch();
        return;
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
    await this.#lost(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#lost(ws);
  }

  /** Heartbeat check, grace period and queue timeout. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const stale = now - 3 * this.#heartbeatMs;
    for (const m of this.#sql.exec<MachineRow>("SELECT * FROM machines").toArray()) {
      const ws = this.#socket(m.token_id);
      if (ws && (m.last_seen ?? 0) < stale) this.#close(ws, CLOSE_NO_HEARTBEAT, "no heartbeat");
      if ((!ws || (m.last_seen ?? 0) < stale) && m.disconnected_at === null)
        this.#sql.exec("UPDATE machines SET disconnected_at = ? WHERE token_id = ?", now, m.token_id);
    }
    const grace = parseDuration(this.env.TUNNEL_GRACE, 120_000);
    const gone = this.#sql
      .exec<MachineRow>(
        "SELECT * FROM machines WHERE disconnected_at IS NOT NULL AND disconnected_at <= ?",
        now - grace,
      )
      .toArray();
    for (const m of gone) {
      await this.#failMachineTasks(
        m.token_id,
        `machine "${m.name}" has been disconnected for longer than ${this.env.TUNNEL_GRACE || "2m"}`,
      );
    }
    const timeout = parseDuration(this.env.TUNNEL_QUEUE_TIMEOUT, 600_000);
    const expired = this.#sql
      .exec<TaskRow>("SELECT * FROM tasks WHERE state = 'queued' AND enqueued_at <= ?", now - timeout)
      .toArray();
    for (const t of expired) {
      const why = this.#waitReason(t) ?? "no machine took it";
      this.#setState(t.task_id, "done");
      const error = {
        code: ErrorCode.Timeout,
        message: `no machine took the task within ${this.env.TUNNEL_QUEUE_TIMEOUT || "10m"}: ${why}`,
      };
      await this.#chain(t.task_id, () => this.#taskDO(t.task_id).tunnelFail(error));
    }
    await this.#schedule();
  }

  // ---- frames ----------------------------------------------------------------------------------

  async #hello(ws: WebSocket, att: Attachment, hello: HelloFrame): Promise<void> {
    const name = hello.name ?? att.auth.label.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
    const clash = this.#sql
      .exec<{ token_id: string }>(
        "SELECT token_id FROM machines WHERE name = ? AND token_id != ?",
        name,
        att.auth.id,
      )
      .toArray()
      .some((m) => this.#socket(m.token_id) !== null);
    if (clash) {
      this.#send(ws, {
        type: "error",
        code: ErrorCode.Conflict,
        message: `another connected machine is named "${name}"`,
      });
      return this.#close(ws, 4409, "machine name in use");
    }
    const now = Date.now();
    this.#sql.exec(
      `INSERT INTO machines (token_id, name, agents, max_tasks, allow_repos, allow_dirs, policy_repos, policy_max,
        connected_at, last_seen, disconnected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (token_id) DO UPDATE SET name = excluded.name, agents = excluded.agents,
        max_tasks = excluded.max_tasks, allow_repos = excluded.allow_repos, allow_dirs = excluded.allow_dirs,
        policy_repos = excluded.policy_repos, policy_max = excluded.policy_max,
        connected_at = excluded.connected_at, last_seen = excluded.last_seen, disconnected_at = NULL`,
      att.auth.id,
      name,
      JSON.stringify(hello.agents),
      hello.maxTasks,
      JSON.stringify(hello.allowRepos),
      JSON.stringify(hello.allowDirs),
      JSON.stringify(att.auth.allowRepos),
      att.auth.maxTasks,
      now,
      now,
    );
    ws.serializeAttachment({ ...att, name } satisfies Attachment);

    // Resume: each task the edge expects from this machine is acked at the seq stored; a task the
    // machine no longer has was lost with its process; a task the edge no longer expects is released.
    const held = new Map(hello.tasks.map((t) => [t.taskId, t]));
    const acks: Array<{ taskId: string; seq: number }> = [];
    const lost: TaskRow[] = [];
    const mine = this.#sql
      .exec<TaskRow>("SELECT * FROM tasks WHERE token_id = ? AND state IN ('assigned', 'idle')", att.auth.id)
      .toArray();
    for (const row of mine) {
      if (held.has(row.task_id)) acks.push({ taskId: row.task_id, seq: row.acked });
      else if (row.state === "idle") this.#setState(row.task_id, "done");
      else lost.push(row);
      held.delete(row.task_id);
    }
    this.#send(ws, { type: "welcome", machine: name, heartbeatMs: this.#heartbeatMs, acks });
    for (const taskId of held.keys())
      this.#send(ws, { type: "release", taskId, reason: "the task is not running here" });
    for (const row of lost) {
      if (row.acked === 0 && row.task !== null) {
        // The assignment never took: the task goes back to the queue.
        this.#sql.exec("UPDATE tasks SET state = 'queued', token_id = NULL WHERE task_id = ?", row.task_id);
      } else {
        this.#setState(row.task_id, "done");
        const error = {
          code: ErrorCode.RunnerLost,
          message: `machine "${name}" reconnected without the task (its runner stopped)`,
        };
        await this.#chain(row.task_id, () => this.#taskDO(row.task_id).tunnelFail(error));
      }
    }
    this.#dispatch();
    await this.#schedule();
  }

  async #events(ws: WebSocket, att: Attachment, frame: EventsFrame): Promise<void> {
    const { taskId } = frame;
    const row = this.#task(taskId);
    if (!row || row.token_id !== att.auth.id) {
      return this.#reject(
        ws,
        att,
        { code: ErrorCode.NotFound, message: `no task ${taskId} on this machine` },
        taskId,
      );
    }
    if (row.state === "done")
      return this.#send(ws, { type: "release", taskId, reason: "the task has ended" });
    await this.#chain(taskId, async () => {
      const r = await this.#taskDO(taskId).tunnelIngest(frame.events);
      if (r.cursor > 0)
        this.#sql.exec("UPDATE tasks SET acked = ?, task = NULL WHERE task_id = ?", r.cursor, taskId);
      if (r.refused !== undefined) {
        this.#send(ws, {
          type: "error",
          taskId,
          code: ErrorCode.Conflict,
          message: r.refused,
          seq: r.cursor,
        });
      } else {
        this.#send(ws, { type: "ack", taskId, seq: r.cursor });
      }
      if (r.ended && this.#task(taskId)?.state === "assigned") {
        this.#setState(taskId, "idle");
        this.#dispatch();
      }
    });
  }

  #reject(ws: WebSocket, att: Attachment, error: AppError, taskId?: string): void {
    const frame: EdgeFrame = { type: "error", code: error.code, message: error.message };
    if (taskId !== undefined) frame.taskId = taskId;
    this.#send(ws, frame);
    att.strikes++;
    ws.serializeAttachment(att);
    if (att.strikes >= MAX_STRIKES) this.#close(ws, CLOSE_TOO_MANY_BAD, "too many bad frames");
  }

  // ---- dispatch and bookkeeping ----------------------------------------------------------------

  /**
   * Assigns queued tasks (oldest first) to machines with room. Decisions are taken synchronously,
   * so two overlapping calls cannot assign one task twice. Returns why `waitingFor` (if given) still waits.
   */
  #dispatch(waitingFor?: string): string | null {
    const queued = this.#sql
      .exec<TaskRow>("SELECT * FROM tasks WHERE state = 'queued' ORDER BY enqueued_at")
      .toArray();
    if (queued.length === 0) return null;
    const slots = this.#slots();
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
      this.#sql.exec(
        "UPDATE tasks SET state = 'assigned', token_id = ? WHERE task_id = ?",
        m.tokenId,
        row.task_id,
      );
      const taskId = row.task_id;
      void this.#chain(taskId, async () => {
        await this.#taskDO(taskId).tunnelStatus("provisioning", `on machine "${m.name}"`);
        const ws = this.#socket(m.tokenId);
        if (ws) this.#send(ws, { type: "assign", taskId, task });
      });
    }
    return reason;
  }

  #waitReason(row: TaskRow): string | null {
    const task = JSON.parse(row.task ?? "null") as Task | null;
    if (!task) return null;
    const pick = chooseMachine(task, this.#slots());
    return pick.ok ? null : pick.reason;
  }

  /** Connected machines (a live socket that said hello and beats) with the edge's count of their tasks. */
  #slots(): MachineSlot[] {
    const stale = Date.now() - 3 * this.#heartbeatMs;
    return this.#sql
      .exec<MachineRow>("SELECT * FROM machines WHERE disconnected_at IS NULL AND last_seen >= ?", stale)
      .toArray()
      .filter((m) => this.#socket(m.token_id) !== null)
      .map((m) => {
        const running = this.#sql
          .exec<{ n: number }>(
            "SELECT COUNT(*) AS n FROM tasks WHERE token_id = ? AND state = 'assigned'",
            m.token_id,
          )
          .one().n;
        return this.#slot(m, running);
      });
  }

  #slot(m: MachineRow, running: number): MachineSlot {
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

  async #lost(ws: WebSocket): Promise<void> {
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att || this.#socket(att.auth.id, ws) !== null) return; // Replaced by a newer connection.
    this.#sql.exec(
      "UPDATE machines SET disconnected_at = COALESCE(disconnected_at, ?) WHERE token_id = ?",
      Date.now(),
      att.auth.id,
    );
    await this.#schedule();
  }

  async #failMachineTasks(tokenId: string, message: string): Promise<void> {
    const rows = this.#sql
      .exec<TaskRow>("SELECT * FROM tasks WHERE token_id = ? AND state = 'assigned'", tokenId)
      .toArray();
    for (const row of rows) {
      this.#setState(row.task_id, "done");
      const error = { code: ErrorCode.RunnerLost, message };
      await this.#chain(row.task_id, () => this.#taskDO(row.task_id).tunnelFail(error));
    }
  }

  /** Sets the next alarm: the earliest heartbeat check, grace expiry or queue timeout. */
  async #schedule(): Promise<void> {
    const times: number[] = [];
    const now = Date.now();
    if (this.ctx.getWebSockets().length > 0) times.push(now + this.#heartbeatMs);
    const grace = parseDuration(this.env.TUNNEL_GRACE, 120_000);
    const gone = this.#sql
      .exec<{ t: number | null }>(
        `SELECT MIN(m.disconnected_at) AS t FROM machines m WHERE m.disconnected_at IS NOT NULL
         AND EXISTS (SELECT 1 FROM tasks t WHERE t.token_id = m.token_id AND t.state = 'assigned')`,
      )
      .one().t;
    if (gone !== null) times.push(gone + grace);
    const oldest = this.#sql
      .exec<{ t: number | null }>("SELECT MIN(enqueued_at) AS t FROM tasks WHERE state = 'queued'")
      .one().t;
    if (oldest !== null) times.push(oldest + parseDuration(this.env.TUNNEL_QUEUE_TIMEOUT, 600_000));
    if (times.length === 0) return;
    const next = Math.max(Math.min(...times), now + 50);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next || current < now) await this.ctx.storage.setAlarm(next);
  }

  #task(taskId: string): TaskRow | null {
    return this.#sql.exec<TaskRow>("SELECT * FROM tasks WHERE task_id = ?", taskId).toArray()[0] ?? null;
  }

  #setState(taskId: string, state: TaskState): void {
    this.#sql.exec("UPDATE tasks SET state = ? WHERE task_id = ?", state, taskId);
  }

  /** The machine's live socket (one that said hello), other than `except`. */
  #socket(tokenId: string, except?: WebSocket): WebSocket | null {
    for (const ws of this.ctx.getWebSockets(tokenId)) {
      if (ws === except || ws.readyState !== WebSocket.OPEN) continue;
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att?.name) return ws;
    }
    return null;
  }

  #send(ws: WebSocket, frame: EdgeFrame): void {
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

  #close(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  #taskDO(taskId: string) {
    return this.env.TASK.get(this.env.TASK.idFromName(taskId));
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

const invalid = (message: string): AppError => ({ code: ErrorCode.InvalidRequest, message });
