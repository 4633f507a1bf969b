import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { type AppError, ErrorCode, type Result } from "@openagents/protocol";
import { type ContainerSignal, containerEnv, isContainerName, type StartRequest } from "./container-env.ts";
import {
  descendantsOf,
  groupExists,
  isAlive,
  type ProcessId,
  processId,
  signalGroup,
  signalProcess,
} from "./process-tree.ts";

/*
 * What a local "container" is, and what it is not.
 *
 * It is: one `runner serve` process started in its own process group and session, with its own state
 * directory `<root>/<name>/` (workspaces, TMPDIR, XDG state, runner.log), and a clean environment
 * (only what the client passed, plus PATH/HOME/locale: never the host's keys). Its port is bound to
 * loopback and guarded by a per-container token that only the host knows and adds when it proxies, so
 * the host is the one door in. Stopping it stops every process it started, including task processes
 * that moved to their own groups or sessions (found through /proc on Linux). The tasks it runs are
 * sandboxed by @anthropic-ai/sandbox-runtime (bubblewrap): writes confined to their workspace, the
 * user's secrets unreadable, network none unless the task allows domains.
 *
 * It is not: a kernel boundary for the runner process itself. The runner runs as the host's user with
 * that user's filesystem view, no namespaces, no cgroup limits (CPU, memory, pids). `enableInternet:
 * false` is recorded and passed to the runner (OPENAGENTS_CONTAINER_INTERNET=0) for its tasks' network
 * policy, but nothing cuts the runner's own sockets. A cloud container (Cloudflare, or wrangler with a
 * container engine) is that boundary; this host emulates the verbs, not the isolation.
 */

export interface ContainerHostOptions {
  /** Where each container's directory `<root>/<name>/` lives. */
  root: string;
  /**
   * The command that starts the runner, before its arguments: the host appends
   * `runner serve --port 0 --host 127.0.0.1 --work-root <dir>/work`. E.g. `[process.execPath, "…/bin/openagents.js"]`.
   */
  entrypoint: readonly string[];
  /** Between SIGTERM and SIGKILL when stopping; default 5000 ms. */
  graceMs?: number;
  /** How long a start may take until `/healthz` answers; default 30 000 ms. */
  startTimeoutMs?: number;
  /** How often living containers' process trees are recorded (to stop orphans later); default 2000 ms. */
  scanIntervalMs?: number;
  /** Source of PATH/HOME/locale for containers; default `process.env`. */
  hostEnv?: NodeJS.ProcessEnv;
  /** Variables every container gets from the host (the model egress point); see `containerEnv`. */
  egressEnv?: Record<string, string>;
}

/** What `GET /containers/:name` answers. */
export interface ContainerStatus {
  running: boolean;
  port?: number;
  /** The runner's pid (leader of the container's process group), while it runs. */
  pid?: number;
  startedAt?: string;
  /** Set once the runner has exited: its code, or 128 + the signal number when a signal killed it. */
  exitCode?: number;
  exitedAt?: string;
  enableInternet?: boolean;
}

/** Where the host forwards a container's traffic, and the token the runner expects there. */
export interface ContainerTarget {
  port: number;
  token: string;
}

