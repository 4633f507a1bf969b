import { type AppError, ErrorCode, type Result } from "@openagents/protocol";

/** Names accepted for a container: they become a directory name, so no dots or slashes. */
export const CONTAINER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const isContainerName = (name: string): boolean => CONTAINER_NAME.test(name);

/** Signals a client may send to a container (`POST /containers/:name/signal`). */
export const CONTAINER_SIGNALS = ["SIGTERM", "SIGKILL", "SIGINT"] as const;
export type ContainerSignal = (typeof CONTAINER_SIGNALS)[number];

/**
 * Variables taken from the host's own environment because a Node process needs them to work, none
 * of which holds a secret. HOME stays the host user's real home on purpose: the runner's task sandbox
 * denies reading that home's secrets (~/.ssh, ~/.aws, …), which it could not do if it thought home was
 * elsewhere. Everything else of the host's environment (model keys, tokens) stays out.
 */
export const PASSED_HOST_VARS = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_VARS = 256;

/** What `POST /containers/:name/start` accepts, validated. */
export interface StartRequest {
  env: Record<string, string>;
  enableInternet: boolean;
}

const invalid = (message: string, path?: string): { ok: false; error: AppError } => ({
  ok: false,
  error:
    path === undefined
      ? { code: ErrorCode.InvalidRequest, message }
      : { code: ErrorCode.InvalidRequest, message, path },
});

/**
 * Validates a start body `{ env?, enableInternet? }` (undefined: an empty body). Unknown fields are
 * refused, so a client that expects an option this host lacks hears about it instead of being ignored.
 *
 * @example
 * const start = parseStartRequest({ env: { ANTHROPIC_API_KEY: "…" }, enableInternet: false });
 */
export function parseStartRequest(body: unknown): Result<StartRequest> {
  if (body === undefined) return { ok: true, value: { env: {}, enableInternet: true } };
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return invalid("body must be an object { env?, enableInternet? }", "");
  }
  for (const key of Object.keys(body)) {
    if (key !== "env" && key !== "enableInternet") {
      return invalid(`unknown field "${key}" (allowed: env, enableInternet)`, key);
    }
  }
  const { env = {}, enableInternet = true } = body as { env?: unknown; enableInternet?: unknown };
  if (typeof enableInternet !== "boolean")
    return invalid("enableInternet must be a boolean", "enableInternet");
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    return invalid("env must be an object of strings", "env");
  }
  const entries = Object.entries(env);
  if (entries.length > MAX_ENV_VARS) return invalid(`env has more than ${MAX_ENV_VARS} variables`, "env");
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!ENV_NAME.test(name))
      return invalid(`env name "${name}" is not a valid variable name`, `env.${name}`);
    if (typeof value !== "string" || value.includes("\0")) {
      return invalid(`env.${name} must be a string without NUL`, `env.${name}`);
    }
    out[name] = value;
  }
  return { ok: true, value: { env: out, enableInternet } };
}

export interface ContainerEnvInput {
  /** The environment the client asked for. */
  requested: Record<string, string>;
  /** The host's own environment; only {@link PASSED_HOST_VARS} are read from it. */
  hostEnv: NodeJS.ProcessEnv;
  name: string;
  /** The container's private TMPDIR and XDG_STATE_HOME. */
  tmpDir: string;
  stateDir: string;
  runnerToken: string;
  enableInternet: boolean;
  /**
   * Set by the host for every container unless the client asks otherwise: the egress point for model
   * traffic (a loopback key proxy's base URL and capability token), so no real key enters a container.
   */
  egress?: Record<string, string>;
}

/**
 * The complete environment of a container's runner: the host's harmless basics, then what the client
 * asked for, then what the host decides (private directories, the runner's token, the internet flag).
 *
 * @example
 * spawn(node, args, { env: containerEnv({ requested, hostEnv: process.env, name, tmpDir, stateDir, runnerToken, enableInternet }) });
 */
export function containerEnv(input: ContainerEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_HOST_VARS) {
    const value = input.hostEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  // The host's egress point is a default: the edge passes its own (a user's stored key) and wins.
  Object.assign(env, input.egress);
  Object.assign(env, input.requested);
  if (input.hostEnv.HOME !== undefined) env.HOME = input.hostEnv.HOME;
  env.TMPDIR = input.tmpDir;
  env.XDG_STATE_HOME = input.stateDir;
  env.RUNNER_TOKEN = input.runnerToken;
  env.OPENAGENTS_CONTAINER = input.name;
  // The runner stops when this host is gone (see runner-serve.ts): no orphaned containers.
  env.OPENAGENTS_EXIT_WITH_PARENT = "1";
  // Tasks are sandboxed with network "none" unless they ask otherwise; "0" tells the runner that this
  // container may not open the network to them at all (what `enableInternet: false` means in a cloud
  // container, where the engine enforces it).
  env.OPENAGENTS_CONTAINER_INTERNET = input.enableInternet ? "1" : "0";
  return env;
}
