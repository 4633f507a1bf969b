import { randomBytes } from "node:crypto";
import {
  type AppError,
  ErrorCode,
  emptyDiffstat,
  networkOf,
  type Result,
  type ResultBody,
  type RunEventBody,
  type Task,
  timeoutOf,
} from "@openagents/protocol";
import type { AgentAdapter, ModelCredentials } from "./agent-adapter.ts";
import { adapterFor } from "./agent-registry.ts";
import { EventLog } from "./event-log.ts";
import { createSandbox, type Sandbox } from "./sandbox.ts";
import { findSecretFiles, secretFilesWarning } from "./secret-files.ts";
import type { TaskHandle, TaskState } from "./task-runner.ts";
import {
  cloneRepo,
  collectChanges,
  createTaskDirs,
  type GitEgress,
  gitEnv,
  resolveRepo,
  type TaskDirs,
  taskDirs,
} from "./workspace.ts";

export interface TaskManagerOptions {
  /** Each task gets `<workRoot>/<id>/{work,home,tmp}`; sibling tasks cannot read each other's. */
  workRoot: string;
  credentials: ModelCredentials;
  /** SIGTERM → SIGKILL grace when a task is cancelled or times out. */
  graceMs?: number;
  /** Tasks running at once; more wait in `queued`. */
  maxConcurrent?: number;
  /** Base for relative local repo paths (the CLI's cwd). */
  cwd?: string;
  /** Whether a local-path repo may be used; a runner exposed to others can refuse them. */
  allowLocalRepo?: (absolutePath: string) => boolean;
  /** False in a container started without internet: a task may then only use network "none". */
  allowNetwork?: boolean;
  /** Fetches GitHub repositories through the edge's git egress (a container's runner); see workspace.ts. */
  gitEgress?: GitEgress | undefined;
  /** Adapter lookup; tests may add agents. */
  adapters?: (agent: Task["agent"]) => AgentAdapter;
}

/** Why a task's AbortController fired. */
type StopReason = { code: typeof ErrorCode.Cancelled | typeof ErrorCode.Timeout; message: string };

/**
 * Starts and tracks tasks: clone → setup → agent → patch, every process in the task's sandbox, with
 * cancellation and a hard timeout that stop the whole process tree.
 *
 * @example
 * const manager = new TaskManager({ workRoot, credentials: credentialsFromEnv(process.env) });
 * const handle = manager.start(task);
 * handle.log.subscribe(0, (e) => console.log(JSON.stringify(e)));
 * const result = await handle.done;
 */
export class TaskManager {
  readonly #opts: TaskManagerOptions;
  readonly #tasks = new Map<string, ManagedTask>();
  #running = 0;
  /** Tasks waiting for a slot, first come first; each is handed a slot already counted. */
  readonly #waiting: Array<() => void> = [];

  constructor(opts: TaskManagerOptions) {
    this.#opts = opts;
  }

