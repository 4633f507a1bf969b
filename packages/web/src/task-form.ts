import {
  AGENTS,
  type AgentKind,
  type ComputeKind,
  NETWORK_MODES,
  type NetworkMode,
  parseTask,
  type Task,
} from "@openagents/protocol";

/** What the new-task form holds: strings as typed, before any parsing. */
export interface TaskFormValues {
  repo: string;
  ref: string;
  agent: AgentKind;
  /** The prompt for an agent, or the script for `shell`. */
  instructions: string;
  setup: string;
  compute: ComputeKind;
  /** For `tunnel`: the name of one of the user's machines, or "" for any connected machine. */
  machine: string;
  networkMode: NetworkMode;
  /** Domains for `allowlist`, separated by commas, spaces or new lines. */
  allow: string;
  timeoutSec: string;
}

export const emptyForm = (): TaskFormValues => ({
  repo: "",
  ref: "",
  agent: "claude-code",
  instructions: "",
  setup: "",
  compute: "cloud",
  machine: "",
  networkMode: "none",
  allow: "",
  timeoutSec: "",
});

export interface ComputeOption {
  value: ComputeKind;
  label: string;
  /** Offered in the form; the others become available as their issues land. */
  available: boolean;
}

/** Where a task can run: "My machine" (`tunnel`) is a machine running `openagents connect`. */
export const COMPUTE_OPTIONS: readonly ComputeOption[] = [
  { value: "cloud", label: "Cloud container", available: true },
  { value: "tunnel", label: "My machine", available: true },
];

export const AGENT_LABELS: Record<AgentKind, string> = {
  "claude-code": "Claude Code",
  codex: "Codex",
  shell: "Shell script",
};
export const AGENT_OPTIONS = AGENTS;
export const NETWORK_OPTIONS = NETWORK_MODES;

/** The task field the instructions box stands for. */
export const instructionsPath = (agent: AgentKind): "prompt" | "script" =>
  agent === "shell" ? "script" : "prompt";

/** Field errors keyed by the server's field path (`repo`, `ref`, `prompt`, `network.allow`, …). */
export type FieldErrors = Record<string, string>;

/**
 * The form field an error path belongs to: `network.allow[2]` → `network.allow`, `env.FOO` → `env`,
 * so a server error and a client error land under the same input.
 */
export function fieldOf(path: string | undefined): string {
  if (!path) return "";
  const clean = path.replace(/\[\d+\]$/, "");
  if (clean.startsWith("network.")) return clean;
  return clean.split(/[.[]/)[0] ?? "";
}

/** The Task the form describes (empty optional fields left out). */
export function toTask(v: TaskFormValues): Record<string, unknown> {
  const task: Record<string, unknown> = { repo: v.repo.trim(), agent: v.agent, compute: v.compute };
  if (v.ref.trim() !== "") task.ref = v.ref.trim();
  // The edge refuses `machine` on any other compute, so a name left from switching back is dropped.
  if (v.compute === "tunnel" && v.machine.trim() !== "") task.machine = v.machine.trim();
  if (v.instructions.trim() !== "") task[instructionsPath(v.agent)] = v.instructions;
  if (v.setup.trim() !== "") task.setup = v.setup;
  if (v.networkMode !== "none") {
    const allow = v.allow.split(/[\s,]+/).filter((d) => d !== "");
    task.network = v.networkMode === "allowlist" ? { mode: "allowlist", allow } : { mode: v.networkMode };
  }
  if (v.timeoutSec.trim() !== "") {
    const n = Number(v.timeoutSec.trim());
    task.timeoutSec = Number.isFinite(n) ? n : v.timeoutSec.trim();
  }
  return task;
}

/**
 * Validates the form with the very parser the server runs (`parseTask` from the protocol package), so
 * the messages and field paths are the server's. The parser stops at the first error, so each field
 * is also checked on its own against an otherwise valid task, to show every error at once.
 *
 * @example
 * const r = validateForm({ ...emptyForm(), repo: "https://github.com/a/b" });
 * r.errors.prompt; // 'prompt is required when agent is "claude-code"'
 */
export function validateForm(v: TaskFormValues): { task?: Task; errors: FieldErrors } {
  const whole = toTask(v);
  const parsed = parseTask(whole);
  if (parsed.ok) return { task: parsed.value, errors: {} };
  const errors: FieldErrors = {};
  const record = (path: string | undefined, message: string) => {
    const field = fieldOf(path);
    errors[field] ??= message;
  };
  const instr = instructionsPath(v.agent);
  const valid: Record<string, unknown> = {
    repo: "https://example.com/repo.git",
    agent: v.agent,
    [instr]: "x",
  };
  // Against an otherwise valid task, any error is about the one field added.
  for (const [key, value] of Object.entries(whole)) {
    const r = parseTask({ ...valid, [key]: value });
    if (!r.ok) record(r.error.path, r.error.message);
  }
  if (whole[instr] === undefined) {
    const r = parseTask({ ...valid, [instr]: undefined });
    if (!r.ok) record(r.error.path, r.error.message);
  }
  record(parsed.error.path, parsed.error.message);
  return { errors };
}
