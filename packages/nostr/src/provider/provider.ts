import type { ResultBody } from "@openagents/protocol";
import { getPublicKey } from "nostr-tools/pure";
import { type NostrEvent, nowSec } from "../event.ts";
import { type JobKinds, readCodingJob, type Skill } from "../job-types.ts";
import { buildAnnouncement, buildPong, DEFAULT_ANNOUNCE_TTL_SEC, type HandlerInfo } from "../nip89.ts";
import { DELETION_KIND, type JobRequest, parseJobRequest } from "../nip90.ts";
import { buildJobFeedback, isCancellationOf, type JobFeedbackSpec } from "../nip90-responses.ts";
import type { Backoff } from "../relay-connection.ts";
import { type PoolSubscription, RelayPool } from "../relay-pool.ts";
import { admit } from "./admission.ts";
import { ResultDelivery } from "./job-delivery.ts";
import { JobPayments, type ProviderWallet } from "./job-payments.ts";
import { type JobState, type JobStore, type ProviderJob, UNFINISHED_STATES } from "./job-store.ts";
import { JobTranscript, type RunTask, resultContent, taskForJob } from "./job-task.ts";

export type { ProviderWallet } from "./job-payments.ts";

export interface ProviderOptions {
  secretKey: Uint8Array;
  relays: string[];
  skills: readonly Skill[];
  kinds: JobKinds;
  /** Millisatoshis per job, by skill; 0 or absent is free. A price needs a `wallet`. */
  prices?: Partial<Record<Skill, number>>;
  /** Jobs run at once; more wait in the queue (with `processing` feedback saying so). */
  maxJobs?: number;
  /** Repository globs (see `repoAllowed`). */
  allowRepo?: readonly string[];
  store: JobStore;
  runTask: RunTask;
  wallet?: ProviderWallet;
  /** A repository for `compute` jobs that name none (a provider-owned scratch repo). */
  scratchRepo?: string;
  /** Requests older than this are ignored (default 10 minutes). */
  maxAgeSec?: number;
  /** How long an invoice is valid and waited for (default 10 minutes). */
  paymentTimeoutSec?: number;
  paymentPollMs?: number;
  /** At most one `partial` feedback per job per interval (default 2 s). */
  partialIntervalMs?: number;
  /** NIP-89 announcement: name, about, liveness window. */
  name?: string;
  about?: string;
  announceTtlSec?: number;
  backoff?: Backoff;
  /** Human log lines (the CLI prints them). */
  log?: (line: string) => void;
}

export interface ProviderLoadInfo {
  running: number;
  queued: number;
  awaitingPayment: number;
}

const D_TAG = "openagents-compute";

/**
 * A NIP-90 provider (Data Vending Machine) for coding-agent jobs: admits requests, asks for payment
 * through its NWC wallet when priced, runs jobs with `runTask` (at most `maxJobs` at once), reports
 * progress, publishes results, and keeps every job in a durable store so that a restart resumes what
 * was unfinished and never runs a job twice. Payments are job-payments.ts, result publishing
 * job-delivery.ts.
 *
 * @example
 * const provider = new Provider({ secretKey, relays, skills: ["compute"], kinds: DEFAULT_JOB_KINDS, store, runTask });
 * await provider.start();
 * // … later
 * await provider.stop();
 */
export class Provider {
  readonly pubkey: string;
  readonly #o: ProviderOptions;
  readonly #store: JobStore;
  #pool: RelayPool | undefined;
  #subs: PoolSubscription[] = [];
  readonly #queue: string[] = [];
  readonly #running = new Map<string, AbortController>();
  readonly #cancelled = new Set<string>();
  readonly #payments: JobPayments;
  readonly #delivery: ResultDelivery;
  readonly #inflight = new Set<Promise<unknown>>();
  #stopping = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #payPoll: ReturnType<typeof setInterval> | undefined;

