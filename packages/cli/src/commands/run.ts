import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { AGENTS, NETWORK_MODES, parseTask, type Task } from "@openagents/protocol";
import { type Command, flag, intOption, list, str, UserError } from "../command.ts";
import { stateDir } from "../paths.ts";
import { renderEvent } from "../render.ts";

/** `openagents run`: one task on this machine, sandboxed, with live progress. */
export const runCommand: Command = {
  path: ["run"],
  summary: "Run one task on this machine in a sandbox and print its progress and patch",
  options: [
    {
      name: "repo",
      type: "string",
      value: "URL|PATH",
      description: "Git repository: a URL or a local path (required)",
    },
    {
      name: "ref",
      type: "string",
      value: "REF",
      description: "Branch, tag or commit (default: the remote's HEAD)",
    },
    {
      name: "agent",
      type: "string",
      value: "NAME",
      description: `${AGENTS.join(" | ")} (default: claude-code, or shell with --script)`,
    },
    { name: "prompt", type: "string", value: "TEXT", description: "Instructions for the agent" },
    { name: "script", type: "string", value: "FILE", description: "Script to run (agent shell)" },
    {
      name: "setup",
      type: "string",
      value: "TEXT",
      description: "Setup commands run in the workspace before the agent",
    },
    {
      name: "network",
      type: "string",
      value: "MODE",
      description: `${NETWORK_MODES.join(" | ")} (default: none)`,
    },
    {
      name: "allow-domain",
      type: "string",
      value: "D",
      multiple: true,
      description: "Domain reachable with --network allowlist",
    },
    {
      name: "timeout",
      type: "string",
      value: "S",
      description: "Stop the task after S seconds (default 1800)",
    },
    {
      name: "env",
      type: "string",
      value: "K=V",
      multiple: true,
      description: "Non-secret environment variable for the task",
    },
    { name: "json", type: "boolean", description: "Print RunEvents as JSON lines" },
    { name: "out-patch", type: "string", value: "FILE", description: "Write the resulting patch to FILE" },
    {
      name: "keep",
      type: "boolean",
      description: "Keep the task's workspace after the run (its path is printed)",
    },
  ],
  details: `Examples:
  openagents run --repo https://github.com/you/app --agent claude-code --prompt "add a README"
  openagents run --repo ./app --agent shell --script ./job.sh --json --out-patch job.patch
The model key comes from ANTHROPIC_API_KEY / OPENAI_API_KEY and never enters the sandbox.
Exit status: 0 when the task succeeded, 1 when it failed, 2 for a usage error.`,
  async handler(o, io) {
    const task = await buildTask(o, io.cwd);
    // Loaded here so that `--help` and usage errors do not pay for loading the runner.
    const { credentialsFromEnv, removeTaskDirs, TaskManager, taskDirs } = await import("@openagents/runner");
    const outPatch = str(o, "out-patch");
    const json = flag(o, "json");
    const workRoot = path.join(stateDir(io.env), "runs");
    const manager = new TaskManager({ workRoot, credentials: credentialsFromEnv(io.env), cwd: io.cwd });
    const started = Date.now();
    const handle = manager.start(task);
    const onAbort = () => handle.cancel("interrupted");
    io.signal.addEventListener("abort", onAbort, { once: true });
    handle.log.subscribe(0, (event) => {
      io.stdout.write(
        json ? `${JSON.stringify(event)}\n` : renderEvent(event, (Date.now() - started) / 1000),
      );
    });
    const result = await handle.done;
    io.signal.removeEventListener("abort", onAbort);
    if (outPatch) {
      await writeFile(path.resolve(io.cwd, outPatch), result.patch);
      if (!json) io.stderr.write(`patch written to ${outPatch} (${Buffer.byteLength(result.patch)} bytes)\n`);
    }
    const dirs = taskDirs(workRoot, handle.id);
    if (flag(o, "keep")) io.stderr.write(`workspace kept at ${dirs.work}\n`);
    else await removeTaskDirs(dirs);
    return result.ok ? 0 : 1;
  },
};

async function buildTask(o: Parameters<Command["handler"]>[0], cwd: string): Promise<Task> {
  const scriptFile = str(o, "script");
  const raw: Record<string, unknown> = {
    repo: str(o, "repo"),
    ref: str(o, "ref"),
    agent: str(o, "agent") ?? (scriptFile ? "shell" : "claude-code"),
    prompt: str(o, "prompt"),
    setup: str(o, "setup"),
    timeoutSec: intOption(o, "timeout", 1, 86_400),
  };
  if (raw.repo === undefined) throw new UserError("--repo is required (a git URL or a local path)");
  if (scriptFile !== undefined) {
    raw.script = await readFile(path.resolve(cwd, scriptFile), "utf8").catch((e: NodeJS.ErrnoException) => {
      throw new UserError(
        `cannot read --script ${scriptFile}: ${e.code === "ENOENT" ? "no such file" : e.message}`,
      );
    });
  }
  const mode = str(o, "network");
  const allow = list(o, "allow-domain");
  if (mode !== undefined || allow.length > 0) {
    raw.network = { mode: mode ?? "allowlist", ...(allow.length ? { allow } : {}) };
  }
  const envPairs = list(o, "env");
  if (envPairs.length) {
    raw.env = Object.fromEntries(
      envPairs.map((pair) => {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new UserError(`--env expects NAME=VALUE, got "${pair}"`);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    );
  }
  const parsed = parseTask(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!parsed.ok) throw new UserError(flagMessage(parsed.error.message));
  return parsed.value;
}

// Task field names → the flags a CLI user typed.
const FLAG_OF: Record<string, string> = {
  repo: "--repo",
  ref: "--ref",
  agent: "--agent",
  prompt: "--prompt",
  script: "--script",
  setup: "--setup",
  "network.mode": "--network",
  "network.allow": "--allow-domain",
  timeoutSec: "--timeout",
  env: "--env",
};
const flagMessage = (message: string) =>
  message.replace(
    /\b(network\.mode|network\.allow|timeoutSec|repo|ref|agent|prompt|script|setup|env)\b/g,
    (m) => FLAG_OF[m] ?? m,
  );