interface Container {
  readonly name: string;
  readonly dir: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly token: string;
  readonly enableInternet: boolean;
  readonly startedAt: string;
  /** Set once `/healthz` answered. */
  port?: number;
  exit?: { code: number; at: string };
  /** Every process seen under the runner, kept so that orphans can be stopped with it. */
  readonly tracked: Map<number, ProcessId>;
  /** Resolves once the runner has exited and everything it left is killed. */
  readonly gone: Promise<void>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const fail = (code: ErrorCode, message: string): { ok: false; error: AppError } => ({
  ok: false,
  error: { code, message },
});
const notRunning = (name: string) => fail(ErrorCode.RunnerLost, `container ${name} is not running`);

const PID_FILE = "runner.pid";
const READY_LINE = /listening on http:\/\/[^\s]+:(\d+)/;
const STDERR_TAIL_CHARS = 600;

/**
 * Runs local "containers" — `runner serve` processes — with the verbs of Cloudflare's `ctx.container`:
 * start (env, internet flag), status, signal, stop, and the port to fetch. Start and stop of one name
 * are serialised; different names proceed in parallel.
 *
 * @example
 * const host = new ContainerHost({ root, entrypoint: [process.execPath, binPath] });
 * const started = await host.start("user-1", { env: { ANTHROPIC_API_KEY: key }, enableInternet: false });
 * if (started.ok) console.log(host.target("user-1")?.port);
 * await host.close();
 */
export class ContainerHost {
  readonly #opts: Required<Omit<ContainerHostOptions, "hostEnv">> & { hostEnv: NodeJS.ProcessEnv };
  readonly #containers = new Map<string, Container>();
  readonly #locks = new Map<string, Promise<unknown>>();
  #scanTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: ContainerHostOptions) {
    if (opts.entrypoint.length === 0) throw new Error("ContainerHost: empty entrypoint");
    this.#opts = {
      root: path.resolve(opts.root),
      entrypoint: [...opts.entrypoint],
      graceMs: opts.graceMs ?? 5000,
      startTimeoutMs: opts.startTimeoutMs ?? 30_000,
      scanIntervalMs: opts.scanIntervalMs ?? 2000,
      hostEnv: opts.hostEnv ?? process.env,
      egressEnv: opts.egressEnv ?? {},
    };
  }

  /** Starts the container unless it runs already (then its env is not changed) and waits until it is ready. */
  start(name: string, req: StartRequest): Promise<Result<{ port: number }>> {
    if (!isContainerName(name)) return Promise.resolve(badName(name));
    return this.#serial(name, async () => {
      const current = this.#containers.get(name);
      if (current?.port !== undefined && !current.exit) return { ok: true, value: { port: current.port } };
      if (this.#closing) return fail(ErrorCode.SandboxUnavailable, "the container host is shutting down");
      return this.#launch(name, req);
    });
  }

  /** The container's state; a container never started is `{ running: false }`. */
  status(name: string): ContainerStatus {
    const c = this.#containers.get(name);
    if (!c) return { running: false };
    const base = { startedAt: c.startedAt, enableInternet: c.enableInternet };
    if (c.exit) return { running: false, ...base, exitCode: c.exit.code, exitedAt: c.exit.at };
    if (c.port === undefined) return { running: false, ...base };
    return { running: true, port: c.port, pid: c.pid, ...base };
  }

  /** Port and token of a running container, for the proxy; undefined when it is not running. */
  target(name: string): ContainerTarget | undefined {
    const c = this.#containers.get(name);
    return c && !c.exit && c.port !== undefined ? { port: c.port, token: c.token } : undefined;
  }

  /** Sends `signal` to the container's whole process group. */
  signal(name: string, signal: ContainerSignal): Result<{ delivered: true }> {
    if (!isContainerName(name)) return badName(name);
    const c = this.#containers.get(name);
    if (!c || c.exit) return notRunning(name);
    if (!signalGroup(c.pid, signal)) return notRunning(name);
    return { ok: true, value: { delivered: true } };
  }

  /**
   * Stops the container: SIGTERM to its group, SIGKILL to everything it started after the grace, and
   * waits until no process of it is left. Idempotent. `purge` also deletes its directory.
   */
  stop(name: string, opts: { purge?: boolean } = {}): Promise<Result<ContainerStatus>> {
    if (!isContainerName(name)) return Promise.resolve(badName(name));
    return this.#serial(name, async () => {
      const c = this.#containers.get(name);
      if (c && !c.exit) await this.#terminate(c);
      if (opts.purge) {
        await rm(path.join(this.#opts.root, name), { recursive: true, force: true });
        this.#containers.delete(name);
      }
      return { ok: true, value: this.status(name) };
    });
  }

  /**
   * Stops runners that a previous host left behind (it was killed before it could stop them): each
   * container directory holds the pid and start time of its runner while it runs.
   */
  async reapStale(): Promise<void> {
    const names = await readdir(this.#opts.root).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => isContainerName(n) && !this.#containers.has(n))
        .map((n) => reapStale(path.join(this.#opts.root, n))),
    );
  }

  /** Stops every container this host started and refuses new starts. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const names = [...this.#containers.keys()];
      await Promise.all(names.map((name) => this.stop(name)));
      // A start that was already launching when close began finishes first (serialised); stop it too.
      await Promise.all([...this.#containers.values()].map((c) => (c.exit ? c.gone : this.#terminate(c))));
      clearInterval(this.#scanTimer);
      this.#scanTimer = undefined;
    })();
    return this.#closing;
  }

  #serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(name, settled);
    void settled.then(() => {
      if (this.#locks.get(name) === settled) this.#locks.delete(name);
    });
    return next;
  }

  async #launch(name: string, req: StartRequest): Promise<Result<{ port: number }>> {
    const dir = path.join(this.#opts.root, name);
    const dirs = { work: path.join(dir, "work"), tmp: path.join(dir, "tmp"), state: path.join(dir, "state") };
    try {
      for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o700 });
    } catch (e) {
      return fail(
        ErrorCode.Internal,
        `cannot create the directory of container ${name}: ${(e as Error).message}`,
      );
    }
    await reapStale(dir);
    // A token the client passed is kept (the runner is then reachable with it); otherwise only the host knows it.
    const token = req.env.RUNNER_TOKEN || randomBytes(24).toString("base64url");
    const env = containerEnv({
      requested: req.env,
      hostEnv: this.#opts.hostEnv,
      name,
      tmpDir: dirs.tmp,
      stateDir: dirs.state,
      runnerToken: token,
      enableInternet: req.enableInternet,
      egress: this.#opts.egressEnv,
    });
    const [command, ...prefix] = this.#opts.entrypoint;
    const args = [
      ...prefix,
      "runner",
      "serve",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--work-root",
      dirs.work,
    ];
    const log = createWriteStream(path.join(dir, "runner.log"), { flags: "a", mode: 0o600 });
    log.on("error", () => {});
    log.write(`--- ${new Date().toISOString()} start ${name}\n`);

    let child: ChildProcess;
    try {
      // detached: a new session and process group, so one signal reaches the runner and its helpers.
      child = spawn(command!, args, { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      log.end();
      return fail(ErrorCode.Internal, `cannot start container ${name}: ${(e as Error).message}`);
    }
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", (e) => resolve(e));
    });
    if (spawned || child.pid === undefined) {
      log.end();
      return fail(ErrorCode.Internal, `cannot start container ${name}: ${spawned?.message ?? "no pid"}`);
    }
    const pid = child.pid;
    const identity = await processId(pid);
    await writeFile(path.join(dir, PID_FILE), JSON.stringify(identity ?? { pid, start: 0 }), { mode: 0o600 });
    const c = this.#track(name, dir, child, pid, token, req.enableInternet, log);
    const ready = await this.#waitReady(c, child, log);
    if (!ready.ok) {
      await this.#terminate(c);
      return ready;
    }
    c.port = ready.value;
    this.#ensureScanning();
    return { ok: true, value: { port: ready.value } };
  }

  #track(
    name: string,
    dir: string,
    child: ChildProcess,
    pid: number,
    token: string,
    enableInternet: boolean,
    log: WriteStream,
  ): Container {
    const tracked = new Map<number, ProcessId>();
    let c: Container | undefined;
    const gone = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        const exitCode = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
        if (c) c.exit = { code: exitCode, at: new Date().toISOString() };
        log.write(`--- ${new Date().toISOString()} exit ${exitCode}\n`);
        // A container whose main process is gone is gone: whatever it left behind goes with it.
        void reap(pid, tracked).then(async () => {
          await rm(path.join(dir, PID_FILE), { force: true });
          log.end();
          resolve();
        });
      });
    });
    child.stderr?.pipe(log, { end: false });
    c = { name, dir, child, pid, token, enableInternet, startedAt: new Date().toISOString(), tracked, gone };
    this.#containers.set(name, c);
    return c;
  }

  /** Reads the port from the runner's first `listening on` line, then waits for `GET /healthz`. */
  async #waitReady(c: Container, child: ChildProcess, log: WriteStream): Promise<Result<number>> {
    const deadline = Date.now() + this.#opts.startTimeoutMs;
    let stderrTail = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_CHARS);
    });
    const exitedEarly = (): Result<number> =>
      fail(
        ErrorCode.RunnerLost,
        `container ${c.name} exited before it was ready (exit code ${c.exit?.code})${stderrTail ? `: ${stderrTail.trim()}` : ""}`,
      );
    const port = await new Promise<number | undefined>((resolve) => {
      let buffered = "";
      let found = false;
      const timer = setTimeout(() => resolve(undefined), this.#opts.startTimeoutMs);
      child.stdout?.on("data", (chunk: Buffer) => {
        log.write(chunk);
        if (found) return;
        buffered = (buffered + chunk.toString("utf8")).slice(-4096);
        const m = READY_LINE.exec(buffered);
        if (m) {
          found = true;
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      void c.gone.then(() => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    if (port === undefined) {
      if (c.exit) return exitedEarly();
      return fail(
        ErrorCode.Timeout,
        `container ${c.name} printed no "listening on" line in ${this.#opts.startTimeoutMs} ms`,
      );
    }
    while (Date.now() < deadline) {
      if (c.exit) return exitedEarly();
      if (await healthy(port)) return { ok: true, value: port };
      await delay(100);
    }
    return fail(
      ErrorCode.Timeout,
      `container ${c.name} did not answer /healthz in ${this.#opts.startTimeoutMs} ms`,
    );
  }

  async #terminate(c: Container): Promise<void> {
    await this.#record(c);
    signalGroup(c.pid, "SIGTERM");
    const timer = delay(this.#opts.graceMs).then(() => "grace" as const);
    if ((await Promise.race([c.gone.then(() => "gone" as const), timer])) === "grace" && !c.exit) {
      await this.#record(c);
      signalGroup(c.pid, "SIGKILL");
      await Promise.all([...c.tracked.values()].map((p) => signalProcess(p, "SIGKILL")));
    }
    await c.gone;
  }

  /** Adds the runner's current descendants to what the container is known to own. */
  async #record(c: Container): Promise<void> {
    if (c.exit) return;
    for (const p of await descendantsOf(c.pid)) c.tracked.set(p.pid, p);
  }

  #ensureScanning(): void {
    if (this.#scanTimer) return;
    this.#scanTimer = setInterval(() => {
      const living = [...this.#containers.values()].filter((c) => !c.exit);
      if (living.length === 0) {
        clearInterval(this.#scanTimer);
        this.#scanTimer = undefined;
        return;
      }
      void Promise.all(
        living.map(async (c) => {
          await this.#record(c);
          for (const [pid, p] of c.tracked) if (!(await isAlive(p))) c.tracked.delete(pid);
        }),
      );
    }, this.#opts.scanIntervalMs);
    this.#scanTimer.unref();
  }
}

/** Stops the runner recorded in `dir` and everything under it, if it still runs. */
async function reapStale(dir: string): Promise<void> {
  const file = path.join(dir, PID_FILE);
  let recorded: ProcessId;
  try {
    recorded = JSON.parse(await readFile(file, "utf8")) as ProcessId;
  } catch {
    return;
  }
  if (Number.isInteger(recorded.pid) && recorded.pid > 1 && recorded.start > 0 && (await isAlive(recorded))) {
    const tree = new Map((await descendantsOf(recorded.pid)).map((p) => [p.pid, p]));
    tree.set(recorded.pid, recorded);
    await reap(recorded.pid, tree);
  }
  await rm(file, { force: true });
}

/** Kills what is left of a container after its runner exited, and waits until nothing is left. */
async function reap(pgid: number, tracked: Map<number, ProcessId>): Promise<void> {
  for (let attempt = 0; attempt < 250; attempt++) {
    const group = (await groupExists(pgid)) && signalGroup(pgid, "SIGKILL");
    const alive = await Promise.all([...tracked.values()].map((p) => signalProcess(p, "SIGKILL")));
    if (!group && !alive.includes(true)) return;
    await delay(20);
  }
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function badName(name: string): { ok: false; error: AppError } {
  return fail(
    ErrorCode.InvalidRequest,
    `container name "${name.slice(0, 80)}" must be 1-64 letters, digits, "_" or "-"`,
  );
}
