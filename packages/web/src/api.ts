import type { AppError, ResultBody, Task, UsageBody } from "@openagents/protocol";

/** A failed API call: the server's `{error:{code,message,path?}}`, or a network failure (`status` 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly path: string | undefined;

  constructor(status: number, code: string, message: string, path?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
  }
}

/** A row of the task list. */
export interface TaskSummary {
  id: string;
  status: string;
  createdAt: string;
  repo: string;
  agent: string;
  compute: string;
  /** The first line of the prompt or script, when the server gives it. */
  title: string;
  /** Highest event seq when the list was read, when the server says. */
  lastSeq?: number;
}

/** One task as `GET /api/tasks/:id` describes it. */
export interface TaskRecord extends TaskSummary {
  task?: Partial<Task>;
  /** The last result without its patch (the patch comes with the `result` event). */
  result?: Partial<Omit<ResultBody, "patch" | "type">>;
  usage?: Partial<Omit<UsageBody, "type">> & { containerSeconds?: number };
}

export type ContainerState = "cold" | "starting" | "running" | "sleeping";
const CONTAINER_STATES: readonly string[] = ["cold", "starting", "running", "sleeping"];

/** The answer to a follow-up: the stream continues after `after`, when the server says. */
export interface FollowUp {
  after?: number;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);

// The one place that knows the edge's response shapes. It accepts `status` or the runner's `state`,
// `created` or `createdAt`, and a repo/agent/compute at the top level or inside `task`.
function toSummary(raw: unknown): TaskSummary {
  const o = isObj(raw) ? raw : {};
  const task = isObj(o.task) ? o.task : {};
  const summary: TaskSummary = {
    id: str(o.id),
    status: str(o.status, str(o.state, "unknown")),
    createdAt: str(o.createdAt, str(o.created)),
    repo: str(o.repo, str(task.repo)),
    agent: str(o.agent, str(task.agent)),
    compute: str(o.compute, str(task.compute, "cloud")),
    title: str(o.title),
  };
  if (typeof o.lastSeq === "number") summary.lastSeq = o.lastSeq;
  return summary;
}

function toRecord(raw: unknown): TaskRecord {
  const o = isObj(raw) ? raw : {};
  const record: TaskRecord = toSummary(raw);
  if (isObj(o.task)) record.task = o.task as Partial<Task>;
  if (isObj(o.result)) record.result = o.result as TaskRecord["result"];
  if (isObj(o.usage)) record.usage = o.usage as TaskRecord["usage"];
  return record;
}

let onUnauthorized: (() => void) | undefined;

/** Called when any call but the login itself answers 401 (the session expired): the app shows the login. */
export function setUnauthorizedHandler(handler: (() => void) | undefined): void {
  onUnauthorized = handler;
}

async function call(method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? { accept: "application/json" } : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", `cannot reach the server (${e instanceof Error ? e.message : e})`);
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text === "" ? undefined : JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    if (res.status === 401 && path !== "/api/session" && path !== "/api/me") onUnauthorized?.();
    const e = isObj(data) && isObj(data.error) ? (data.error as Partial<AppError>) : {};
    throw new ApiError(
      res.status,
      str(e.code, "http_error"),
      str(e.message, `${method} ${path} failed with HTTP ${res.status}`),
      typeof e.path === "string" ? e.path : undefined,
    );
  }
  return data;
}

const enc = encodeURIComponent;

/**
 * The edge HTTP API, same origin, authenticated by the session cookie.
 *
 * @example
 * const { id } = await api.startTask(task);
 * const record = await api.getTask(id);
 */
export const api = {
  /** Resolves when logged in; rejects with status 401 when not. */
  me: () => call("GET", "/api/me"),
  login: (token: string) => call("POST", "/api/session", { token }),
  async listTasks(): Promise<TaskSummary[]> {
    const data = await call("GET", "/api/tasks");
    const list = isObj(data) && Array.isArray(data.tasks) ? data.tasks : Array.isArray(data) ? data : [];
    return list.map(toSummary).filter((t) => t.id !== "");
  },
  async startTask(task: Task): Promise<{ id: string }> {
    const data = await call("POST", "/api/task/start", task);
    const id = isObj(data) ? str(data.id) : "";
    if (id === "") throw new ApiError(502, "bad_response", "the server did not return a task id");
    return { id };
  },
  getTask: async (id: string): Promise<TaskRecord> => toRecord(await call("GET", `/api/tasks/${enc(id)}`)),
  cancelTask: (id: string) => call("POST", `/api/tasks/${enc(id)}/cancel`),
  async sendMessage(id: string, prompt: string): Promise<FollowUp> {
    const data = await call("POST", `/api/tasks/${enc(id)}/messages`, { prompt });
    return isObj(data) && typeof data.after === "number" ? { after: data.after } : {};
  },
  async containerState(): Promise<ContainerState | undefined> {
    const data = await call("GET", "/api/container");
    const state = isObj(data) ? str(data.state) : "";
    return CONTAINER_STATES.includes(state) ? (state as ContainerState) : undefined;
  },
};

/** The WebSocket address of a task's event stream, resuming after `after`. */
export function taskSocketUrl(base: { protocol: string; host: string }, id: string, after: number): string {
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${base.host}/api/task/ws/${enc(id)}?after=${after}`;
}