  start(task: Task): TaskHandle {
    const id = `t_${randomBytes(10).toString("hex")}`;
    const managed = new ManagedTask(id, task, this.#opts, (fn, signal) => this.#schedule(fn, signal));
    this.#tasks.set(id, managed);
    managed.begin();
    return managed;
  }

  get(id: string): TaskHandle | undefined {
    return this.#tasks.get(id);
  }

  list(): TaskHandle[] {
    return [...this.#tasks.values()];
  }

  /** A new agent turn on the task's workspace; the log continues after the previous result. */
  followUp(id: string, prompt: string): Result<TaskHandle> {
    const managed = this.#tasks.get(id);
    if (!managed) return { ok: false, error: { code: ErrorCode.NotFound, message: `no task ${id}` } };
    const r = managed.followUp(prompt);
    return r.ok ? { ok: true, value: managed } : r;
  }

  async shutdown(): Promise<void> {
    const all = [...this.#tasks.values()];
    for (const t of all) t.cancel("the runner is shutting down");
    await Promise.all(all.map((t) => t.done));
  }

  /**
   * Runs `fn` when a slot is free (at most `maxConcurrent` tasks run at once). A task cancelled while
   * it waits runs `fn` at once, without a slot: it only records its end, and must not wait for the
   * tasks ahead of it to end first.
   */
  async #schedule<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const limit = this.#opts.maxConcurrent ?? 4;
    if (this.#running < limit) this.#running++;
    else {
      const admitted = await new Promise<boolean>((resolve) => {
        const go = () => {
          signal.removeEventListener("abort", leave);
          resolve(true);
        };
        const leave = () => {
          const i = this.#waiting.indexOf(go);
          if (i >= 0) this.#waiting.splice(i, 1);
          resolve(false);
        };
        this.#waiting.push(go);
        if (signal.aborted) leave();
        else signal.addEventListener("abort", leave, { once: true });
      });
      if (!admitted) return fn();
    }
    try {
      return await fn();
    } finally {
      // The slot goes straight to the next task waiting, so that no newcomer takes it in between.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

class ManagedTask implements TaskHandle {
  readonly id: string;
  readonly task: Task;
  readonly log = new EventLog();
  readonly createdAt = new Date().toISOString();
  done: Promise<ResultBody>;
  readonly #opts: TaskManagerOptions;
  readonly #schedule: <T>(fn: () => Promise<T>, signal: AbortSignal) => Promise<T>;
  readonly #dirs: TaskDirs;
  #state: TaskState = "running";
  #result: ResultBody | undefined;
  #abort = new AbortController();
  #stopReason: StopReason | undefined;
  #sandbox: Sandbox | undefined;
  #base: string | undefined;
  #resolveDone!: (r: ResultBody) => void;

  constructor(
    id: string,
    task: Task,
    opts: TaskManagerOptions,
    schedule: <T>(fn: () => Promise<T>, signal: AbortSignal) => Promise<T>,
  ) {
    this.id = id;
    this.task = task;
    this.#opts = opts;
    this.#schedule = schedule;
    this.#dirs = taskDirs(opts.workRoot, id);
    this.done = this.#newDone();
  }

  state(): TaskState {
    return this.#state;
  }

  result(): ResultBody | undefined {
    return this.#result;
  }

  cancel(reason = "cancelled by the user"): void {
    if (this.#state !== "running" || this.#abort.signal.aborted) return;
    this.#stopReason = { code: ErrorCode.Cancelled, message: reason };
    this.#abort.abort();
  }

  begin(): void {
    this.#emit({ type: "status", phase: "queued" });
    void this.#schedule(
      () => this.#turn(this.task.prompt ?? this.task.script ?? "", true),
      this.#abort.signal,
    );
  }

  followUp(prompt: string): Result<true> {
    if (this.#state === "running") {
      return { ok: false, error: { code: ErrorCode.Conflict, message: "the task is still running" } };
    }
    if (this.task.agent === "shell") {
      return {
        ok: false,
        error: { code: ErrorCode.InvalidRequest, message: "shell tasks take no follow-up" },
      };
    }
    if (!this.#base || !this.#sandbox) {
      return {
        ok: false,
        error: { code: ErrorCode.Conflict, message: "the task has no workspace to continue in" },
      };
    }
    this.#state = "running";
    this.#abort = new AbortController();
    this.#stopReason = undefined;
    this.done = this.#newDone();
    this.log.reopen();
    this.#emit({ type: "status", phase: "queued", message: "follow-up" });
    void this.#schedule(() => this.#turn(prompt, false), this.#abort.signal);
    return { ok: true, value: true };
  }

  #newDone(): Promise<ResultBody> {
    return new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  #emit(body: RunEventBody): void {
    this.log.append(body);
  }

  async #turn(instructions: string, first: boolean): Promise<void> {
    const signal = this.#abort.signal;
    const timer = setTimeout(() => {
      this.#stopReason = { code: ErrorCode.Timeout, message: `timed out after ${timeoutOf(this.task)} s` };
      this.#abort.abort();
    }, timeoutOf(this.task) * 1000);
    let outcome: { ok: boolean; exitCode: number | null; summary: string } = {
      ok: false,
      exitCode: null,
      summary: "",
    };
    try {
      if (signal.aborted) return this.#finish(this.#stopError(), outcome);
      if (first) {
        const prepared = await this.#prepare(signal);
        if (!prepared.ok) return this.#finish(prepared.error, outcome);
      }
      if (signal.aborted) return this.#finish(this.#stopError(), outcome);
      this.#emit({ type: "status", phase: "running" });
      const adapter = (this.#opts.adapters ?? adapterFor)(this.task.agent);
      outcome = await adapter.run({
        task: this.task,
        instructions,
        followUp: !first,
        workspace: this.#dirs.work,
        emit: (e) => this.#emit(e),
        signal,
        sandbox: this.#sandbox!,
        credentials: this.#opts.credentials,
      });
      if (signal.aborted) return this.#finish(this.#stopError(), outcome);
      if (!outcome.ok) {
        const code = this.task.agent === "shell" ? ErrorCode.ScriptFailed : ErrorCode.AgentFailed;
        const what = this.task.agent === "shell" ? "the script" : this.task.agent;
        return this.#finish({ code, message: `${what} exited with code ${outcome.exitCode}` }, outcome);
      }
      return this.#finish(undefined, outcome);
    } catch (e) {
      return this.#finish(this.#stopReason ?? toAppError(e), outcome);
    } finally {
      clearTimeout(timer);
    }
  }

  async #prepare(signal: AbortSignal): Promise<Result<true>> {
    this.#emit({ type: "status", phase: "provisioning" });
    if (this.#opts.allowNetwork === false && networkOf(this.task).mode !== "none") {
      return {
        ok: false,
        error: {
          code: ErrorCode.Forbidden,
          message: 'this runner has no internet access: only network "none" is allowed',
        },
      };
    }
    await createTaskDirs(this.#dirs);
    try {
      this.#sandbox = await createSandbox({
        workspace: this.#dirs.work,
        writable: [this.#dirs.home, this.#dirs.tmp],
        workspacesRoot: this.#opts.workRoot,
        network: networkOf(this.task),
      });
    } catch (e) {
      return { ok: false, error: { code: ErrorCode.SandboxUnavailable, message: messageOf(e) } };
    }
    const url = await resolveRepo(this.task.repo, this.#opts.cwd ?? process.cwd());
    if (!url.ok) return url;
    if (url.value.startsWith("file://") && this.#opts.allowLocalRepo?.(url.value.slice(7)) === false) {
      return {
        ok: false,
        error: { code: ErrorCode.Forbidden, message: "this runner does not accept local repositories" },
      };
    }
    this.#emit({
      type: "status",
      phase: "cloning",
      message: this.task.ref ? `${this.task.repo} @ ${this.task.ref}` : this.task.repo,
    });
    const base = await cloneRepo(
      url.value,
      this.task.ref,
      this.#dirs,
      signal,
      (text) => this.#emit({ type: "log", stream: "system", text }),
      { gitEgress: this.#opts.gitEgress },
    );
    if (!base.ok) return signal.aborted ? { ok: false, error: this.#stopError() } : base;
    this.#base = base.value;
    // Secret-looking files in the repository are visible to the agent: say so once, by name only.
    const warning = secretFilesWarning(
      await findSecretFiles(this.#dirs.work, gitEnv(this.#dirs.home), signal).catch(() => []),
    );
    if (warning) this.#emit({ type: "log", stream: "system", text: warning });
    if (this.task.setup) {
      this.#emit({ type: "status", phase: "setup" });
      const exit = await this.#sandbox.run(["bash", "-c", this.task.setup], {
        cwd: this.#dirs.work,
        env: { ...gitEnv(this.#dirs.home), ...this.task.env, TMPDIR: this.#dirs.tmp },
        signal,
        graceMs: this.#opts.graceMs,
        onStdoutLine: (text) => this.#emit({ type: "log", stream: "stdout", text }),
        onStderrLine: (text) => this.#emit({ type: "log", stream: "stderr", text }),
      });
      if (signal.aborted) return { ok: false, error: this.#stopError() };
      if (exit.exitCode !== 0) {
        return {
          ok: false,
          error: { code: ErrorCode.SetupFailed, message: `setup exited with code ${exit.exitCode}` },
        };
      }
    }
    return { ok: true, value: true };
  }

  #stopError(): AppError {
    return this.#stopReason ?? { code: ErrorCode.Cancelled, message: "stopped" };
  }

  async #finish(
    error: AppError | undefined,
    outcome: { exitCode: number | null; summary: string },
  ): Promise<void> {
    const body: ResultBody = {
      type: "result",
      ok: error === undefined,
      exitCode: outcome.exitCode,
      summary: outcome.summary || error?.message || "",
      diffstat: emptyDiffstat(),
      patch: "",
    };
    if (this.#sandbox && this.#base) {
      // The patch is computed even after a failure or timeout, so partial work is never lost; it gets
      // its own short deadline because the task's own signal may already have fired.
      this.#emit({ type: "status", phase: "finalizing" });
      const changes = await collectChanges(
        this.#sandbox,
        this.#dirs,
        this.#base,
        AbortSignal.timeout(60_000),
      ).catch((e: unknown) => ({ ok: false as const, error: toAppError(e) }));
      if (changes.ok) {
        body.patch = changes.value.patch;
        body.diffstat = changes.value.diffstat;
        if (changes.value.truncated) body.summary += " (patch too large to return; see the workspace)";
      } else if (body.ok) {
        error = changes.error;
        body.ok = false;
      }
    }
    // The contract: the last events are `error` (when the task failed) and then `result`.
    if (error) this.#emit({ type: "error", code: error.code, message: error.message });
    this.#state = body.ok
      ? "succeeded"
      : this.#stopReason?.code === ErrorCode.Cancelled
        ? "cancelled"
        : "failed";
    this.#result = body;
    this.#emit(body);
    this.#resolveDone(body);
  }
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function toAppError(e: unknown): AppError {
  const message = messageOf(e);
  if (/ENOENT/.test(message)) return { code: ErrorCode.AgentNotInstalled, message };
  return { code: ErrorCode.Internal, message };
}

/** Model credentials and upstreams from the runner's own environment (never passed to tasks). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): ModelCredentials {
  const creds: ModelCredentials = {
    anthropicBaseUrl: env.ANTHROPIC_BASE_URL || "https://api.anthropic.com",
    openaiBaseUrl: env.OPENAI_BASE_URL || "https://api.openai.com/v1",
  };
  if (env.ANTHROPIC_API_KEY) creds.anthropicApiKey = env.ANTHROPIC_API_KEY;
  if (env.OPENAI_API_KEY) creds.openaiApiKey = env.OPENAI_API_KEY;
  return creds;
}
