import { ok, type Result } from "./result.ts";
import {
  expectEnum,
  expectInteger,
  expectObject,
  expectString,
  FieldError,
  rejectUnknownKeys,
} from "./validate.ts";

export const AGENTS = ["claude-code", "codex", "shell"] as const;
export type AgentKind = (typeof AGENTS)[number];

export const NETWORK_MODES = ["none", "allowlist", "open"] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

export const COMPUTE_KINDS = ["cloud", "tunnel", "market"] as const;
export type ComputeKind = (typeof COMPUTE_KINDS)[number];

export interface NetworkPolicy {
  mode: NetworkMode;
  /** Domains reachable in `allowlist` mode; `*.example.com` matches subdomains. */
  allow?: string[];
}

/** A unit of work, exactly as ARCHITECTURE.md §4 defines it (the body of `POST /tasks`). */
export interface Task {
  repo: string;
  ref?: string;
  agent: AgentKind;
  prompt?: string;
  script?: string;
  setup?: string;
  env?: Record<string, string>;
  network?: NetworkPolicy;
  timeoutSec?: number;
  compute?: ComputeKind;
  machine?: string;
}

export const DEFAULT_TIMEOUT_SEC = 1800;
export const MAX_TIMEOUT_SEC = 86_400;
export const MAX_PROMPT_CHARS = 200_000;
export const MAX_SCRIPT_CHARS = 200_000;

const TASK_KEYS = [
  "repo",
  "ref",
  "agent",
  "prompt",
  "script",
  "setup",
  "env",
  "network",
  "timeoutSec",
  "compute",
  "machine",
] as const;

// git check-ref-format rules, plus no leading "-" so a ref can never be read as an option.
const REF_PATTERN =
  /^(?!-)(?!.*\.\.)(?!.*@\{)(?!.*\/\/)(?!.*\/$)(?!.*\.lock$)(?!.*\.$)[^\s~^:?*[\\\x00-\x1f\x7f]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Names the runner sets itself or that would let a task change how its sandbox or agent behaves.
const RESERVED_ENV =
  /^(ANTHROPIC_|OPENAI_|CLAUDE_|CODEX_|OPENAGENTS_|LD_|DYLD_)|^(IS_SANDBOX|NODE_OPTIONS|HOME|PATH)$/;
const DOMAIN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MACHINE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const REMOTE_REPO = /^(https?|git|ssh|file):\/\/[^\s]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/;

/** True when `repo` names a remote (URL or scp-like `user@host:path`) rather than a local path. */
export const isRemoteRepo = (repo: string): boolean => REMOTE_REPO.test(repo);

/**
 * Validates untrusted input as a Task. Every failure names the field (`path`) and what was wrong.
 *
 * @example
 * const r = parseTask(JSON.parse(body));
 * if (!r.ok) console.error(`${r.error.path}: ${r.error.message}`);
 */
export function parseTask(input: unknown): Result<Task> {
  try {
    return ok(readTask(input));
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, error: e.toAppError() };
    throw e;
  }
}

function readTask(input: unknown): Task {
  const body = expectObject(input, "");
  rejectUnknownKeys(body, TASK_KEYS, "");
  if (body.repo === undefined) throw new FieldError("repo", "repo is required (a git URL or a local path)");
  if (body.agent === undefined)
    throw new FieldError("agent", `agent is required (one of ${AGENTS.join(", ")})`);
  const repo = expectString(body.repo, "repo", {
    max: 2048,
    pattern: /^[^\s\x00-\x1f-][^\x00-\x1f]*$/,
    patternHint: "must not start with '-' or whitespace, nor contain control characters",
  });
  const agent = expectEnum(body.agent, "agent", AGENTS);
  const task: Task = { repo, agent };

  if (body.ref !== undefined) {
    task.ref = expectString(body.ref, "ref", {
      max: 255,
      pattern: REF_PATTERN,
      patternHint: "is not a valid git ref",
    });
  }
  if (body.prompt !== undefined) task.prompt = expectString(body.prompt, "prompt", { max: MAX_PROMPT_CHARS });
  if (body.script !== undefined) task.script = expectString(body.script, "script", { max: MAX_SCRIPT_CHARS });
  if (agent === "shell") {
    if (task.script === undefined) throw new FieldError("script", 'script is required when agent is "shell"');
    if (task.prompt !== undefined)
      throw new FieldError("prompt", 'prompt is for agents; agent "shell" takes a script');
  } else {
    if (task.prompt === undefined)
      throw new FieldError("prompt", `prompt is required when agent is "${agent}"`);
    if (task.script !== undefined)
      throw new FieldError("script", `script is only for agent "shell", not "${agent}"`);
  }
  if (body.setup !== undefined) task.setup = expectString(body.setup, "setup", { max: MAX_SCRIPT_CHARS });
  if (body.env !== undefined) task.env = readEnv(body.env);
  if (body.network !== undefined) task.network = readNetwork(body.network);
  if (body.timeoutSec !== undefined)
    task.timeoutSec = expectInteger(body.timeoutSec, "timeoutSec", 1, MAX_TIMEOUT_SEC);
  if (body.compute !== undefined) task.compute = expectEnum(body.compute, "compute", COMPUTE_KINDS);
  if (body.machine !== undefined) {
    task.machine = expectString(body.machine, "machine", {
      max: 64,
      pattern: MACHINE_NAME,
      patternHint: "may contain only letters, digits, '.', '_' and '-'",
    });
  }
  return task;
}

function readEnv(value: unknown): Record<string, string> {
  const env = expectObject(value, "env");
  const names = Object.keys(env);
  if (names.length > 100) throw new FieldError("env", "env may hold at most 100 variables");
  const out: Record<string, string> = {};
  for (const name of names) {
    const path = `env.${name}`;
    if (!ENV_NAME.test(name)) throw new FieldError(path, `${path} is not a valid variable name`);
    if (RESERVED_ENV.test(name)) {
      throw new FieldError(path, `${path} is reserved: the runner sets it (keys are never passed to a task)`);
    }
    out[name] = expectString(env[name], path, { max: 32_768, min: 0 });
  }
  return out;
}

function readNetwork(value: unknown): NetworkPolicy {
  const net = expectObject(value, "network");
  rejectUnknownKeys(net, ["mode", "allow"], "network");
  const mode = expectEnum(net.mode, "network.mode", NETWORK_MODES);
  if (net.allow === undefined) {
    if (mode === "allowlist")
      throw new FieldError("network.allow", 'network.allow is required when mode is "allowlist"');
    return { mode };
  }
  if (mode !== "allowlist")
    throw new FieldError("network.allow", `network.allow applies only to mode "allowlist"`);
  if (!Array.isArray(net.allow) || net.allow.length === 0) {
    throw new FieldError("network.allow", "network.allow must be a non-empty array of domains");
  }
  if (net.allow.length > 100)
    throw new FieldError("network.allow", "network.allow may hold at most 100 domains");
  const allow = net.allow.map((d, i) =>
    expectString(typeof d === "string" ? d.toLowerCase() : d, `network.allow[${i}]`, {
      max: 253,
      pattern: DOMAIN,
      patternHint: "is not a domain name (e.g. github.com or *.github.com)",
    }),
  );
  return { mode, allow };
}

/** The task's effective timeout in seconds. */
export const timeoutOf = (task: Task): number => task.timeoutSec ?? DEFAULT_TIMEOUT_SEC;

/** The task's effective network policy: none unless asked otherwise. */
export const networkOf = (task: Task): NetworkPolicy => task.network ?? { mode: "none" };
