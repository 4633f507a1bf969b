import { realpathSync } from "node:fs";
import path from "node:path";
import {
  type AgentKind,
  type AppError,
  type EdgeFrame,
  ErrorCode,
  emptyDiffstat,
  encodeFrame,
  isRemoteRepo,
  MAX_EVENTS_PER_FRAME,
  MAX_FRAME_BYTES,
  type MachineFrame,
  parseEdgeFrame,
  type Result,
  type RunEvent,
  repoAllowed,
  type Task,
  TUNNEL_PROTOCOL_VERSION,
} from "@openagents/protocol";
import type { TaskHandle } from "../task-runner.ts";
import { TaskBuffer } from "./event-buffer.ts";
import { TunnelLink } from "./tunnel-link.ts";

/** What the machine needs of a task manager (the runner's `TaskManager`). */
export interface TunnelTaskRunner {
  start(task: Task): TaskHandle;
  followUp(id: string, prompt: string): Result<TaskHandle>;
}

export interface TunnelMachineOptions {
  url: string;
  token: string;
  name?: string;
  maxTasks: number;
  agents: AgentKind[];
  /** Remote repository globs this machine accepts (`repoMatches`). */
  allowRepos: string[];
  /** Directories under which local-path repositories are accepted. */
  allowDirs: string[];
  /** Where unacknowledged events are kept (one file per task). */
  bufferDir: string;
  runner: TunnelTaskRunner;
  /** Every change worth showing (connected, task assigned/ended, dropped, …). */
  onChange?: (status: MachineStatus, note: string) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface MachineStatus {
  connected: boolean;
  machine: string | null;
  running: number;
  finished: number;
  /** Events written but not yet acknowledged by the edge. */
  unacked: number;
}

interface TunnelTask {
  taskId: string;
  buffer: TaskBuffer;
  handle: TaskHandle | null;
  /** Last seq the edge says it stored. */
  acked: number;
  /** Last seq sent on the current connection. */
  sent: number;
  unsubscribe: () => void;
}

/** Events in flight (sent, not acknowledged) per task: enough to keep the pipe full, bounded memory at the edge. */
const WINDOW = 8000;
/** Bytes of events per frame, under the frame limit with room for the envelope. */
const FRAME_EVENT_BYTES = MAX_FRAME_BYTES - 16 * 1024;
/** One event may not exceed this; a bigger one is shrunk before it is buffered (see `fitEvent`). */
const MAX_EVENT_BYTES = 512 * 1024;

/**
 * `openagents connect` as a machine of the user's tunnel: says hello with its claims, runs the tasks
 * the edge assigns with the runner (refusing repos and local paths it was not allowed), streams
 * their events with the runner's seqs, answers cancel and follow-up, and survives drops: every
 * event is on disk before it is sent, and after a reconnect (or a restart of the process) it
 * resends from the seq the edge acknowledged. Tasks whose runner died with an earlier process are
 * reported `runner_lost`.
 *
 * @example
 * const machine = new TunnelMachine({ url, token, maxTasks: 2, agents: ["shell"], allowRepos: ["**"], allowDirs: [], bufferDir, runner: manager });
 * const end = await machine.run(signal); // resolves when stopped or refused for good
 */
export class TunnelMachine {
  readonly #opts: TunnelMachineOptions;
  readonly #tasks = new Map<string, TunnelTask>();
  readonly #link: TunnelLink;
  #machine: string | null = null;
  #welcomed = false;
  #finished = 0;
  #pumpScheduled = false;
  #fatal: ((reason: string) => void) | null = null;