  constructor(opts: ProviderOptions) {
    const priced = Object.values(opts.prices ?? {}).some((p) => (p ?? 0) > 0);
    if (priced && !opts.wallet) throw new Error("a priced provider needs an NWC wallet to issue invoices");
    if (opts.skills.length === 0) throw new Error("offer at least one skill");
    this.#o = opts;
    this.#store = opts.store;
    this.pubkey = getPublicKey(opts.secretKey);
    // Plain host objects: the split-out parts see only what they need, and call back into this one.
    const stopping = () => this.#stopping;
    const log = (line: string) => this.#log(line);
    this.#payments = new JobPayments({
      store: opts.store,
      wallet: opts.wallet,
      paymentTimeoutSec: opts.paymentTimeoutSec ?? 600,
      stopping,
      requestOf: (job) => this.#requestOf(job),
      feedback: (request, spec) => this.#feedback(request, spec),
      enqueue: (id, request) => this.#enqueue(id, request),
      log,
    });
    this.#delivery = new ResultDelivery({
      store: opts.store,
      secretKey: opts.secretKey,
      stopping,
      publish: (ev) => this.#publish(ev),
      log,
    });
  }

  get maxJobs(): number {
    return this.#o.maxJobs ?? 1;
  }

  load(): ProviderLoadInfo {
    return {
      running: this.#running.size,
      queued: this.#queue.length,
      awaitingPayment: this.#store.inStates(["awaiting-payment"]).length,
    };
  }

  /** Connects, resumes unfinished jobs, announces (NIP-89) and starts listening. */
  async start(): Promise<void> {
    const pool = new RelayPool(this.#o.relays, this.#o.backoff ? { backoff: this.#o.backoff } : {});
    this.#pool = pool;
    this.#store.setMeta("pubkey", this.pubkey);
    this.#store.setMeta("relays", JSON.stringify(this.#o.relays));
    await pool.ready(1, 5_000);
    this.#resume();
    const since = nowSec() - (this.#o.maxAgeSec ?? 600);
    const kinds = this.#o.skills.map((s) => this.#o.kinds[s]);
    await new Promise<void>((ready) => {
      this.#subs.push(
        pool.subscribe([{ kinds, since }], {
          onevent: (ev) => this.#track(this.#onRequest(ev)),
          oneose: ready,
        }),
      );
    });
    this.#subs.push(
      pool.subscribe([{ kinds: [DELETION_KIND], since }], { onevent: (ev) => this.#onDeletion(ev) }),
    );
    await this.#announce("online");
    const ttl = this.#o.announceTtlSec ?? DEFAULT_ANNOUNCE_TTL_SEC;
    this.#heartbeat = setInterval(() => this.#track(this.#announce("online")), (ttl / 3) * 1000);
    this.#payPoll = setInterval(() => this.#track(this.#payments.poll()), this.#o.paymentPollMs ?? 2_000);
    this.#log(
      `provider ${this.pubkey} listening for kinds ${kinds.join(", ")} on ${this.#o.relays.join(", ")}`,
    );
  }

  /**
   * Stops: running jobs are interrupted and go back to `queued` (a restart runs them again), the
   * announcement says `offline`, connections close. The store stays open (the caller owns it).
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#heartbeat);
    clearInterval(this.#payPoll);
    this.#delivery.stop();
    for (const sub of this.#subs) sub.close();
    for (const c of this.#running.values()) c.abort();
    await Promise.allSettled([...this.#inflight]);
    await this.#announce("offline").catch(() => undefined);
    this.#pool?.close();
  }

  #track<T>(p: Promise<T>): void {
    const tracked = p.catch((e: unknown) =>
      this.#log(`internal error: ${e instanceof Error ? e.stack : String(e)}`),
    );
    this.#inflight.add(tracked);
    void tracked.finally(() => this.#inflight.delete(tracked));
  }

  #log(line: string): void {
    this.#o.log?.(line);
  }

  async #announce(status: "online" | "offline"): Promise<void> {
    const pricing: Record<string, number> = {};
    for (const s of this.#o.skills) pricing[String(this.#o.kinds[s])] = this.#o.prices?.[s] ?? 0;
    const info: HandlerInfo = {
      name: this.#o.name ?? "OpenAgents Compute",
      about: this.#o.about ?? "Coding-agent jobs on git repositories: code, analysis, docs, compute.",
      skills: [...this.#o.skills],
      pricing,
      encryption: ["nip44", "nip04"],
      maxJobs: this.maxJobs,
    };
    const opts = {
      d: D_TAG,
      kinds: this.#o.skills.map((s) => this.#o.kinds[s]),
      status,
      ttlSec: this.#o.announceTtlSec ?? DEFAULT_ANNOUNCE_TTL_SEC,
    };
    const ev = buildAnnouncement(info, this.#o.secretKey, opts);
    if (!ev.ok) return this.#log(`announcement not built: ${ev.error.message}`);
    await this.#pool?.publish(ev.value, { timeoutMs: 3_000, retries: 0 });
    this.#store.setMeta("heartbeat", String(nowSec()));
    this.#store.setMeta("status", status);
  }

  /** Re-parses a stored request (opening it again with our key when it was encrypted). */
  #requestOf(job: ProviderJob): JobRequest | undefined {
    const r = parseJobRequest(JSON.parse(job.request), { secretKey: this.#o.secretKey });
    return r.ok ? r.value : undefined;
  }

  async #publish(ev: NostrEvent): Promise<boolean> {
    const pool = this.#pool;
    if (!pool) return false;
    const outcomes = await pool.publish(ev, { timeoutMs: 3_000, retries: 1 });
    return outcomes.some((o) => o.ok);
  }

  /** Whether a relay took the feedback. */
  async #feedback(request: JobRequest, spec: JobFeedbackSpec): Promise<boolean> {
    const ev = buildJobFeedback(request, spec, this.#o.secretKey);
    return ev.ok && (await this.#publish(ev.value));
  }

  async #onRequest(ev: NostrEvent): Promise<void> {
    if (this.#stopping || this.#store.has(ev.id)) return;
    const a = admit(ev, {
      secretKey: this.#o.secretKey,
      skills: this.#o.skills,
      kinds: this.#o.kinds,
      prices: this.#o.prices ?? {},
      allowRepo: this.#o.allowRepo ?? [],
      maxAgeSec: this.#o.maxAgeSec ?? 600,
    });
    if (a.action === "ignore") return;
    if (a.action === "pong") {
      const pong = buildPong(a.request, this.#o.secretKey, {
        activeJobs: this.#running.size,
        maxJobs: this.maxJobs,
      });
      if (pong.ok) await this.#publish(pong.value);
      return;
    }
    const base = {
      id: a.request.id,
      kind: a.request.kind,
      skill: a.skill ?? null,
      customer: a.request.customer,
      request: JSON.stringify(ev),
    };
    if (a.action === "refuse") {
      if (!this.#store.insert({ ...base, state: "refused", error: a.reason, finishedAt: nowSec() })) return;
      this.#log(`refused ${ev.id.slice(0, 12)}: ${a.reason}`);
      await this.#feedback(a.request, { status: "error", extraInfo: a.reason });
      return;
    }
    const priced = a.priceMsats > 0;
    const state: JobState = priced ? "awaiting-payment" : "queued";
    if (!this.#store.insert({ ...base, state, priceMsats: a.priceMsats })) return;
    this.#log(`accepted ${a.skill} job ${ev.id.slice(0, 12)}${priced ? ` (${a.priceMsats} msats)` : ""}`);
    if (priced) await this.#payments.request(a.request, a.priceMsats);
    else this.#enqueue(a.request.id, a.request);
  }

  #enqueue(id: string, request: JobRequest): void {
    this.#queue.push(id);
    this.#pump();
    const position = this.#queue.indexOf(id);
    if (position >= 0) {
      this.#track(
        this.#feedback(request, {
          status: "processing",
          extraInfo: `queued: ${position} job${position === 1 ? "" : "s"} ahead, ${this.#running.size} running`,
        }),
      );
    }
  }

  #pump(): void {
    while (!this.#stopping && this.#running.size < this.maxJobs && this.#queue.length > 0) {
      const id = this.#queue.shift()!;
      const abort = new AbortController();
      this.#running.set(id, abort);
      this.#track(
        this.#run(id, abort.signal).finally(() => {
          this.#running.delete(id);
          this.#pump();
        }),
      );
    }
  }

  /** Puts unfinished jobs of an earlier run back on their way; nothing is dropped silently. */
  #resume(): void {
    for (const job of this.#store.inStates(UNFINISHED_STATES)) {
      const request = this.#requestOf(job);
      if (!request) {
        this.#store.update(job.id, {
          state: "failed",
          error: "stored request no longer parses",
          finishedAt: nowSec(),
        });
        continue;
      }
      if (job.state === "delivering") this.#track(this.#delivery.deliver(job.id));
      else if (job.state === "queued" || job.state === "running") {
        this.#log(`resuming job ${job.id.slice(0, 12)} (${job.state} before the restart)`);
        this.#store.update(job.id, { state: "queued" });
        this.#enqueue(job.id, request);
      }
      // awaiting-payment: the payment poll picks it up.
    }
  }

  async #run(id: string, signal: AbortSignal): Promise<void> {
    const job = this.#store.get(id);
    const request = job && this.#requestOf(job);
    if (!job || !request || job.state !== "queued") return;
    const skill = job.skill as Skill;
    const coding = readCodingJob(request, skill);
    const task = coding.ok ? taskForJob(coding.value, skill, this.#o.scratchRepo) : undefined;
    if (!task) {
      const why = coding.ok ? "this provider needs a repository for the job" : coding.error.message;
      return this.#fail(job, request, why);
    }
    this.#store.update(id, { state: "running", startedAt: nowSec(), attempts: job.attempts + 1 });
    this.#log(`running job ${id.slice(0, 12)} (${skill}, attempt ${job.attempts + 1})`);
    // Not awaited: the job does not wait for the relay's OK on its own progress report.
    this.#track(this.#feedback(request, { status: "processing", extraInfo: "started" }));

    const transcript = new JobTranscript();
    const interval = this.#o.partialIntervalMs ?? 2_000;
    let lastPartial = 0;
    let partialTimer: ReturnType<typeof setTimeout> | undefined;
    const sendPartial = () => {
      partialTimer = undefined;
      lastPartial = Date.now();
      const content = transcript.takePending();
      if (content) this.#track(this.#feedback(request, { status: "partial", content }));
    };
    let body: ResultBody;
    try {
      body = await this.#o.runTask(
        task,
        (e) => {
          transcript.add(e);
          if (e.type === "log" || e.type === "agent") {
            if (partialTimer) return;
            const wait = Math.max(0, lastPartial + interval - Date.now());
            partialTimer = setTimeout(sendPartial, wait);
          }
        },
        signal,
      );
    } catch (e) {
      clearTimeout(partialTimer);
      return this.#fail(job, request, `the runner failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    clearTimeout(partialTimer);
    if (this.#cancelled.has(id)) {
      this.#store.update(id, {
        state: "cancelled",
        finishedAt: nowSec(),
        error: "cancelled by the customer",
      });
      return;
    }
    if (signal.aborted && this.#stopping) {
      // Interrupted by our own shutdown, not by the job: it runs again after the restart.
      this.#store.update(id, { state: "queued" });
      return;
    }
    const content = resultContent(skill, body, transcript);
    const unbuilt = this.#delivery.stage(job, request, content);
    if (unbuilt !== null) return this.#fail(job, request, `result not built: ${unbuilt}`);
    await this.#delivery.deliver(id);
  }

  async #fail(job: ProviderJob, request: JobRequest, reason: string): Promise<void> {
    this.#store.update(job.id, { state: "failed", error: reason, finishedAt: nowSec() });
    this.#log(`job ${job.id.slice(0, 12)} failed: ${reason}`);
    await this.#feedback(request, { status: "error", extraInfo: reason.slice(0, 500) });
  }

  #onDeletion(ev: NostrEvent): void {
    for (const tag of ev.tags) {
      if (tag[0] !== "e" || !tag[1]) continue;
      const job = this.#store.get(tag[1]);
      if (!job || !isCancellationOf(ev, { id: job.id, customer: job.customer })) continue;
      if (job.state === "awaiting-payment" || job.state === "queued") {
        this.#store.update(job.id, {
          state: "cancelled",
          finishedAt: nowSec(),
          error: "cancelled by the customer",
        });
        const i = this.#queue.indexOf(job.id);
        if (i >= 0) this.#queue.splice(i, 1);
        this.#log(`job ${job.id.slice(0, 12)} cancelled by the customer`);
      } else if (job.state === "running") {
        this.#cancelled.add(job.id);
        this.#running.get(job.id)?.abort();
        this.#log(`job ${job.id.slice(0, 12)} cancelled by the customer while running`);
      }
    }
  }
}
