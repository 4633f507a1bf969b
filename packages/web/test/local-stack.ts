import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RunEvent } from "@openagents/protocol";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const CLI = path.join(ROOT, "packages/cli/bin/openagents.js");
const NODE22 = path.join(ROOT, "node_modules/.bin");

/**
 * The real local stack, `openagents up`, as a user starts it: wrangler dev (workerd) with the edge
 * Worker and the built web app, the local container host with its runner processes, and the egress
 * key proxy. It runs in its own process group with its own state and config directories.
 */
export interface LocalStack {
  /** `http://localhost:PORT`, as `up` prints it. */
  readonly url: string;
  readonly token: string;
  /** `$XDG_STATE_HOME` of the stack (its D1, Durable Objects and container workspaces live below). */
  readonly stateHome: string;
  /** Milliseconds from spawn to the "OpenAgents is up" line. */
  readonly startMs: number;
  /** An API call with the bearer token; JSON in and out. */
  api(method: string, pathname: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** Every event of a task, read page by page from `GET /api/tasks/:id/events`. */
  events(id: string): Promise<RunEvent[]>;
  /** The command lines of every process of the stack now. */
  processes(): string[];
  /**
   * SIGTERM to the stack's process group, then SIGKILL to whatever of it is still alive after it
   * exited (or after `graceMs`); resolves with those leftovers (empty when it stopped cleanly).
   */
  stop(graceMs?: number): Promise<string[]>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Proc {
  pid: number;
  ppid: number;
  cmd: string;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command may contain spaces and parentheses: the fields after the last ")" are fixed.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue; // exited, only waiting to be reaped
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      out.push({ pid: Number(name), ppid: Number(fields[1]), cmd });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/** `root` and all its descendants (wrangler, workerd and the runners run in process groups of their own). */
function tree(root: number): Proc[] {
  const all = processes();
  const found = all.filter((p) => p.pid === root);
  for (let i = 0; i < found.length; i++) {
    for (const p of all) if (p.ppid === found[i]!.pid) found.push(p);
  }
  return found;
}

/**
 * Starts `openagents up` on a free port and resolves once it printed its URL.
 *
 * @example
 * const stack = await startLocalStack({ token: "oa_e2e_token_0123456789" });
 * await fetch(`${stack.url}/api/me`, { headers: { authorization: `Bearer ${stack.token}` } });
 * expect(await stack.stop()).toEqual([]);
 */
export async function startLocalStack(opts: {
  token: string;
  /** Extra environment (e.g. ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL for the egress proxy). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Reuse this directory for state and config (a restart); it is then kept on stop. */
  home?: string;
}): Promise<LocalStack> {
  const home = opts.home ?? mkdtempSync(path.join(tmpdir(), "oa-web-e2e-stack-"));
  const stateHome = path.join(home, "state");
  const port = await freePort();
  // Model keys of the shell running the tests must not leak into the stack: only `opts.env`'s count.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(ANTHROPIC|OPENAI|CLAUDE)_/.test(k)),
  );
  const t0 = Date.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, "up", "--port", String(port), "--token", opts.token],
    {
      env: {
        ...inherited,
        PATH: `${NODE22}:${process.env.PATH ?? ""}`,
        XDG_STATE_HOME: stateHome,
        XDG_CONFIG_HOME: path.join(home, "config"),
        ...opts.env,
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d;
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d;
    if (process.env.E2E_STACK_LOG) process.stderr.write(d);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let seen: Proc[] = [];

  const stop = async (graceMs = 10_000): Promise<string[]> => {
    const pid = child.pid!;
    // What to look for afterwards: every process of the tree, and anything holding our port or state.
    seen = [...seen, ...tree(pid)];
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    }
    const ours = (p: Proc) =>
      seen.some((s) => s.pid === p.pid && s.cmd === p.cmd) ||
      p.cmd.includes(stateHome) ||
      p.cmd.includes(`127.0.0.1:${port} `);
    // Whatever is left did not stop on SIGTERM: report it, then kill it so the machine stays clean.
    const left = processes().filter(ours);
    for (const p of left) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    if (!opts.home) rmSync(home, { recursive: true, force: true });
    return left.map((p) => `${p.pid} ${p.cmd.slice(0, 160)}`);
  };

  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), opts.timeoutMs ?? 120_000);
    const check = () => {
      if (/OpenAgents is up: http:\/\/localhost:\d+\//.test(stdout)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    await stop(2000);
    throw new Error(`openagents up did not come up:\n${stdout}\n${stderr}`);
  }
  const startMs = Date.now() - t0;
  // Sampled now too: a runner that ends early is no longer in the tree at stop time.
  seen = tree(child.pid!);
  const url = `http://localhost:${port}`;
  const headers = { authorization: `Bearer ${opts.token}` };

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${url}${pathname}`, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown) };
  };

  return {
    url,
    token: opts.token,
    stateHome,
    startMs,
    api,
    async events(id) {
      const all: RunEvent[] = [];
      for (;;) {
        const after = all.at(-1)?.seq ?? 0;
        const { status, json } = await api("GET", `/api/tasks/${id}/events?after=${after}&limit=5000`);
        if (status !== 200) throw new Error(`events of ${id}: HTTP ${status} ${JSON.stringify(json)}`);
        const page = (json as { events: RunEvent[] }).events;
        if (page.length === 0) return all;
        all.push(...page);
      }
    },
    processes: () => tree(child.pid!).map((p) => p.cmd),
    stop,
  };
}