  constructor(opts: TunnelMachineOptions) {
    this.#opts = opts;
    this.#link = new TunnelLink({
      url: opts.url,
      token: opts.token,
      onOpen: () => this.#hello(),
      onMessage: (text) => this.#onFrame(text),
      onDown: ({ code, reason, retryInMs, fatal }) => {
        this.#welcomed = false;
        const why = `${code}${reason ? ` ${reason}` : ""}`;
        if (fatal) {
          this.#change(`refused by the edge (${why})`);
          this.#fatal?.(`the edge refused this machine: ${reason || code}`);
        } else if (retryInMs !== null) {
          this.#change(`disconnected (${why}); reconnecting in ${(retryInMs / 1000).toFixed(1)}s`);
        }
      },
      ...(opts.minBackoffMs !== undefined ? { minBackoffMs: opts.minBackoffMs } : {}),
      ...(opts.maxBackoffMs !== undefined ? { maxBackoffMs: opts.maxBackoffMs } : {}),
    });
  }

  get url(): string {
    return this.#link.url;
  }

  status(): MachineStatus {
    let running = 0;
    let unacked = 0;
    for (const t of this.#tasks.values()) {
      if (t.handle?.state() === "running") running++;
      unacked += t.buffer.lastSeq - t.acked;
    }
    return { connected: this.#welcomed, machine: this.#machine, running, finished: this.#finished, unacked };
  }

  /**
   * Reloads what an earlier process left on disk (its unfinished tasks become `runner_lost`),
   * connects, and serves until `signal` aborts (tasks are cancelled, their last events flushed) or
   * the edge refuses the machine. Resolves with null, or with the reason of a refusal.
   */
  async run(signal: AbortSignal): Promise<string | null> {
    this.#restore();
    const refused = new Promise<string>((resolve) => {
      this.#fatal = resolve;
    });
    const stopped = new Promise<null>((resolve) => {
      if (signal.aborted) resolve(null);
      signal.addEventListener("abort", () => resolve(null), { once: true });
    });
    this.#link.start();
    const end = await Promise.race([refused, stopped]);
    if (end === null) await this.#drain();
    await this.#link.stop();
    for (const t of this.#tasks.values()) t.buffer.close();
    return end;
  }

  /** Drops the live connection (as a network failure would); the machine reconnects by itself. */
  dropConnection(): void {
    this.#link.drop();
  }

  #restore(): void {
    for (const buffer of TaskBuffer.loadAll(this.#opts.bufferDir)) {
      if (!buffer.ended) {
        // Its runner died with the earlier process: the task ends here, after everything it sent.
        const next = (type: RunEvent["type"]) => ({
          seq: buffer.lastSeq + 1,
          time: new Date().toISOString(),
          type,
        });
        buffer.append({
          ...next("error"),
          code: ErrorCode.RunnerLost,
          message: "openagents connect restarted while the task ran; its runner stopped",
        } as RunEvent);
        buffer.append({
          ...next("result"),
          ok: false,
          exitCode: null,
          summary: "failed: the machine's runner stopped (openagents connect restarted)",
          diffstat: emptyDiffstat(),
          patch: "",
        } as RunEvent);
      }
      this.#tasks.set(buffer.taskId, {
        taskId: buffer.taskId,
        buffer,
        handle: null,
        acked: 0,
        sent: 0,
        unsubscribe: () => {},
      });
    }
  }

  #hello(): void {
    this.#send({
      type: "hello",
      version: TUNNEL_PROTOCOL_VERSION,
      ...(this.#opts.name !== undefined ? { name: this.#opts.name } : {}),
      agents: this.#opts.agents,
      maxTasks: this.#opts.maxTasks,
      allowRepos: this.#opts.allowRepos,
      allowDirs: this.#opts.allowDirs,
      tasks: [...this.#tasks.values()].map((t) => ({
        taskId: t.taskId,
        lastSeq: t.buffer.lastSeq,
        ended: t.handle === null || t.handle.state() !== "running",
      })),
    });
  }

  #onFrame(text: string): void {
    const parsed = parseEdgeFrame(text);
    if (!parsed.ok) {
      this.#change(`ignored a bad frame from the edge: ${parsed.error.message}`);
      return;
    }
    const frame: EdgeFrame = parsed.value;
    const t = "taskId" in frame && frame.taskId !== undefined ? this.#tasks.get(frame.taskId) : undefined;
    switch (frame.type) {
      case "welcome": {
        this.#machine = frame.machine;
        this.#welcomed = true;
        this.#link.setHeartbeat(frame.heartbeatMs, () =>
          JSON.stringify({ type: "heartbeat", running: this.status().running }),
        );
        for (const task of this.#tasks.values()) task.sent = task.acked;
        for (const { taskId, seq } of frame.acks) {
          const task = this.#tasks.get(taskId);
          if (task) this.#acked(task, seq);
        }
        this.#change(`connected to ${this.#link.url} as "${frame.machine}"`);
        this.#schedulePump();
        return;
      }
      case "assign":
        this.#assign(frame.taskId, frame.task);
        return;
      case "ack":
        if (t) this.#acked(t, frame.seq);
        return;
      case "cancel":
        t?.handle?.cancel("cancelled by the user");
        return;
      case "follow-up":
        this.#followUp(frame.taskId, frame.prompt);
        return;
      case "release":
        if (t) {
          t.handle?.cancel(`released by the edge: ${frame.reason}`);
          this.#forget(t);
        }
        return;
      case "error":
        if (t && frame.seq !== undefined) {
          // The edge stored up to `seq` and refused the rest (a gap): resend from there, a little later.
          this.#acked(t, frame.seq);
          t.sent = t.acked;
          setTimeout(() => this.#schedulePump(), 100).unref();
        } else if (t && frame.code === ErrorCode.NotFound) {
          t.handle?.cancel("the edge does not know this task");
          this.#forget(t);
        } else {
          this.#change(`the edge reported: ${frame.code}: ${frame.message}`);
        }
        return;
      case "heartbeat":
        return;
    }
  }

  #assign(taskId: string, task: Task): void {
    if (this.#tasks.has(taskId)) return; // A repeated assign after a reconnect.
    const refusal = this.#refusal(task);
    if (refusal) {
      this.#change(`refused task ${taskId}: ${refusal.message}`);
      this.#send({ type: "error", taskId, code: refusal.code, message: refusal.message });
      return;
    }
    const handle = this.#opts.runner.start(task);
    const t: TunnelTask = {
      taskId,
      buffer: TaskBuffer.create(this.#opts.bufferDir, taskId),
      handle,
      acked: 0,
      sent: 0,
      unsubscribe: () => {},
    };
    this.#tasks.set(taskId, t);
    this.#follow(t, 0);
    this.#change(`task ${taskId}: ${task.agent} on ${task.repo}`);
  }

  #followUp(taskId: string, prompt: string): void {
    const t = this.#tasks.get(taskId);
    if (!t?.handle) {
      this.#send({
        type: "error",
        taskId,
        code: ErrorCode.Conflict,
        message: "this machine no longer has the task",
      });
      return;
    }
    const r = this.#opts.runner.followUp(t.handle.id, prompt);
    if (!r.ok) {
      this.#send({ type: "error", taskId, code: r.error.code, message: r.error.message });
      return;
    }
    t.buffer.reopen();
    this.#follow(t, t.buffer.lastSeq);
    this.#change(`task ${taskId}: follow-up`);
  }

  /** Buffers the handle's events after `after` as they come, and counts the task when it ends. */
  #follow(t: TunnelTask, after: number): void {
    const handle = t.handle!;
    t.unsubscribe = handle.log.subscribe(
      after,
      (event) => {
        t.buffer.append(fitEvent(event));
        this.#schedulePump();
      },
      () => {
        this.#finished++;
        this.#change(`task ${t.taskId}: ${handle.state()}`);
      },
    );
  }

  #refusal(task: Task): AppError | null {
    if (this.status().running >= this.#opts.maxTasks)
      return {
        code: ErrorCode.RateLimited,
        message: `the machine already runs ${this.#opts.maxTasks} tasks`,
      };
    if (!this.#opts.agents.includes(task.agent))
      return { code: ErrorCode.AgentNotInstalled, message: `agent "${task.agent}" is not offered here` };
    if (isRemoteRepo(task.repo)) {
      if (!repoAllowed(task.repo, this.#opts.allowRepos))
        return {
          code: ErrorCode.Forbidden,
          message: `repository ${task.repo} is outside this machine's --allow-repo list`,
        };
      return null;
    }
    if (!localPathAllowed(task.repo, this.#opts.allowDirs))
      return {
        code: ErrorCode.Forbidden,
        message: `local path ${task.repo} is outside this machine's --allow-dir directories`,
      };
    return null;
  }

  #acked(t: TunnelTask, seq: number): void {
    if (seq > t.acked) {
      t.acked = seq;
      t.buffer.trim(seq);
    }
    if (t.sent < t.acked) t.sent = t.acked;
    if (t.acked >= t.buffer.lastSeq && t.buffer.ended) {
      // Everything up to the result is stored at the edge: the file can go. The task stays known
      // (for a follow-up) while its runner holds it.
      t.buffer.remove();
      if (t.handle === null) this.#tasks.delete(t.taskId);
    }
    this.#schedulePump();
  }

  #forget(t: TunnelTask): void {
    t.unsubscribe();
    t.buffer.remove();
    this.#tasks.delete(t.taskId);
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Sends what the edge lacks, per task, within the window; the socket's buffer paces it. */
  #pump(): void {
    if (!this.#welcomed || !this.#link.open) return;
    for (const t of this.#tasks.values()) {
      while (t.sent - t.acked < WINDOW && this.#link.bufferedAmount < 4 * MAX_FRAME_BYTES) {
        const room = Math.min(MAX_EVENTS_PER_FRAME, WINDOW - (t.sent - t.acked));
        const events = t.buffer.after(t.sent, room, FRAME_EVENT_BYTES);
        if (events.length === 0) break;
        this.#send({ type: "events", taskId: t.taskId, events });
        t.sent = events.at(-1)!.seq;
      }
    }
    if (this.#link.bufferedAmount >= 4 * MAX_FRAME_BYTES) setTimeout(() => this.#schedulePump(), 5).unref();
  }

  /** On stop: cancel what runs, then give the edge a few seconds to store the last events. */
  async #drain(): Promise<void> {
    const running = [...this.#tasks.values()].filter((t) => t.handle?.state() === "running");
    for (const t of running) t.handle!.cancel("openagents connect is stopping");
    const deadline = Date.now() + 10_000;
    await Promise.race([
      Promise.all(running.map((t) => t.handle!.done)),
      new Promise((r) => setTimeout(r, 8_000)),
    ]);
    while (Date.now() < deadline && this.status().unacked > 0 && this.#welcomed) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #send(frame: MachineFrame): void {
    const text = encodeFrame(frame);
    if (text.ok) this.#link.send(text.value);
    else this.#change(`could not send a ${frame.type} frame: ${text.error.message}`);
  }

  #change(note: string): void {
    this.#opts.onChange?.(this.status(), note);
  }
}

/** True when `repo` is an absolute local path whose real location is inside one of `dirs`. */
export function localPathAllowed(repo: string, dirs: readonly string[]): boolean {
  if (!path.isAbsolute(repo)) return false;
  let real: string;
  try {
    real = realpathSync(repo);
  } catch {
    return false;
  }
  return dirs.some((d) => {
    let base: string;
    try {
      base = realpathSync(d);
    } catch {
      return false;
    }
    const rel = path.relative(base, real);
    return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
  });
}

/**
 * An event small enough for a frame: a `result` whose patch is too big keeps its diffstat and
 * says where the patch is; a huge log line or agent text is cut. Applied before buffering, so
 * every copy (disk, edge) is the same.
 */
export function fitEvent(event: RunEvent): RunEvent {
  const size = JSON.stringify(event).length;
  if (size <= MAX_EVENT_BYTES) return event;
  if (event.type === "result") {
    const note = ` (patch of ${Buffer.byteLength(event.patch)} bytes too large for the tunnel; it is in the task's workspace on the machine)`;
    return { ...event, patch: "", summary: event.summary.slice(0, 4000) + note };
  }
  if (event.type === "log") return { ...event, text: `${event.text.slice(0, MAX_EVENT_BYTES / 4)}… (cut)` };
  if (event.type === "agent") {
    const { input: _input, ...rest } = event;
    return { ...rest, text: `${(event.text ?? "").slice(0, MAX_EVENT_BYTES / 4)}… (cut)` };
  }
  return event;
}
