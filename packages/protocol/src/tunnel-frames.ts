import { ErrorCode, isErrorCode } from "./error-codes.ts";
import type { Result } from "./result.ts";
import { parseRunEvent, type RunEvent } from "./run-event.ts";
import { AGENTS, type AgentKind, parseTask, type Task } from "./task.ts";
import { describe, FieldError, isPlainObject } from "./validate.ts";

/**
 * The frames of the tunnel between `openagents connect` (a "machine") and the user's TunnelDO: one
 * JSON object per WebSocket text message, `type` first. Both sides validate every frame they receive
 * with `parseMachineFrame` / `parseEdgeFrame`; a frame over its size limit is refused before it is
 * parsed.
 *
 * The flow: machine `hello` → edge `welcome` (with the last stored seq of each of the machine's
 * tasks) → edge `assign` → machine `events` (the runner's own seqs, consecutive) → edge `ack` (the
 * last seq the TaskDO has stored) … Heartbeats go both ways. After a reconnect the machine resends
 * everything after the acked seq, so nothing is lost and the edge drops what it already has.
 */
export const TUNNEL_PROTOCOL_VERSION = 1;

/** Largest frame either side accepts, in UTF-8 bytes. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Most events in one `events` frame. */
export const MAX_EVENTS_PER_FRAME = 1000;
/** Most tasks a machine may run at once (and report in `hello`). */
export const MAX_MACHINE_TASKS = 64;
/** Most repo patterns / allowed directories per machine. */
export const MAX_ALLOW_PATTERNS = 100;

/** Per-type limits: control frames are small, so a flood of big ones is refused early. */
export const FRAME_LIMITS = {
  hello: 64 * 1024,
  heartbeat: 1024,
  events: MAX_FRAME_BYTES,
  error: 8 * 1024,
  welcome: 256 * 1024,
  assign: MAX_FRAME_BYTES,
  ack: 1024,
  cancel: 1024,
  "follow-up": 256 * 1024,
  release: 8 * 1024,
} as const;

/** The state of one task in the machine's buffer, reported in `hello` so the edge can resume it. */
export interface MachineTaskState {
  taskId: string;
  /** Highest runner seq the machine holds for the task. */
  lastSeq: number;
  /** True when that last event is the task's `result` and the runner no longer runs it. */
  ended: boolean;
}

/** Machine → edge: who it is and what it will accept. Claims only; the edge checks its own policy. */
export interface HelloFrame {
  type: "hello";
  version: number;
  name?: string;
  agents: AgentKind[];
  maxTasks: number;
  /** Remote repository patterns (see `repoMatches`). */
  allowRepos: string[];
  /** Absolute local directories under which local-path repositories are accepted. */
  allowDirs: string[];
  tasks: MachineTaskState[];
}

/** Either way: "still here". The machine reports how many tasks it runs. */
export interface HeartbeatFrame {
  type: "heartbeat";
  running?: number;
}

/** Machine → edge: a task's events with the runner's seqs, consecutive and ascending. */
export interface EventsFrame {
  type: "events";
  taskId: string;
  events: RunEvent[];
}

/**
 * Either way: something went wrong. From a machine with a `taskId`, it refuses or gave up the task
 * (the edge ends it with this error). From the edge, a frame was refused; `seq` is then the last seq
 * stored for `taskId`, from which the machine resends.
 */
export interface ErrorFrame {
  type: "error";
  taskId?: string;
  code: ErrorCode;
  message: string;
  seq?: number;
}

/** Edge → machine, answer to `hello`. */
export interface WelcomeFrame {
  type: "welcome";
  /** The name the edge lists the machine under. */
  machine: string;
  heartbeatMs: number;
  /** Last stored seq of each task the edge has assigned to this machine and still expects events for. */
  acks: Array<{ taskId: string; seq: number }>;
}

export interface AssignFrame {
  type: "assign";
  taskId: string;
  task: Task;
}

export interface AckFrame {
  type: "ack";
  taskId: string;
  seq: number;
}

export interface CancelFrame {
  type: "cancel";
  taskId: string;
}

export interface FollowUpFrame {
  type: "follow-up";
  taskId: string;
  prompt: string;
}

/** Edge → machine: the edge no longer takes events for this task (it ended there): stop it, drop its buffer. */
export interface ReleaseFrame {
  type: "release";
  taskId: string;
  reason: string;
}

export type MachineFrame = HelloFrame | HeartbeatFrame | EventsFrame | ErrorFrame;
export type EdgeFrame =
  | WelcomeFrame
  | HeartbeatFrame
  | AssignFrame
  | AckFrame
  | CancelFrame
  | FollowUpFrame
  | ReleaseFrame
  | ErrorFrame;

const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MACHINE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Validates a frame a machine sent. Malformed JSON, an unknown type, a bad field or a frame over its
 * limit is an error (`invalid_request` or `payload_too_large`), never an exception.
 *
 * @example
 * const frame = parseMachineFrame(message);
 * if (!frame.ok) ws.send(JSON.stringify({ type: "error", ...frame.error }));
 */
