import { ErrorCode as Codes, type ErrorCode, isErrorCode } from "./error-codes.ts";
import type { Result } from "./result.ts";
import { describe, FieldError, isPlainObject } from "./validate.ts";

export const PHASES = ["queued", "provisioning", "cloning", "setup", "running", "finalizing"] as const;
export type Phase = (typeof PHASES)[number];

export const LOG_STREAMS = ["stdout", "stderr", "system"] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

export const AGENT_EVENT_KINDS = ["message", "thinking", "tool_call", "tool_result"] as const;
export type AgentEventKind = (typeof AGENT_EVENT_KINDS)[number];

export interface FileStat {
  path: string;
  insertions: number;
  deletions: number;
  binary?: boolean;
}

export interface Diffstat {
  filesChanged: number;
  insertions: number;
  deletions: number;
  files: FileStat[];
}

export interface StatusBody {
  type: "status";
  phase: Phase;
  message?: string;
}
export interface LogBody {
  type: "log";
  stream: LogStream;
  text: string;
}
/** One step of an agent, normalised from the agent's own stream (Claude Code stream-json, Codex JSONL). */
export interface AgentBody {
  type: "agent";
  kind: AgentEventKind;
  /** Assistant text, thinking text, or a tool result's output. */
  text?: string;
  /** Tool name for `tool_call` / `tool_result`. */
  tool?: string;
  toolUseId?: string;
  input?: unknown;
  isError?: boolean;
}
export interface UsageBody {
  type: "usage";
  model?: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  costUsd?: number;
}
export interface ResultBody {
  type: "result";
  ok: boolean;
  exitCode: number | null;
  summary: string;
  diffstat: Diffstat;
  patch: string;
}
export interface ErrorBody {
  type: "error";
  code: ErrorCode;
  message: string;
}

export type RunEventBody = StatusBody | LogBody | AgentBody | UsageBody | ResultBody | ErrorBody;
export type RunEventType = RunEventBody["type"];
export const RUN_EVENT_TYPES: readonly RunEventType[] = [
  "status",
  "log",
  "agent",
  "usage",
  "result",
  "error",
];

/** One event of a task's stream: `seq` starts at 1 and grows by one, with no gaps; `result` is last. */
export type RunEvent = RunEventBody & { seq: number; time: string };

export const emptyDiffstat = (): Diffstat => ({ filesChanged: 0, insertions: 0, deletions: 0, files: [] });

/** True for the event that ends a task's stream. */
export const isFinal = (event: RunEventBody): event is ResultBody => event.type === "result";

/**
 * Validates an event received from another process (a runner's SSE stream, a tunnel frame).
 * Only the envelope and the fields each type needs are checked; extra fields are dropped.
 *
 * @example
 * for (const line of lines) { const r = parseRunEvent(JSON.parse(line)); if (r.ok) show(r.value); }
 */
export function parseRunEvent(input: unknown): Result<RunEvent> {
  try {
    return { ok: true, value: readRunEvent(input) };
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, error: e.toAppError() };
    throw e;
  }
}

const bad = (path: string, message: string) => new FieldError(path, message, Codes.InvalidRequest);
const str = (o: Record<string, unknown>, key: string): string => {
  const v = o[key];
  if (typeof v !== "string") throw bad(key, `${key} must be a string, got ${describe(v)}`);
  return v;
};
const optStr = (o: Record<string, unknown>, key: string): string | undefined =>
  o[key] === undefined ? undefined : str(o, key);
const num = (o: Record<string, unknown>, key: string): number => {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    throw bad(key, `${key} must be a non-negative number`);
  return v;
};
const optNum = (o: Record<string, unknown>, key: string): number | undefined =>
  o[key] === undefined ? undefined : num(o, key);
const oneOf = <T extends string>(o: Record<string, unknown>, key: string, allowed: readonly T[]): T => {
  const v = o[key];
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw bad(key, `${key} must be one of ${allowed.join(", ")}`);
  }
  return v as T;
};
const definedOnly = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

function readRunEvent(input: unknown): RunEvent {
  if (!isPlainObject(input)) throw bad("", `event must be an object, got ${describe(input)}`);
  const seq = input.seq;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1)
    throw bad("seq", "seq must be an integer ≥ 1");
  const time = str(input, "time");
  if (Number.isNaN(Date.parse(time))) throw bad("time", "time must be an ISO-8601 timestamp");
  return { seq, time, ...readBody(input) };
}

/** Validates an event body (no `seq`/`time`), e.g. what a runner in a tunnel reports. */
export function readBody(o: Record<string, unknown>): RunEventBody {
  const type = oneOf(o, "type", RUN_EVENT_TYPES);
  switch (type) {
    case "status":
      return definedOnly({ type, phase: oneOf(o, "phase", PHASES), message: optStr(o, "message") });
    case "log":
      return { type, stream: oneOf(o, "stream", LOG_STREAMS), text: str(o, "text") };
    case "agent":
      return definedOnly({
        type,
        kind: oneOf(o, "kind", AGENT_EVENT_KINDS),
        text: optStr(o, "text"),
        tool: optStr(o, "tool"),
        toolUseId: optStr(o, "toolUseId"),
        input: o.input,
        isError: typeof o.isError === "boolean" ? o.isError : undefined,
      });
    case "usage":
      return definedOnly({
        type,
        model: optStr(o, "model"),
        inputTokens: num(o, "inputTokens"),
        outputTokens: num(o, "outputTokens"),
        cacheReadTokens: optNum(o, "cacheReadTokens"),
        cacheWriteTokens: optNum(o, "cacheWriteTokens"),
        costUsd: optNum(o, "costUsd"),
      });
    case "result": {
      if (typeof o.ok !== "boolean") throw bad("ok", "ok must be a boolean");
      const exitCode = o.exitCode;
      if (exitCode !== null && (typeof exitCode !== "number" || !Number.isInteger(exitCode))) {
        throw bad("exitCode", "exitCode must be an integer or null");
      }
      return {
        type,
        ok: o.ok,
        exitCode,
        summary: str(o, "summary"),
        diffstat: readDiffstat(o.diffstat),
        patch: str(o, "patch"),
      };
    }
    case "error": {
      const code = o.code;
      if (!isErrorCode(code)) throw bad("code", "code must be a known error code");
      return { type, code, message: str(o, "message") };
    }
  }
}

function readDiffstat(value: unknown): Diffstat {
  if (!isPlainObject(value)) throw bad("diffstat", "diffstat must be an object");
  if (!Array.isArray(value.files)) throw bad("diffstat.files", "diffstat.files must be an array");
  const files = value.files.map((f, i): FileStat => {
    if (!isPlainObject(f)) throw bad(`diffstat.files[${i}]`, "each file must be an object");
    return definedOnly({
      path: str(f, "path"),
      insertions: num(f, "insertions"),
      deletions: num(f, "deletions"),
      binary: typeof f.binary === "boolean" ? f.binary : undefined,
    });
  });
  return {
    filesChanged: num(value, "filesChanged"),
    insertions: num(value, "insertions"),
    deletions: num(value, "deletions"),
    files,
  };
}
