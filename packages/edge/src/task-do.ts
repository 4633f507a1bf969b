import { DurableObject } from "cloudflare:workers";
import { type AppError, ErrorCode, err, ok, type Result, type RunEvent } from "@openagents/protocol";
import { isEnded, setTaskStatus, type TaskStatus } from "./db/tasks.ts";
import type { Env } from "./env.ts";
import { EventLog } from "./event-log.ts";
import { errorResponse } from "./http-error.ts";
import { TaskBilling } from "./task-billing.ts";
import { cancelCloud, driveCloud } from "./task-cloud-driver.ts";
import { followUp } from "./task-follow-up.ts";
import {
  META,
  type TaskHost,
  type TaskInfo,
  type TaskInit,
  type TaskLogItem,
  type TaskMeta,
  WATCHDOG_MS,
} from "./task-meta.ts";
import { cancelTunnel, driveTunnel, tunnelFail, tunnelIngest, tunnelStatus } from "./task-tunnel.ts";
import { billRunningSeconds, finishTask } from "./task-turn.ts";

export type { TaskInfo, TaskInit, TaskResultSummary, TaskUsage } from "./task-meta.ts";

/**
 * One task: its source of truth. Keeps the RunEvent log (gap-free seq) in SQLite, fans events
 * out to WebSocket watchers (hibernation API: idle watchers cost nothing) with replay from any seq,
 * and drives the compute: a runner in the owner's container (task-cloud-driver.ts) or one of the
 * owner's machines through their TunnelDO (task-tunnel.ts); follow-up turns go on the same log
 * (task-follow-up.ts).
 *
 * @example
 * const stub = env.TASK.get(env.TASK.idFromName(id));
 * await stub.start({ id, owner: user.id, task, created: new Date().toISOString() });
 */