export function parseMachineFrame(text: string): Result<MachineFrame> {
  return parseFrame(text, ["hello", "heartbeat", "events", "error"], readMachineFrame);
}

/**
 * Validates a frame the edge sent (the machine trusts the edge, but not blindly).
 *
 * @example
 * const frame = parseEdgeFrame(String(data));
 * if (frame.ok && frame.value.type === "assign") start(frame.value.taskId, frame.value.task);
 */
export function parseEdgeFrame(text: string): Result<EdgeFrame> {
  return parseFrame(
    text,
    ["welcome", "heartbeat", "assign", "ack", "cancel", "follow-up", "release", "error"],
    readEdgeFrame,
  );
}

/** UTF-8 size of a frame's text, without allocating its bytes. */
export function frameBytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Serializes a frame, or says it is too big for its type (the sender must split or shrink it).
 *
 * @example
 * const text = encodeFrame({ type: "ack", taskId, seq });
 * if (text.ok) ws.send(text.value);
 */
export function encodeFrame(frame: MachineFrame | EdgeFrame): Result<string> {
  const text = JSON.stringify(frame);
  const limit = FRAME_LIMITS[frame.type];
  if (text.length > limit || frameBytes(text) > limit) {
    return {
      ok: false,
      error: {
        code: ErrorCode.PayloadTooLarge,
        message: `${frame.type} frame is larger than ${limit} bytes`,
      },
    };
  }
  return { ok: true, value: text };
}

type FrameType = keyof typeof FRAME_LIMITS;

