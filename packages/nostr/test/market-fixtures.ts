/**
 * Shared parts of the market (provider ↔ customer) tests and benchmarks: the real runner wired as a
 * provider's `runTask`, a local bare git repository made with real git, and a provider factory.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { credentialsFromEnv, removeTaskDirs, TaskManager, taskDirs } from "@openagents/runner";
import { generateSecretKey } from "nostr-tools/pure";
import { makeBareRepo } from "../../runner/test/git-fixtures.ts";
import { DEFAULT_JOB_KINDS, type JobKinds, type Skill } from "../src/index.ts";
import { JobStore, Provider, type ProviderOptions, type RunTask } from "../src/provider/index.ts";

/**
 * `runTask` over the runner's TaskManager: events stream to `onEvent`, the abort signal cancels the
 * task, and the task's directories are removed once it ended.
 */
export function runnerRunTask(manager: TaskManager, workRoot: string): RunTask {
  return async (task, onEvent, signal) => {
    const handle = manager.start(task);
    const onAbort = () => handle.cancel("cancelled");
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    handle.log.subscribe(0, onEvent);
    try {
      return await handle.done;
    } finally {
      signal.removeEventListener("abort", onAbort);
      await removeTaskDirs(taskDirs(workRoot, handle.id));
    }
  };
}

/** A bare repository made by real git, and its `file://` URL (what a customer's `i` tag carries). */
export function localRepo(): { bare: string; url: string; root: string } {
  const { bare } = makeBareRepo({ "README.md": "# market test\n" });
  return { bare, url: pathToFileURL(bare).href, root: path.dirname(bare) };
}

export interface TestProvider {
  provider: Provider;
  store: JobStore;
  secretKey: Uint8Array;
  manager: TaskManager;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Starts a provider in this process, on `relays`, running jobs with the real runner. Local repos
 * under `allowRoot` are allowed (as `--allow-repo file://<root>/**` would).
 */
export async function startTestProvider(
  opts: Partial<ProviderOptions> & {
    relays: string[];
    allowRoot: string;
    skills?: Skill[];
    kinds?: JobKinds;
    /** Wraps the runner's runTask (benchmarks time it). */
    wrapRunTask?: (runTask: RunTask) => RunTask;
  },
): Promise<TestProvider> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "oa-provider-"));
  const workRoot = path.join(dir, "runs");
  const manager = new TaskManager({
    workRoot,
    credentials: credentialsFromEnv({}),
    maxConcurrent: opts.maxJobs ?? 4,
  });
  const store = opts.store ?? JobStore.open(path.join(dir, "provider.sqlite"));
  const secretKey = opts.secretKey ?? generateSecretKey();
  const logs: string[] = [];
  const { wrapRunTask, ...rest } = opts;
  const runTask = runnerRunTask(manager, workRoot);
  const provider = new Provider({
    skills: ["compute"],
    kinds: { ...DEFAULT_JOB_KINDS },
    allowRepo: [`${pathToFileURL(opts.allowRoot).href}/**`],
    partialIntervalMs: 300,
    paymentPollMs: 300,
    backoff: { initialMs: 100, maxMs: 1_000 },
    log: (l) => logs.push(l),
    runTask: wrapRunTask ? wrapRunTask(runTask) : runTask,
    ...rest,
    secretKey,
    store,
  });
  await provider.start();
  return {
    provider,
    store,
    secretKey,
    manager,
    logs,
    async stop() {
      await provider.stop();
      await manager.shutdown();
      store.close();
    },
  };
}
