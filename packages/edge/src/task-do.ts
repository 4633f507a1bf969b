import { DurableObject } from "cloudflare:workers";
import {
  type AppError,
  type Diffstat,
  ErrorCode,
  emptyDiffstat,
  err,
  ok,
  type Result,
  type RunEvent,
  type RunEventBody,
  type Task,
} from "@openagents/protocol";
import { billTask, type TaskCharge } from "./billing.ts";
import { isEnded, setTaskStatus, type TaskStatus } from "./db/tasks.ts";
import type { Env } from "./env.ts";
import { EventLog } from "./event-log.ts";
import { errorResponse } from "./http-error.ts";
import { recreateTask } from "./recreate-workspace.ts";
import { RunnerClient } from "./runner-client.ts";

export interface TaskInit {
  id: string;
  owner: string;
  task: Task;
  created: string;
}

export interface TaskUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Seconds the task held its container (all turns). */
  containerSeconds: number;
}

export interface TaskResultSummary {
  ok: boolean;
  exitCode: number | null;
  summary: string;
  diffstat: Diffstat;
  /** Seq of the `result` event, which carries the patch. */
  seq: number;
}

/** What `GET /api/tasks/:id` shows; the task's `env` values are never shown, only their names. */
export interface TaskInfo {
  id: string;
  status: TaskStatus;
  created: string;
  task: Omit<Task, "env"> & { envNames?: string[] };
  lastSeq: number;
  usage: TaskUsage;
  result: TaskResultSummary | null;
}

interface TaskMeta {
  id: string;
  owner: string;
  created: string;
  task: Task;
  /** Names of `task.env`, kept after the values are dropped (once the runner has them). */
  envNames: string[];
  status: TaskStatus;
  runnerTaskId: string | null;
  /** The runner's seq of the last event taken into this log: streams resume after it. */
  cursor: number;
  /**
   * Seq (in this log) of the last `result` a runner sent: its patch is the workspace's state, from
   * which a follow-up re-creates the workspace when the runner lost it. Null until a runner result.
   */
  workspaceSeq?: number | null;
  /** What the next runner is given instead of `task`: a follow-up that re-creates the workspace. */
  resubmit?: Task | null;
  turnStartedAt: number | null;
  usage: TaskUsage;
  result: TaskResultSummary | null;
  cancelRequested: boolean;
  sawCancelled: boolean;
}

const WATCHDOG_MS = 30_000;
const MAX_STREAM_RETRIES = 5;
const META = "meta";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One task: its source of truth. Keeps the RunEvent log (gap-free seq) in SQLite, fans events
 * out to WebSocket watchers (hibernation API: idle watchers cost nothing) with replay from any seq,
 * and drives the compute: asks the owner's ContainerDO for a runner, posts the task, follows the
 * runner's SSE stream (resuming after the last event it took), and ends the task with
 * `error{runner_lost}` + `result{ok:false}` when the runner dies before its result.
 *
 * @example
 * const stub = env.TASK.get(env.TASK.idFromName(id));
 * await stub.start({ id, owner: user.id, task, created: new Date().toISOString() });
 */
export class TaskDO extends DurableObject<Env> {
  readonly #log: EventLog;
  #driving = false;
  /** Set when `#drive` was asked for while it ran: it goes round once more. */
  #redrive = false;
  #d1: Promise<void> = Promise.resolve();
  #billing: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#log = new EventLog(ctx.storage.sql);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
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
    this.#commit(meta, { type: "status", phase: "queued" });
    await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
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