function parseFrame<T>(
  text: string,
  types: readonly FrameType[],
  read: (o: Record<string, unknown>, type: FrameType) => T,
): Result<T> {
  // Cheap bound first (a UTF-16 length over the limit is over it in UTF-8 too), exact count next.
  if (text.length > MAX_FRAME_BYTES || frameBytes(text) > MAX_FRAME_BYTES) {
    return tooLarge(`frame is larger than ${MAX_FRAME_BYTES} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return invalid("", "frame is not valid JSON");
  }
  if (!isPlainObject(json)) return invalid("", `frame must be an object, got ${describe(json)}`);
  const type = json.type;
  if (typeof type !== "string" || !(types as readonly string[]).includes(type)) {
    return invalid("type", `type must be one of ${types.join(", ")}`);
  }
  const limit = FRAME_LIMITS[type as FrameType];
  if (frameBytes(text) > limit) return tooLarge(`${type} frame is larger than ${limit} bytes`);
  try {
    return { ok: true, value: read(json, type as FrameType) };
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, error: e.toAppError() };
    throw e;
  }
}

const invalid = (path: string, message: string): Result<never> => ({
  ok: false,
  error: path
    ? { code: ErrorCode.InvalidRequest, message, path }
    : { code: ErrorCode.InvalidRequest, message },
});
const tooLarge = (message: string): Result<never> => ({
  ok: false,
  error: { code: ErrorCode.PayloadTooLarge, message },
});

const bad = (path: string, message: string) => new FieldError(path, message, ErrorCode.InvalidRequest);

function allowKeys(o: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(k, `unknown field "${k}"`);
}

function taskId(o: Record<string, unknown>): string {
  const v = o.taskId;
  if (typeof v !== "string" || !TASK_ID.test(v)) throw bad("taskId", "taskId must be a task id");
  return v;
}

function seqOf(v: unknown, path: string, min: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min)
    throw bad(path, `${path} must be an integer ≥ ${min}`);
  return v;
}

function text(v: unknown, path: string, max: number, min = 1): string {
  if (typeof v !== "string" || v.length < min || v.length > max)
    throw bad(path, `${path} must be a string of ${min} to ${max} characters`);
  return v;
}

function strings(v: unknown, path: string, max: number): string[] {
  if (!Array.isArray(v) || v.length > MAX_ALLOW_PATTERNS)
    throw bad(path, `${path} must be an array of at most ${MAX_ALLOW_PATTERNS} strings`);
  return v.map((s, i) => {
    const item = text(s, `${path}[${i}]`, max);
    if (/[\x00-\x1f]/.test(item)) throw bad(`${path}[${i}]`, "control characters are not allowed");
    return item;
  });
}

function readError(o: Record<string, unknown>): ErrorFrame {
  allowKeys(o, ["type", "taskId", "code", "message", "seq"]);
  if (!isErrorCode(o.code)) throw bad("code", "code must be a known error code");
  const frame: ErrorFrame = { type: "error", code: o.code, message: text(o.message, "message", 4096) };
  if (o.taskId !== undefined) frame.taskId = taskId(o);
  if (o.seq !== undefined) frame.seq = seqOf(o.seq, "seq", 0);
  return frame;
}

function readHeartbeat(o: Record<string, unknown>): HeartbeatFrame {
  allowKeys(o, ["type", "running"]);
  return o.running === undefined
    ? { type: "heartbeat" }
    : { type: "heartbeat", running: seqOf(o.running, "running", 0) };
}

function readMachineFrame(o: Record<string, unknown>, type: FrameType): MachineFrame {
  switch (type) {
    case "hello": {
      allowKeys(o, ["type", "version", "name", "agents", "maxTasks", "allowRepos", "allowDirs", "tasks"]);
      const version = seqOf(o.version, "version", 1);
      if (version !== TUNNEL_PROTOCOL_VERSION)
        throw bad("version", `unsupported tunnel protocol version ${version}`);
      if (!Array.isArray(o.agents) || o.agents.length > AGENTS.length)
        throw bad("agents", "agents must be an array");
      const agents = o.agents.map((a, i) => {
        if (!(AGENTS as readonly unknown[]).includes(a)) throw bad(`agents[${i}]`, `unknown agent`);
        return a as AgentKind;
      });
      const maxTasks = seqOf(o.maxTasks, "maxTasks", 1);
      if (maxTasks > MAX_MACHINE_TASKS)
        throw bad("maxTasks", `maxTasks must be at most ${MAX_MACHINE_TASKS}`);
      if (!Array.isArray(o.tasks) || o.tasks.length > 1000) throw bad("tasks", "tasks must be an array");
      const tasks = o.tasks.map((t, i): MachineTaskState => {
        if (!isPlainObject(t)) throw bad(`tasks[${i}]`, "each task must be an object");
        allowKeys(t, ["taskId", "lastSeq", "ended"]);
        if (typeof t.ended !== "boolean") throw bad(`tasks[${i}].ended`, "ended must be a boolean");
        return { taskId: taskId(t), lastSeq: seqOf(t.lastSeq, `tasks[${i}].lastSeq`, 0), ended: t.ended };
      });
      const hello: HelloFrame = {
        type,
        version,
        agents,
        maxTasks,
        allowRepos: strings(o.allowRepos, "allowRepos", 512),
        allowDirs: strings(o.allowDirs, "allowDirs", 4096),
        tasks,
      };
      if (o.name !== undefined) {
        const name = text(o.name, "name", 64);
        if (!MACHINE_NAME.test(name))
          throw bad("name", "name may contain only letters, digits, '.', '_' and '-'");
        hello.name = name;
      }
      return hello;
    }
    case "heartbeat":
      return readHeartbeat(o);
    case "events": {
      allowKeys(o, ["type", "taskId", "events"]);
      const id = taskId(o);
      if (!Array.isArray(o.events) || o.events.length === 0 || o.events.length > MAX_EVENTS_PER_FRAME) {
        throw bad("events", `events must be an array of 1 to ${MAX_EVENTS_PER_FRAME} events`);
      }
      const events = o.events.map((e, i) => {
        const r = parseRunEvent(e);
        if (!r.ok) throw bad(`events[${i}]${r.error.path ? `.${r.error.path}` : ""}`, r.error.message);
        return r.value;
      });
      for (let i = 1; i < events.length; i++) {
        if (events[i]!.seq !== events[i - 1]!.seq + 1)
          throw bad(`events[${i}].seq`, "seqs in a frame must be consecutive");
      }
      return { type, taskId: id, events };
    }
    default:
      return readError(o);
  }
}

function readEdgeFrame(o: Record<string, unknown>, type: FrameType): EdgeFrame {
  switch (type) {
    case "welcome": {
      allowKeys(o, ["type", "machine", "heartbeatMs", "acks"]);
      if (!Array.isArray(o.acks)) throw bad("acks", "acks must be an array");
      const acks = o.acks.map((a, i) => {
        if (!isPlainObject(a)) throw bad(`acks[${i}]`, "each ack must be an object");
        return { taskId: taskId(a), seq: seqOf(a.seq, `acks[${i}].seq`, 0) };
      });
      return {
        type,
        machine: text(o.machine, "machine", 64),
        heartbeatMs: seqOf(o.heartbeatMs, "heartbeatMs", 100),
        acks,
      };
    }
    case "heartbeat":
      return readHeartbeat(o);
    case "assign": {
      allowKeys(o, ["type", "taskId", "task"]);
      const task = parseTask(o.task);
      if (!task.ok) throw bad(`task.${task.error.path ?? ""}`, task.error.message);
      return { type, taskId: taskId(o), task: task.value };
    }
    case "ack":
      allowKeys(o, ["type", "taskId", "seq"]);
      return { type, taskId: taskId(o), seq: seqOf(o.seq, "seq", 0) };
    case "cancel":
      allowKeys(o, ["type", "taskId"]);
      return { type, taskId: taskId(o) };
    case "follow-up":
      allowKeys(o, ["type", "taskId", "prompt"]);
      return { type, taskId: taskId(o), prompt: text(o.prompt, "prompt", 200_000) };
    case "release":
      allowKeys(o, ["type", "taskId", "reason"]);
      return { type, taskId: taskId(o), reason: text(o.reason, "reason", 4096, 0) };
    default:
      return readError(o);
  }
}
