import { DurableObject } from "cloudflare:workers";
import { type AppError, ErrorCode, err, ok, type Result } from "@openagents/protocol";
import { type ContainerBackend, RUNNER_PORT, type StopSignal, selectBackend } from "./container-backend.ts";
import { randomToken } from "./crypto.ts";
import { parseDuration } from "./duration.ts";
import { closeEgress, openEgress, serveEgress } from "./egress.ts";
import type { Env } from "./env.ts";
import { type GitEgressRequest, serveGitEgress } from "./git-egress.ts";
import type { GithubRepo } from "./github-access.ts";
import { errorResponse } from "./http-error.ts";
import type { Provider } from "./key-store.ts";
import { pipeWebSocket } from "./websocket-pipe.ts";

/** cold: never started or gone · starting · running: the runner answers · sleeping: stopped when idle. */
export type ContainerState = "cold" | "starting" | "running" | "sleeping";

export interface ContainerStatus {
  name: string;
  state: ContainerState;
  backend: "cloudflare" | "local" | "none";
  /** When the current run started (ISO), while starting or running. */
  startedAt: string | null;
  lastActivity: string | null;
  /** Requests and streams to the runner open right now; the container never sleeps while > 0. */
  inflight: number;
  sleepAfterMs: number;
  /** Seconds this container has run in total (all runs), for usage and billing. */
  usageSeconds: number;
  /** Why the last run ended: "idle", "stopped", "destroyed", "exited". */
  lastStop: string | null;
}

/** Headers of the edge-internal hop from TaskDO to ContainerDO; never forwarded to the runner. */
export const CONTAINER_NAME_HEADER = "x-openagents-container";
export const NO_START_HEADER = "x-openagents-no-start";

const DEFAULT_SLEEP_AFTER_MS = 10 * 60_000;
const DEFAULT_STOP_GRACE_MS = 10_000;
const READY_TIMEOUT_MS = 120_000;
const HOP_HEADERS = ["authorization", "cookie", "host", CONTAINER_NAME_HEADER, NO_START_HEADER];

interface Stored {
  name?: string;
  state?: ContainerState;
  runnerToken?: string;
  startedAt?: number;
  lastActivity?: number;
  usageMs?: number;
  lastStop?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One user's container (named by user id): starts it on demand, waits until the runner's
 * `/healthz` answers, forwards HTTP and WebSocket requests to the runner with the runner's own
 * token, stops it after `SLEEP_AFTER` without traffic (SIGTERM, SIGKILL after `STOP_GRACE`),
 * and starts it again on the next request.
 *
 * @example
 * const box = env.CONTAINER.get(env.CONTAINER.idFromName(user.id));
 * const ready = await box.ensureRunner(user.id);
 */
export class ContainerDO extends DurableObject<Env> {
  #inflight = 0;
  #starting: Promise<Result<ContainerStatus>> | null = null;
  #stopping: Promise<void> | null = null;

  #get<K extends keyof Stored>(key: K): Stored[K] {
    return this.ctx.storage.kv.get<Stored[K]>(key);
  }

