import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AGENTS, type AgentKind } from "@openagents/protocol";
import {
  type CliIo,
  intOption,
  list,
  type OptionSpec,
  type ParsedOptions,
  str,
  UserError,
} from "../command.ts";
import { stateDir } from "../paths.ts";

/**
 * The options of `openagents connect --url URL --token T` (the tunnel mode). `--allow-repo` means
 * the same in the NIP-90 mode, so a merged command lists it once.
 */
export const TUNNEL_OPTIONS: OptionSpec[] = [
  {
    name: "url",
    type: "string",
    value: "URL",
    description: "The web app to serve, e.g. http://localhost:8787",
  },
  {
    name: "token",
    type: "string",
    value: "T",
    description: 'Machine token from "My machines" (default: $OPENAGENTS_MACHINE_TOKEN)',
  },
  { name: "name", type: "string", value: "N", description: "Name of this machine (default: the host name)" },
  { name: "max-tasks", type: "string", value: "N", description: "Tasks run at once (default 2)" },
  {
    name: "allow-repo",
    type: "string",
    value: "PATTERN",
    multiple: true,
    description: "Remote repositories accepted, e.g. https://github.com/me/* (default: any)",
  },
  {
    name: "allow-dir",
    type: "string",
    value: "DIR",
    multiple: true,
    description: "Directory whose local repositories may be used (default: none)",
  },
  {
    name: "agent",
    type: "string",
    value: "NAME",
    multiple: true,
    description: `Agents offered: ${AGENTS.join(", ")} (default: all)`,
  },
];

const MACHINE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A running tunnel: stop it, or wait for it to end by itself (the edge refused the machine). */
export interface TunnelPart {
  name: "tunnel";
  /** Resolves with the exit code: 0 after `stop()`, 1 when the edge refused the machine. */
  done: Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts the tunnel mode of `openagents connect`: this machine runs the tasks the user starts in
 * the web app with `compute: "tunnel"`, in the runner's sandbox, until `stop()` or Ctrl-C.
 *
 * @example
 * const part = await startTunnel(options, io);
 * process.exitCode = await part.done;
 */
export async function startTunnel(o: ParsedOptions, io: CliIo): Promise<TunnelPart> {
  const url = str(o, "url");
  if (!url) throw new UserError("--url is required: the web app's address, e.g. http://localhost:8787");
  const token = str(o, "token") ?? (io.env.OPENAGENTS_MACHINE_TOKEN || undefined);
  if (!token) throw new UserError('--token is required: create one under "My machines" in the web app');
  const { credentialsFromEnv, localPathAllowed, TaskManager, TunnelMachine, tunnelUrl } = await import(
    "@openagents/runner"
  );
  try {
    tunnelUrl(url);
  } catch {
    throw new UserError(`--url must be an http(s) or ws(s) URL, got "${url}"`);
  }
  const name =
    str(o, "name") ??
    os
      .hostname()
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .slice(0, 64);
  if (!MACHINE_NAME.test(name))
    throw new UserError("--name may contain only letters, digits, '.', '_' and '-'");
  const maxTasks = intOption(o, "max-tasks", 1, 64) ?? 2;
  const allowRepos = list(o, "allow-repo");
  const allowDirs = list(o, "allow-dir").map((d) => {
    const abs = path.resolve(io.cwd, d);
    if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory())
      throw new UserError(`--allow-dir ${d} is not a directory`);
    return abs;
  });
  const agents = list(o, "agent");
  for (const a of agents) {
    if (!(AGENTS as readonly string[]).includes(a))
      throw new UserError(`--agent must be one of ${AGENTS.join(", ")}`);
  }

  // Buffers and workspaces per token: two machines of one user on one computer do not mix.
  const dir = path.join(
    stateDir(io.env),
    "tunnel",
    createHash("sha256").update(token).digest("hex").slice(0, 16),
  );
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const unlock = lock(path.join(dir, "pid"));
  const manager = new TaskManager({
    workRoot: path.join(dir, "work"),
    credentials: credentialsFromEnv(io.env),
    maxConcurrent: maxTasks,
    cwd: io.cwd,
    allowLocalRepo: (abs) => localPathAllowed(abs, allowDirs),
  });
  const line = statusLine(io);
  const machine = new TunnelMachine({
    url,
    token,
    name,
    maxTasks,
    agents: agents.length > 0 ? (agents as AgentKind[]) : [...AGENTS],
    allowRepos: allowRepos.length > 0 ? allowRepos : ["**"],
    allowDirs,
    bufferDir: path.join(dir, "events"),
    runner: manager,
    onChange: line,
  });
  if (allowRepos.length === 0)
    io.stderr.write("note: no --allow-repo given: any remote repository is accepted\n");
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  io.signal.addEventListener("abort", onAbort, { once: true });
  const done = machine.run(controller.signal).then(
    async (refused) => {
      io.signal.removeEventListener("abort", onAbort);
      await manager.shutdown();
      unlock();
      if (io.isTTY) io.stdout.write("\n");
      if (refused === null) return 0;
      io.stderr.write(`openagents: ${refused}\n`);
      return 1;
    },
    (e: unknown) => {
      unlock();
      throw e;
    },
  );
  return {
    name: "tunnel",
    done,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

/**
 * `openagents connect --url URL --token T …` on its own: serves until Ctrl-C (exit 0) or until the
 * edge refuses the machine, e.g. after its token was revoked (exit 1).
 *
 * @example
 * // in a command handler:
 * return runTunnel(options, io);
 */
export async function runTunnel(o: ParsedOptions, io: CliIo): Promise<number> {
  return (await startTunnel(o, io)).done;
}

/** One process per token and state directory: a second one would fight the first for the connection. */
function lock(file: string): () => void {
  const held = Number(readFileSync(file, { encoding: "utf8", flag: "a+" }).trim());
  if (Number.isInteger(held) && held > 0 && held !== process.pid) {
    let alive = true;
    try {
      process.kill(held, 0);
    } catch {
      alive = false;
    }
    if (alive) throw new UserError(`another openagents connect (pid ${held}) already serves this token`);
  }
  writeFileSync(file, String(process.pid), { mode: 0o600 });
  return () => rmSync(file, { force: true });
}

/** A live status line on a terminal; one timestamped line per change otherwise. */
function statusLine(io: CliIo) {
  return (
    s: { connected: boolean; machine: string | null; running: number; finished: number; unacked: number },
    note: string,
  ) => {
    const state = s.connected ? `connected as "${s.machine}"` : "offline";
    const summary = `${state} · ${s.running} running · ${s.finished} done${s.unacked > 0 ? ` · ${s.unacked} unsent` : ""}`;
    if (io.isTTY) io.stdout.write(`\r\x1b[2K${note}\n● ${summary}`);
    else io.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${note} (${summary})\n`);
  };
}