  /** `#commitMany` of one event. */
  #commit(meta: TaskMeta, body: RunEventBody, time?: string): RunEvent {
    return this.#commitMany(meta, [{ body, time }])[0]!;
  }

  /**
   * Appends events and the state change they cause in one transaction, sends them to every
   * watcher in order, and mirrors a status change into the D1 index (in order, off the hot path).
   */
  #commitMany(
    meta: TaskMeta,
    items: ReadonlyArray<{ body: RunEventBody; time?: string | undefined }>,
    /** The stored status before this change, when the caller knows it (saves reading it again). */
    before: TaskStatus | undefined = this.#meta()?.status,
  ) {
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

  #runner(meta: TaskMeta): RunnerClient {
    return new RunnerClient(this.env.CONTAINER.get(this.env.CONTAINER.idFromName(meta.owner)), meta.owner);
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
        await this.#driveOnce();
      } while (this.#redrive);
    } catch (e) {
      const meta = this.#meta();
      if (meta && !isEnded(meta.status)) {
        this.#finish(meta, {
          code: ErrorCode.Internal,
          message: `the edge failed to drive the task: ${(e as Error).message}`,
        });
      }
    } finally {
      this.#driving = false;
    }
  }

  async #driveOnce(): Promise<void> {
    let meta = this.#meta();
    if (!meta || isEnded(meta.status)) return;
    if (meta.task.compute === "tunnel") return this.#driveTunnel(meta);
    const runner = this.#runner(meta);
    if (meta.runnerTaskId === null) {
      meta.status = "provisioning";
      meta.turnStartedAt ??= Date.now();
      this.#commit(meta, { type: "status", phase: "provisioning", message: "starting a container" });
      // The submit starts the container when it is not running (and reports why it could not).
      const submitted = await runner.submit(meta.resubmit ?? meta.task);
      meta = this.#meta()!;
      if (isEnded(meta.status)) {
        // Cancelled while the container started or the runner took the task.
        if (submitted.ok) await runner.cancel(submitted.value.id);
        return;
      }
      if (!submitted.ok) return this.#finish(meta, submitted.error);
      meta.runnerTaskId = submitted.value.id;
      meta.cursor = 0;
      meta.resubmit = null;
      meta.status = "running";
      // The runner has the env now; the values need not stay in storage.
      delete meta.task.env;
      this.ctx.storage.kv.put(META, meta);
      const { id } = meta;
      // Off the hot path: the index follows, in order with the other status changes.
      this.#d1 = this.#d1.then(() => setTaskStatus(this.env.DB, id, "running")).catch(() => {});
      if (meta.cancelRequested) await runner.cancel(meta.runnerTaskId);
    }
    await this.#follow(runner);
  }

  /** Reads the runner's events until a `result`, resuming after drops; a runner that is gone ends the task. */
  async #follow(runner: RunnerClient): Promise<void> {
    let failures = 0;
    let lastError: AppError = {
      code: ErrorCode.RunnerLost,
      message: "the runner's event stream ended before the result",
    };
    for (;;) {
      let meta = this.#meta()!;
      if (isEnded(meta.status) || meta.runnerTaskId === null) return;
      const stream = await runner.events(meta.runnerTaskId, meta.cursor);
      if (stream.ok) {
        try {
          for await (const batch of stream.value) {
            failures = 0;
            if (this.#ingestBatch(batch)) return;
          }
          lastError = {
            code: ErrorCode.RunnerLost,
            message: "the runner's event stream ended before the result",
          };
        } catch (e) {
          lastError = {
            code: ErrorCode.RunnerLost,
            message: `the runner's event stream broke: ${(e as Error).message}`,
          };
        }
      } else {
        lastError = stream.error;
        // The runner does not know the task: it restarted and lost it.
        if (stream.error.code === ErrorCode.NotFound) {
          meta = this.#meta()!;
          return this.#finish(meta, {
            code: ErrorCode.RunnerLost,
            message: "the runner no longer knows this task (its container restarted)",
          });
        }
      }
      failures++;
      const alive = await runner.alive();
      meta = this.#meta()!;
      if (isEnded(meta.status)) return;
      if (!alive || failures > MAX_STREAM_RETRIES) {
        return this.#finish(meta, {
          code: ErrorCode.RunnerLost,
          message: alive
            ? `the runner stopped answering: ${lastError.message}`
            : "the runner stopped before the task finished",
        });
      }
      await sleep(Math.min(200 * 2 ** failures, 5000));
    }
  }

  /** Takes one runner event into the log under this task's own seq; true when it was the result. */
  #ingest(event: RunEvent): boolean {
    return this.#ingestBatch([event]);
  }

  /**
   * Takes runner events (runner seqs, ascending) into the log under this task's own seqs, in one
   * transaction; events at or before the cursor (taken before a resume) are skipped, and nothing
   * after a `result` is taken. True when the result was among them.
   */
  #ingestBatch(events: readonly RunEvent[]): boolean {
    const meta = this.#meta()!;
    const before = meta.status;
    const items: Array<{ body: RunEventBody; time: string }> = [];
    let ended = false;
    for (const event of events) {
      if (event.seq <= meta.cursor) continue;
      const { seq: runnerSeq, time, ...body } = event;
      meta.cursor = runnerSeq;
      items.push({ body, time });
      if (body.type === "usage") {
        meta.usage.inputTokens += body.inputTokens;
        meta.usage.outputTokens += body.outputTokens;
        meta.usage.costUsd += body.costUsd ?? 0;
        this.#bill(meta, { usage: body });
      } else if (body.type === "error" && body.code === ErrorCode.Cancelled) {
        meta.sawCancelled = true;
      } else if (body.type === "status" && meta.status !== "running") {
        meta.status = "running";
      } else if (body.type === "result") {
        this.#endTurn(meta, body.ok);
        const seq = this.#log.lastSeq + items.length;
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
    if (items.length > 0) this.#commitMany(meta, items, before);
    return ended;
  }

  #endTurn(meta: TaskMeta, succeeded: boolean): void {
    if (meta.turnStartedAt !== null) {
      const seconds = Math.round((Date.now() - meta.turnStartedAt) / 1000);
      meta.usage.containerSeconds += seconds;
      meta.turnStartedAt = null;
      this.#bill(meta, { seconds });
    }
    meta.status = succeeded
      ? "succeeded"
      : meta.cancelRequested || meta.sawCancelled
        ? "cancelled"
        : "failed";
  }

  /**
   * Bills usage to the owner's credits (billing.ts), in order and off the hot path. When the credits
   * or the budget run out, the running task is stopped with an `insufficient_credits` error.
   */
  #bill(meta: TaskMeta, charge: TaskCharge): void {
    const { id, owner } = meta;
    this.#billing = this.#billing
      .then(() => billTask(this.env, owner, id, charge))
      .then(async (billed) => {
        const now = this.#meta();
        if (!billed.exhausted || !now || isEnded(now.status)) return;
        this.#commit(now, { type: "error", code: ErrorCode.InsufficientCredits, message: billed.message });
        await this.cancel();
      })
      .catch((e) => console.error(`task ${id}: billing failed: ${(e as Error).message}`));
  }

  /** Ends the task here (no runner result will come): `error`, then `result{ok:false}`. */
  #finish(meta: TaskMeta, error: AppError): void {
    this.#commit(meta, { type: "error", code: error.code, message: error.message });
    this.#endTurn(meta, false);
    const summary = error.code === ErrorCode.Cancelled ? "cancelled" : `failed: ${error.message}`;
    const diffstat = emptyDiffstat();
    meta.result = { ok: false, exitCode: null, summary, diffstat, seq: this.#log.lastSeq + 1 };
    this.#commit(meta, { type: "result", ok: false, exitCode: null, summary, diffstat, patch: "" });
  }

  /** Cancels the task: the runner's cancel, or ends it here if no runner has it yet. */
  async cancel(): Promise<Result<TaskInfo>> {
    const meta = this.#meta();
    if (!meta) return err(ErrorCode.NotFound, "no such task");
    if (isEnded(meta.status)) return err(ErrorCode.Conflict, `the task already ended (${meta.status})`);
    meta.cancelRequested = true;
    this.ctx.storage.kv.put(META, meta);
    if (meta.task.compute === "tunnel") return this.#cancelTunnel(meta);
    if (meta.runnerTaskId === null) {
      this.#finish(meta, {
        code: ErrorCode.Cancelled,
        message: "cancelled before the task reached a runner",
      });
      return ok(this.#info(meta));
    }
    const sent = await this.#runner(meta).cancel(meta.runnerTaskId);
    if (!sent.ok) {
      const now = this.#meta()!;
      if (!isEnded(now.status))
        this.#finish(now, { code: ErrorCode.Cancelled, message: `cancelled (${sent.error.message})` });
    }
    return ok(this.#info(this.#meta()!));
  }

  /**
   * A follow-up turn on the same log. The runner that ran the task continues it (same workspace,
   * same conversation); when that runner no longer has it (the container stopped or restarted),
   * the workspace is re-created on a fresh runner from the last result's patch (`recreateTask`).
   */
  async followUp(prompt: string): Promise<Result<TaskInfo>> {
    const meta = this.#meta();
    if (!meta) return err(ErrorCode.NotFound, "no such task");
    if (!isEnded(meta.status))
      return err(ErrorCode.Conflict, "the task is still running; wait for its result");
    if (meta.task.agent === "shell")
      return err(ErrorCode.InvalidRequest, 'agent "shell" takes no follow-up prompts');
    if (meta.task.compute === "tunnel") return this.#followUpTunnel(meta, prompt);
    if (meta.runnerTaskId === null && (meta.workspaceSeq ?? null) === null)
      return err(ErrorCode.Conflict, "the task never reached a runner; start a new task");
    if (meta.runnerTaskId !== null) {
      const sent = await this.#runner(meta).followUp(meta.runnerTaskId, prompt);
      if (sent.ok) return this.#startTurn({});
      const gone = sent.error.code === ErrorCode.RunnerLost || sent.error.code === ErrorCode.NotFound;
      if (!gone) return sent;
    }
    return this.#recreate(prompt);
  }

  /** A follow-up on a new runner task that first re-creates the workspace (see `recreateTask`). */
  async #recreate(prompt: string): Promise<Result<TaskInfo>> {
    const meta = this.#meta()!;
    // Another follow-up may have started a turn while this one waited for the runner.
    if (!isEnded(meta.status))
      return err(ErrorCode.Conflict, "the task is still running; wait for its result");
    const last = this.#lastRunnerResult(meta);
    const next = recreateTask(
      meta.task,
      { patch: last?.patch ?? "", filesChanged: last?.diffstat.filesChanged ?? 0 },
      prompt,
      meta.envNames,
    );
    if (!next.ok) return next;
    const where = meta.task.ref ? `${meta.task.repo} @ ${meta.task.ref}` : meta.task.repo;
    const changes = last?.patch
      ? `then applying the last result's patch (${last.diffstat.filesChanged} file${last.diffstat.filesChanged === 1 ? "" : "s"})`
      : "with no changes to restore";
    return this.#startTurn(
      { runnerTaskId: null, cursor: 0, resubmit: next.value, status: "queued" },
      {
        type: "log",
        stream: "system",
        text: `the task's container stopped since the last turn: re-creating the workspace from ${where}, ${changes}; the agent starts a new conversation`,
      },
    );
  }

  /** The last `result` a runner sent (with its patch), if any. */
  #lastRunnerResult(meta: TaskMeta): Extract<RunEvent, { type: "result" }> | undefined {
    const seq = meta.workspaceSeq ?? null;
    if (seq === null) return undefined;
    for (const json of this.#log.after(seq - 1, 1)) {
      const event = JSON.parse(json) as RunEvent;
      if (event.type === "result") return event;
    }
    return undefined;
  }

  /** Marks a new turn as running (optionally logging `announce`) and drives it. */
  async #startTurn(change: Partial<TaskMeta>, announce?: RunEventBody): Promise<Result<TaskInfo>> {
    const now = this.#meta()!;
    Object.assign(now, {
      status: "running",
      result: null,
      turnStartedAt: Date.now(),
      cancelRequested: false,
      sawCancelled: false,
      ...change,
    });
    if (announce) this.#commit(now, announce);
    else {
      this.ctx.storage.kv.put(META, now);
      this.#d1 = this.#d1.then(() => setTaskStatus(this.env.DB, now.id, now.status)).catch(() => {});
    }
    await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
    void this.#drive();
    return ok(this.#info(now));
  }

  // ---- compute "tunnel": the owner's TunnelDO runs the task on one of their machines ----------

  #tunnel(meta: TaskMeta) {
    return this.env.TUNNEL.get(this.env.TUNNEL.idFromName(meta.owner));
  }

  /** Hands the task to the owner's TunnelDO (idempotent); its events then arrive by `tunnelIngest`. */
  async #driveTunnel(meta: TaskMeta): Promise<void> {
    if (meta.runnerTaskId !== null) return;
    const queued = await this.#tunnel(meta).submit(meta.id, meta.task);
    const now = this.#meta()!;
    if (isEnded(now.status)) return;
    if (!queued.ok) return this.#finish(now, queued.error);
    now.runnerTaskId = now.id;
    // The TunnelDO keeps the task until a machine has it; the values need not stay here.
    delete now.task.env;
    this.ctx.storage.kv.put(META, now);
  }

  async #cancelTunnel(meta: TaskMeta): Promise<Result<TaskInfo>> {
    const sent = await this.#tunnel(meta).cancel(meta.id);
    const now = this.#meta()!;
    if (!sent.ok && !isEnded(now.status))
      this.#finish(now, { code: ErrorCode.Cancelled, message: `cancelled (${sent.error.message})` });
    return ok(this.#info(this.#meta()!));
  }

  /** The turn is marked running before the machine hears of it, so its first events are taken. */
  async #followUpTunnel(meta: TaskMeta, prompt: string): Promise<Result<TaskInfo>> {
    const { status, result, turnStartedAt, cancelRequested, sawCancelled } = meta;
    // No turnStartedAt: the user's own machine holds no container, so no container seconds are billed.
    const turn = { status: "running" as const, result: null };
    this.ctx.storage.kv.put(META, Object.assign(meta, turn, { cancelRequested: false, sawCancelled: false }));
    const sent = await this.#tunnel(meta).followUp(meta.id, prompt);
    const now = this.#meta()!;
    if (!sent.ok) {
      this.ctx.storage.kv.put(
        META,
        Object.assign(now, { status, result, turnStartedAt, cancelRequested, sawCancelled }),
      );
      return sent;
    }
    this.#d1 = this.#d1.then(() => setTaskStatus(this.env.DB, now.id, "running")).catch(() => {});
    await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
    return ok(this.#info(now));
  }

  /** From the TunnelDO: a status line (waiting for a machine, on machine X). */
  async tunnelStatus(phase: "queued" | "provisioning", message: string): Promise<void> {
    const meta = this.#meta();
    if (!meta || isEnded(meta.status)) return;
    if (phase === "provisioning") meta.status = "provisioning";
    this.#commit(meta, { type: "status", phase, message });
  }

  /**
   * From the TunnelDO: a machine's events (runner seqs). Seqs already taken are skipped (a resend
   * after a reconnect); a gap is refused with the seq to resend after. `cursor` is what is stored.
   */
  async tunnelIngest(events: RunEvent[]): Promise<{ cursor: number; ended: boolean; refused?: string }> {
    let meta = this.#meta();
    if (!meta) return { cursor: 0, ended: true, refused: "no such task" };
    for (const event of events) {
      meta = this.#meta()!;
      if (event.seq <= meta.cursor) continue;
      if (isEnded(meta.status)) return { cursor: meta.cursor, ended: true, refused: "the task has ended" };
      if (event.seq !== meta.cursor + 1) {
        const refused = `out-of-order seq: expected ${meta.cursor + 1}, got ${event.seq}`;
        return { cursor: meta.cursor, ended: false, refused };
      }
      this.#ingest(event);
    }
    meta = this.#meta()!;
    return { cursor: meta.cursor, ended: isEnded(meta.status) };
  }

  /** From the TunnelDO: the task ends here (queue timeout, machine lost or refused it). */
  async tunnelFail(error: AppError): Promise<void> {
    const meta = this.#meta();
    if (meta && !isEnded(meta.status)) this.#finish(meta, error);
  }

  /** Watchdog: picks the task up again after the object was evicted mid-task. */
  override async alarm(): Promise<void> {
    const meta = this.#meta();
    if (!meta || isEnded(meta.status)) return;
    void this.#drive();
    await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
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
