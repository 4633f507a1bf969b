import { accessSync, constants, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { AgentContext, AgentOutcome } from "../agent-adapter.ts";
import { type KeyProxy, startKeyProxy } from "../key-proxy.ts";

/** The task's private HOME and TMPDIR: siblings of the workspace in the task directory, writable in the sandbox. */
export function taskHomeDirs(workspace: string): { home: string; tmp: string } {
  const root = path.dirname(workspace);
  const dirs = { home: path.join(root, "home"), tmp: path.join(root, "tmp") };
  // The task manager creates them; an adapter run on its own (tests, follow-ups) must not depend on it.
  mkdirSync(dirs.home, { recursive: true, mode: 0o700 });
  mkdirSync(dirs.tmp, { recursive: true, mode: 0o700 });
  return dirs;
}

/**
 * The environment every agent process starts from: PATH, a private HOME and TMPDIR, the locale, and the
 * task's own (validated, non-secret) `env`. Nothing else of the runner's environment — which holds the
 * API keys — is passed on; adapters add their own variables on top.
 */
export function baseAgentEnv(ctx: AgentContext): Record<string, string> {
  const { home, tmp } = taskHomeDirs(ctx.workspace);
  const env: Record<string, string> = { ...(ctx.task.env ?? {}) };
  env.PATH = process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  env.HOME = home;
  env.TMPDIR = tmp;
  env.LANG = process.env.LANG ?? "C.UTF-8";
  return env;
}

/**
 * Finds an executable shipped by an npm package installed for this runner (`bin` entry `binName`),
 * resolved from this module so it works from any cwd and with hoisted workspaces.
 *
 * @example
 * resolvePackageBin("@anthropic-ai/claude-code", "claude") // …/node_modules/@anthropic-ai/claude-code/bin/claude.exe
 */
export function resolvePackageBin(pkg: string, binName: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const manifestPath = require.resolve(`${pkg}/package.json`);
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
      bin?: string | Record<string, string>;
    };
    const rel = typeof manifest.bin === "string" ? manifest.bin : manifest.bin?.[binName];
    if (!rel) return undefined;
    const bin = path.join(path.dirname(manifestPath), rel);
    accessSync(bin, constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/** Thrown when an agent's CLI is missing; the message names the package (and ENOENT, which the task maps to agent_not_installed). */
export class AgentNotInstalledError extends Error {
  constructor(agent: string, pkg: string) {
    super(`${agent} is not installed (ENOENT): add the npm package ${pkg} to the runner`);
    this.name = "AgentNotInstalledError";
  }
}

/** What a model-calling adapter holds while its CLI runs: the task's key proxy and its own stop. */
export interface ModelDoor {
  proxy: KeyProxy;
  /** Fires on the task's cancel/timeout, and when the adapter stops the agent itself (a refused key). */
  stop: AbortController;
  /** Closes the proxy (the door) and detaches from the task's signal. */
  close(): Promise<void>;
}

const VENDOR = {
  anthropic: { name: "Anthropic", variable: "ANTHROPIC_API_KEY" },
  openai: { name: "OpenAI", variable: "OPENAI_API_KEY" },
} as const;

/**
 * Opens the task's door to the model API: a loopback key proxy holding the real key, which the
 * sandboxed agent reaches with a capability token. Without a key it returns a failed outcome at once,
 * because the CLIs retry a 401 for minutes.
 *
 * @example
 * const door = await openModelDoor(ctx, "anthropic");
 * if (!("proxy" in door)) return door;
 * try { ... } finally { await door.close(); }
 */
export async function openModelDoor(
  ctx: AgentContext,
  style: "anthropic" | "openai",
): Promise<ModelDoor | AgentOutcome> {
  const creds = ctx.credentials;
  const apiKey = style === "anthropic" ? creds.anthropicApiKey : creds.openaiApiKey;
  if (!apiKey) {
    const { name, variable } = VENDOR[style];
    const summary = `no ${name} API key is configured for this runner: set ${variable} where the runner runs`;
    ctx.emit({ type: "log", stream: "system", text: summary });
    return { ok: false, exitCode: null, summary };
  }
  const upstream = style === "anthropic" ? creds.anthropicBaseUrl : creds.openaiBaseUrl;
  const proxy = await startKeyProxy({ style, apiKey, upstream });
  const stop = new AbortController();
  const onTaskAbort = () => stop.abort();
  if (ctx.signal.aborted) stop.abort();
  else ctx.signal.addEventListener("abort", onTaskAbort, { once: true });
  return {
    proxy,
    stop,
    async close() {
      ctx.signal.removeEventListener("abort", onTaskAbort);
      await proxy.close();
    },
  };
}