  #put<K extends keyof Stored>(key: K, value: Stored[K]): void {
    this.ctx.storage.kv.put(key, value);
  }

  #sleepAfter(): number {
    return parseDuration(this.env.SLEEP_AFTER, DEFAULT_SLEEP_AFTER_MS);
  }

  #remember(name: string | undefined | null): void {
    if (name && this.#get("name") !== name) this.#put("name", name);
  }

  #backend(): ContainerBackend | null {
    const name = this.#get("name");
    return name ? selectBackend(this.ctx, this.env, `u-${name}`) : null;
  }

  /** The current state, checked against the backend so a container that died is not reported running. */
  async status(name?: string): Promise<ContainerStatus> {
    this.#remember(name);
    const state = this.#get("state") ?? "cold";
    if (state === "running" && !this.#starting) {
      const backend = this.#backend();
      if (!backend || !(await backend.running())) this.#ended("exited", "cold");
    }
    return this.#snapshot();
  }

  #snapshot(): ContainerStatus {
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const state = this.#get("state") ?? "cold";
    const startedAt = state === "running" || state === "starting" ? this.#get("startedAt") : undefined;
    const running = startedAt === undefined ? 0 : Date.now() - startedAt;
    return {
      name: this.#get("name") ?? "",
      state,
      backend: this.#backend()?.kind ?? "none",
      startedAt: iso(startedAt),
      lastActivity: iso(this.#get("lastActivity")),
      inflight: this.#inflight,
      sleepAfterMs: this.#sleepAfter(),
      usageSeconds: Math.round(((this.#get("usageMs") ?? 0) + running) / 1000),
      lastStop: this.#get("lastStop") ?? null,
    };
  }

  /**
   * Starts the container unless it runs, and resolves once its runner answers `/healthz`.
   * Concurrent callers share one start.
   */
  async ensureRunner(name?: string): Promise<Result<ContainerStatus>> {
    this.#remember(name);
    if (this.#stopping) await this.#stopping;
    if (this.#starting) return this.#starting;
    if (this.#get("state") === "running") {
      const backend = this.#backend();
      if (backend && (await backend.running())) {
        this.#touch();
        return ok(this.#snapshot());
      }
      this.#ended("exited", "cold");
    }
    this.#starting = this.#start().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  async #start(): Promise<Result<ContainerStatus>> {
    const backend = this.#backend();
    if (!backend) {
      return err(
        ErrorCode.SandboxUnavailable,
        "no container backend: this deployment has no Cloudflare container and LOCAL_CONTAINER_HOST is not set",
      );
    }
    // A new token per run: a runner that outlives its container's record cannot be driven.
    const runnerToken = randomToken("rt_");
    this.#put("runnerToken", runnerToken);
    this.#put("state", "starting");
    this.#put("startedAt", Date.now());
    const started = await backend.start({
      env: {
        RUNNER_TOKEN: runnerToken,
        PORT: String(RUNNER_PORT),
        OPENAGENTS_CONTAINER: "1",
        // Model traffic goes out through this edge's /egress with a capability token (egress.ts).
        ...(await openEgress(this.ctx.storage, this.env, this.#get("name") ?? "")),
      },
      enableInternet: true,
    });
    if (!started.ok) {
      this.#ended("start failed", "cold");
      return started;
    }
    const ready = await this.#waitReady(backend);
    if (!ready.ok) {
      await this.#kill(backend);
      this.#ended("start failed", "cold");
      return ready;
    }
    this.#put("state", "running");
    this.#touch();
    return ok(this.#snapshot());
  }

  async #waitReady(backend: ContainerBackend): Promise<Result<void>> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let delay = 50;
    let last = "no answer";
    while (Date.now() < deadline) {
      try {
        const res = await backend.fetch(
          new Request("http://runner/healthz", { headers: this.#runnerAuth() }),
        );
        await res.body?.cancel();
        if (res.ok) return ok(undefined);
        last = `healthz answered ${res.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (!(await backend.running())) {
        return err(ErrorCode.SandboxUnavailable, `the container exited while starting (${last})`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 1000);
    }
    return err(
      ErrorCode.SandboxUnavailable,
      `the runner did not become ready in ${READY_TIMEOUT_MS / 1000} s (${last})`,
    );
  }

  #runnerAuth(): Record<string, string> {
    return { authorization: `Bearer ${this.#get("runnerToken") ?? ""}` };
  }

  /** Records the end of a run: its time goes to usage, the state to `next`. */
  #ended(reason: string, next: ContainerState): void {
    const startedAt = this.#get("startedAt");
    if (startedAt !== undefined) {
      this.#put("usageMs", (this.#get("usageMs") ?? 0) + Math.max(0, Date.now() - startedAt));
      this.ctx.storage.kv.delete("startedAt");
    }
    this.ctx.storage.kv.delete("runnerToken");
    closeEgress(this.ctx.storage);
    this.#put("state", next);
    this.#put("lastStop", reason);
  }

  /** Marks activity and pushes the idle deadline out. */
  #touch(): void {
    const now = Date.now();
    this.#put("lastActivity", now);
    void this.ctx.storage.setAlarm(now + this.#sleepAfter());
  }

  /** True when the container runs and its runner answers, without starting anything. */
  async runnerAlive(): Promise<boolean> {
    if (this.#get("state") !== "running") return false;
    const backend = this.#backend();
    if (!backend || !(await backend.running())) return false;
    try {
      const res = await backend.fetch(new Request("http://runner/healthz", { headers: this.#runnerAuth() }));
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  /**
   * Stops the container for real: SIGTERM, then SIGKILL if it still runs after the grace
   * (`STOP_GRACE` unless `opts.graceMs` says otherwise). The next `ensureRunner` starts it again.
   */
  async stop(reason = "stopped", opts: { graceMs?: number } = {}): Promise<ContainerStatus> {
    if (this.#starting) await this.#starting;
    if (!this.#stopping) {
      this.#stopping = this.#stopNow(reason, opts.graceMs).finally(() => {
        this.#stopping = null;
      });
    }
    await this.#stopping;
    return this.#snapshot();
  }

  async #stopNow(reason: string, graceMs?: number): Promise<void> {
    const backend = this.#backend();
    const state = this.#get("state") ?? "cold";
    if (!backend || (state !== "running" && state !== "starting")) return;
    await this.#kill(backend, graceMs);
    this.#ended(reason, reason === "idle" ? "sleeping" : "cold");
  }

  async #kill(backend: ContainerBackend, graceMs?: number): Promise<void> {
    if (!(await backend.running())) return;
    await backend.signal("SIGTERM");
    const deadline = Date.now() + (graceMs ?? parseDuration(this.env.STOP_GRACE, DEFAULT_STOP_GRACE_MS));
    while (Date.now() < deadline) {
      if (!(await backend.running())) return;
      await sleep(100);
    }
    await backend.signal("SIGKILL");
    for (let i = 0; i < 50 && (await backend.running()); i++) await sleep(100);
    // Cloudflare's destroy() is the hard stop when a signal was not enough.
    if (await backend.running()) await backend.destroy();
  }

  /**
   * Stops an idle running container so that its next start picks up changed API keys: the egress
   * variables a container gets are fixed when it starts. A container with work in flight is left
   * alone; its next start after that task uses the new keys.
   */
  async recycleIfIdle(reason: string): Promise<boolean> {
    if (this.#get("state") !== "running" || this.#inflight > 0) return false;
    await this.stop(reason);
    return true;
  }

  /** Sends a signal to the container's process. */
  async signal(signal: StopSignal): Promise<ContainerStatus> {
    await this.#backend()?.signal(signal);
    return this.status();
  }

  /** Stops the container and frees what it holds (its workspace, on the local host). */
  async destroy(): Promise<ContainerStatus> {
    const backend = this.#backend();
    if (backend) {
      await this.stop("destroyed");
      await backend.destroy();
    }
    this.#ended("destroyed", "cold");
    await this.ctx.storage.deleteAlarm();
    return this.#snapshot();
  }

  /** Idle shutdown: stops the container once `SLEEP_AFTER` passed with nothing in flight. */
  override async alarm(): Promise<void> {
    if (this.#get("state") !== "running") return;
    const now = Date.now();
    const sleepAfter = this.#sleepAfter();
    if (this.#inflight > 0) {
      await this.ctx.storage.setAlarm(now + sleepAfter);
      return;
    }
    const idleSince = this.#get("lastActivity") ?? 0;
    if (now - idleSince < sleepAfter) {
      await this.ctx.storage.setAlarm(idleSince + sleepAfter);
      return;
    }
    await this.stop("idle");
  }

  /**
   * Forwards a request to the runner (starting the container first unless the
   * `x-openagents-no-start` header says not to), with the runner's token. Streams and WebSockets
   * count as activity until they close.
   */
  /** One model call of this user's container through the egress (egress.ts); the key is decrypted only here. */
  async egress(vendor: Provider, token: string, pathAndQuery: string, request: Request): Promise<Response> {
    return serveEgress(this.ctx.storage, this.env, vendor, token, pathAndQuery, request);
  }

  /** One git fetch of this user's container through the git egress (git-egress.ts); the GitHub token is decrypted only here. */
  async gitEgress(
    token: string,
    repo: GithubRepo,
    service: GitEgressRequest["service"],
    search: string,
    request: Request,
  ): Promise<Response> {
    return serveGitEgress(this.ctx.storage, this.env, { token, repo, service, search, request });
  }

  override async fetch(request: Request): Promise<Response> {
    this.#remember(request.headers.get(CONTAINER_NAME_HEADER));
    if (request.headers.get(NO_START_HEADER) === "1") {
      if (this.#stopping || this.#get("state") !== "running") {
        return errorResponse({ code: ErrorCode.RunnerLost, message: "the container is not running" });
      }
    } else {
      const ready = await this.ensureRunner();
      if (!ready.ok) return errorResponse(ready.error);
    }
    const backend = this.#backend();
    if (!backend) return errorResponse(noBackend);

    const forwarded = new Request(request);
    for (const name of HOP_HEADERS) forwarded.headers.delete(name);
    forwarded.headers.set("authorization", `Bearer ${this.#get("runnerToken") ?? ""}`);

    this.#inflight++;
    this.#touch();
    const done = () => {
      this.#inflight--;
      this.#touch();
    };
    let res: Response;
    try {
      res = await backend.fetch(forwarded);
    } catch (e) {
      done();
      return errorResponse({
        code: ErrorCode.RunnerLost,
        message: `the runner did not answer: ${(e as Error).message}`,
      });
    }
    if (res.webSocket) return pipeWebSocket(res, done);
    if (!res.body) {
      done();
      return res;
    }
    // pipeTo settles however the body ends (done, broken, cancelled by the reader), so the count
    // of open streams cannot leak and keep the container awake forever.
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    res.body.pipeTo(writable).then(done, done);
    return new Response(readable, res);
  }
}

const noBackend: AppError = {
  code: ErrorCode.SandboxUnavailable,
  message: "no container backend is configured",
};