export class TaskDO extends DurableObject<Env> {
  readonly #log: EventLog;
  /** What the driving code is lent; a plain object, so none of it is an RPC method of this object. */
  readonly #host: TaskHost;
  readonly #billing: TaskBilling;
  #driving = false;
  /** Set when `#drive` was asked for while it ran: it goes round once more. */
  #redrive = false;
  #d1: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#log = new EventLog(ctx.storage.sql);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.#host = {
      env,
      log: this.#log,
      meta: () => this.#meta(),
      save: (meta) => this.ctx.storage.kv.put(META, meta),
      commit: (meta, body, time) => this.#commitMany(meta, [{ body, time }])[0]!,
      commitMany: (meta, items, before) => this.#commitMany(meta, items, before),
      index: (id, status) => {
        this.#d1 = this.#d1.then(() => setTaskStatus(this.env.DB, id, status)).catch(() => {});
      },
      info: (meta) => this.#info(meta),
      bill: (meta, charge) => this.#billing.bill(meta, charge),
      drive: () => this.#drive(),
      watchdog: () => this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS),
      cancel: () => this.cancel(),
    };
    this.#billing = new TaskBilling(this.#host);
  }

  #meta(): TaskMeta | undefined {
    return this.ctx.storage.kv.get<TaskMeta>(META);
  }

  /** Creates the task and starts driving it. Idempotent for the same id. */
  async start(init: TaskInit): Promise<Result<TaskInfo>> {
    const existing = this.#meta();
    if (existing)
      return existing.id === init.id ? ok(this.#info(existing)) : err(ErrorCode.Conflict, "task exists");
    const meta: TaskMeta = {
      ...init,
      envNames: Object.keys(init.task.env ?? {}),
      status: "queued",
      runnerTaskId: null,
      cursor: 0,
      turnStartedAt: null,
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0, containerSeconds: 0 },
      result: null,
      cancelRequested: false,
      sawCancelled: false,
    };
    this.#host.commit(meta, { type: "status", phase: "queued" });
    await this.#host.watchdog();
    void this.#drive();
    return ok(this.#info(meta));
  }

  async info(): Promise<Result<TaskInfo>> {
    const meta = this.#meta();
    return meta ? ok(this.#info(meta)) : err(ErrorCode.NotFound, "no such task");
  }

  /** Events after `after`, oldest first (at most `limit`). */
  async events(after: number, limit: number): Promise<RunEvent[]> {
    return [...this.#log.after(after, limit)].map((json) => JSON.parse(json) as RunEvent);
  }

  #info(meta: TaskMeta): TaskInfo {
    const { env: _env, ...task } = meta.task;
    return {
      id: meta.id,
      status: meta.status,
      created: meta.created,
      task: meta.envNames.length > 0 ? { ...task, envNames: meta.envNames } : task,
      lastSeq: this.#log.lastSeq,
      usage: meta.usage,
      result: meta.result,
    };
  }

  /**
   * Appends events and the state change they cause in one transaction, sends them to every
   * watcher in order, and mirrors a status change into the D1 index (in order, off the hot path).
   */
  #commitMany(
    meta: TaskMeta,
    items: readonly TaskLogItem[],
    /** The stored status before this change, when the caller knows it (saves reading it again). */
    before: TaskStatus | undefined = this.#meta()?.status,
  ): RunEvent[] {
    const appended = this.ctx.storage.transactionSync(() => {
      const out = this.#log.appendMany(items);
      this.ctx.storage.kv.put(META, meta);
      return out;
    });
    for (const ws of this.ctx.getWebSockets()) {
      try {
        for (const { json } of appended) ws.send(json);
      } catch {
        // A watcher that went away; its close handler cleans up.
      }
    }
    if (before !== meta.status) {
      const { id, status } = meta;
      this.#d1 = this.#d1
        .then(() => setTaskStatus(this.env.DB, id, status))
        .catch((e) => console.error(`task ${id}: could not index status ${status}: ${(e as Error).message}`));
    }
    return appended.map((a) => a.event);
  }

  /**
   * Runs the task to its result. A call while one runs makes that one go round again (a follow-up
   * may arrive between the last result and the end of the running call).
   */
  async #drive(): Promise<void> {
    if (this.#driving) {
      this.#redrive = true;
      return;
    }
    this.#driving = true;
    try {
      do {
        this.#redrive = false;
        const meta = this.#meta();
        if (!meta || isEnded(meta.status)) continue;
        if (meta.task.compute === "tunnel") await driveTunnel(this.#host, meta);
        else await driveCloud(this.#host, meta);
      } while (this.#redrive);
    } catch (e) {
      const meta = this.#meta();
      if (meta && !isEnded(meta.status)) {
        finishTask(this.#host, meta, {
          code: ErrorCode.Internal,
          message: `the edge failed to drive the task: ${(e as Error).message}`,
        });
      }
    } finally {
      this.#driving = false;
    }
  }

  /** Cancels the task: the runner's cancel, or ends it here if no runner has it yet. */
  async cancel(): Promise<Result<TaskInfo>> {
    const meta = this.#meta();
    if (!meta) return err(ErrorCode.NotFound, "no such task");
    if (isEnded(meta.status)) return err(ErrorCode.Conflict, `the task already ended (${meta.status})`);
    meta.cancelRequested = true;
    this.ctx.storage.kv.put(META, meta);
    return meta.task.compute === "tunnel" ? cancelTunnel(this.#host, meta) : cancelCloud(this.#host, meta);
  }

  /** A follow-up turn on the same log (task-follow-up.ts). */
  async followUp(prompt: string): Promise<Result<TaskInfo>> {
    return followUp(this.#host, prompt);
  }

  /** From the TunnelDO: a status line (waiting for a machine, on machine X). */
  async tunnelStatus(phase: "queued" | "provisioning", message: string): Promise<void> {
    tunnelStatus(this.#host, phase, message);
  }

  /**
   * From the TunnelDO: a machine's events (runner seqs). Seqs already taken are skipped (a resend
   * after a reconnect); a gap is refused with the seq to resend after. `cursor` is what is stored.
   */
  async tunnelIngest(events: RunEvent[]): Promise<{ cursor: number; ended: boolean; refused?: string }> {
    return tunnelIngest(this.#host, events);
  }

  /** From the TunnelDO: the task ends here (queue timeout, machine lost or refused it). */
  async tunnelFail(error: AppError): Promise<void> {
    tunnelFail(this.#host, error);
  }

  /**
   * Watchdog: bills the running turn's container seconds so far (a turn that runs out of credits
   * is stopped here, not only at its end), and picks the task up again after the object was
   * evicted mid-task.
   */
  override async alarm(): Promise<void> {
    const meta = this.#meta();
    if (!meta || isEnded(meta.status)) return;
    billRunningSeconds(this.#host, meta);
    void this.#drive();
    await this.#host.watchdog();
  }

  /** `GET …?after=N` with `Upgrade: websocket`: replays events after N, then streams new ones. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse({ code: ErrorCode.InvalidRequest, message: "expected a WebSocket upgrade" });
    }
    const after = Number(new URL(request.url).searchParams.get("after") ?? "0");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, ["watcher"]);
    // Synchronous replay: no event can be appended between the last replayed one and the first live one.
    for (const json of this.#log.after(Number.isSafeInteger(after) && after > 0 ? after : 0))
      server.send(json);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(): Promise<void> {
    // Watchers only listen; "ping" is answered by the auto-response.
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }
}
