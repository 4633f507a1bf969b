/**
 * The local cloud stack for the edge benchmarks, as `openagents up` runs it: the project's container
 * host in this process (`serveContainerHost`, whose containers are real `openagents runner serve`
 * processes) and `wrangler dev` of packages/edge on a free port with its own `--persist-to` directory,
 * plus a bare git repository for the tasks. `stop()` ends everything, wrangler's process group included.
 *
 * @example
 * const stack = await startEdgeStack();
 * const id = await stack.startTask({ repo: stack.repo, agent: "shell", script: "true" });
 * await stack.stop();
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import type { RunEvent, Task } from "@openagents/protocol";
import { type RunningContainerHost, serveContainerHost } from "@openagents/runner";
import WebSocket from "ws";
import { makeBareRepo } from "../../packages/runner/test/git-fixtures.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "packages/cli/bin/openagents.js");
const EDGE = path.join(ROOT, "packages/edge");
const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");

export interface EdgeStack {
  /** `http://127.0.0.1:PORT` of the Worker. */
  url: string;
  token: string;
  /** A bare git repository (absolute path) to use as the tasks' `repo`. */
  repo: string;
  host: RunningContainerHost;
  /** The wrangler process (leader of its own process group). */
  wrangler: ChildProcess;
  /** `POST /api/task/start` → the task id. */
  startTask(task: Task): Promise<string>;
  /**
   * `GET /api/task/ws/:id?after=N`, open; `onMessage` gets every message's text from the first on
   * (it is attached before the upgrade completes: messages can arrive with the 101 response).
   */
  watch(id: string, onMessage: (text: string) => void, after?: number): Promise<WebSocket>;
  api(pathname: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** Pids of the workerd processes under wrangler (the Worker's runtime). */
  workerdPids(): Promise<number[]>;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `wranglerArgs`: more arguments for `wrangler dev` (e.g. `--inspector-port N` to profile the Worker). */
export async function startEdgeStack(opts: { wranglerArgs?: string[] } = {}): Promise<EdgeStack> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "oa-bench-edge-"));
  const repo = makeBareRepo({ "README.md": "# bench\n", "src/main.ts": "export const x = 1;\n" });
  const token = `oa_${randomBytes(18).toString("base64url")}`;
  const hostToken = randomBytes(18).toString("base64url");
  const host = await serveContainerHost({
    port: 0,
    token: hostToken,
    root: path.join(tmp, "containers"),
    entrypoint: [process.execPath, CLI],
  });
  const envFile = path.join(tmp, "edge.env");
  writeFileSync(
    envFile,
    `LOCAL_TOKEN=${token}\nLOCAL_CONTAINER_HOST=${host.url}\nLOCAL_CONTAINER_HOST_TOKEN=${hostToken}\n`,
    { mode: 0o600 },
  );
  const port = await freePort();
  const wrangler = spawn(
    process.execPath,
    [
      WRANGLER,
      "dev",
      "--config",
      path.join(EDGE, "wrangler.jsonc"),
      "--persist-to",
      path.join(tmp, "edge"),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--env-file",
      envFile,
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
      ...(opts.wranglerArgs ?? []),
    ],
    { cwd: EDGE, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
    // BENCH_VERBOSE=1 shows what the Worker logs.
    if (process.env.BENCH_VERBOSE) process.stderr.write(d);
  };
  wrangler.stdout?.on("data", keep);
  wrangler.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await stopGroup(wrangler);
      await host.close();
      rmSync(tmp, { recursive: true, force: true });
      rmSync(path.dirname(repo.bare), { recursive: true, force: true });
    })();
    return stopped;
  };

  const api = (pathname: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${url}${pathname}`, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: init.body === undefined ? null : JSON.stringify(init.body),
    });

  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
      if (Date.now() > deadline) throw new Error(`wrangler dev did not answer in 60 s:\n${output}`);
      const ready = await fetch(`${url}/api/openapi.json`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    url,
    token,
    repo: repo.bare,
    host,
    wrangler,
    api,
    async startTask(task) {
      const res = await api("/api/task/start", { body: task });
      if (res.status !== 201) throw new Error(`start: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    },
    watch(id, onMessage, after = 0) {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(`${url.replace("http", "ws")}/api/task/ws/${id}?after=${after}`, {
          headers: { authorization: `Bearer ${token}` },
          perMessageDeflate: false,
        });
        ws.on("message", (data) => onMessage(String(data)));
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      });
    },
    async workerdPids() {
      return descendants(wrangler.pid!, "workerd");
    },
    stop,
  };
}

/** Descendants of `pid` whose command name is `name`, from /proc. */
async function descendants(pid: number, name: string): Promise<number[]> {
  const parents = new Map<number, number[]>();
  const names = new Map<number, string>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const m = /^(\d+) \((.*)\) \S+ (\d+)/.exec(stat);
    if (!m) continue;
    const child = Number(m[1]);
    names.set(child, m[2]!);
    parents.set(Number(m[3]), [...(parents.get(Number(m[3])) ?? []), child]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      if (names.get(c) === name) out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** utime + stime of a process in clock ticks (/proc/<pid>/stat fields 14 and 15). */
export async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ", field 3 (state) is index 0, so utime (14) is index 11 and stime (15) 12.
  return Number(fields[11]) + Number(fields[12]);
}

async function stopGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000).unref());
  if ((await Promise.race([exited, timeout])) === "timeout") {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    await exited;
  }
}

/** A watcher of a task that collects its events; `until` resolves once an event matches. */
export async function watchEvents(stack: EdgeStack, id: string) {
  const events: RunEvent[] = [];
  const waiters: Array<{ match: (e: RunEvent) => boolean; resolve: () => void }> = [];
  const ws = await stack.watch(id, (text) => {
    const event = JSON.parse(text) as RunEvent;
    events.push(event);
    for (const w of waiters.filter((w) => w.match(event))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    ws,
    events,
    until(match: (e: RunEvent) => boolean): Promise<RunEvent[]> {
      if (events.some(match)) return Promise.resolve(events);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve: () => resolve(events) });
        ws.once("close", () => reject(new Error(`watcher closed after ${events.length} events`)));
      });
    },
  };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
