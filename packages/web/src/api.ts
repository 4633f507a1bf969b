import type { AppError, ResultBody, Task, UsageBody } from "@openagents/protocol";
import { type GithubSignIn, toGithubSignIn } from "./github-login.ts";
import { type CreditInvoice, toInvoice } from "./lightning-buy.ts";
import type { Machine } from "./machines.ts";

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
  /** Whether this server offers sign-in with GitHub (public: asked before logging in). */
  githubSignIn: async (): Promise<GithubSignIn> => toGithubSignIn(await call("GET", "/api/auth/github")),
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

  // ---- My machines (`/api/tunnel/*`) ----
  async listMachines(): Promise<Machine[]> {
    const data = await call("GET", "/api/tunnel/machines");
    return (isObj(data) && Array.isArray(data.machines) ? data.machines : []).map(toMachine);
  },
  /** Creates a machine token; its secret and the `openagents connect` command come back this once. */
  async createMachineToken(init: { label?: string; allowRepos?: string[]; maxTasks?: number }) {
    const o = obj(await call("POST", "/api/tunnel/tokens", init));
    return { id: str(o.id), label: str(o.label), token: str(o.token), command: str(o.command) };
  },
  revokeMachineToken: (id: string) => call("DELETE", `/api/tunnel/tokens/${enc(id)}`),

  // ---- Model keys (`/api/keys`) ----
  async listKeys(): Promise<StoredKey[]> {
    const data = await call("GET", "/api/keys");
    return (isObj(data) && Array.isArray(data.keys) ? data.keys : []).map(toKey);
  },
  addKey: async (body: { provider: string; key: string; label?: string }): Promise<StoredKey> =>
    toKey(await call("POST", "/api/keys", body)),
  deleteKey: (id: string) => call("DELETE", `/api/keys/${enc(id)}`),
  async testKey(id: string): Promise<KeyTest> {
    const o = obj(await call("POST", `/api/keys/${enc(id)}/test`));
    return {
      ok: o.ok === true,
      status: num(o.status),
      message: str(o.message),
      lastUsed: strOrNull(o.lastUsed),
    };
  },

  // ---- Credits (`/api/credits`) ----
  async credits(): Promise<Credits> {
    const o = obj(await call("GET", "/api/credits"));
    return {
      creditsPerUsd: num(o.creditsPerUsd, 1_000_000),
      lightning: o.lightning !== false,
      balance: num(o.balance),
      metered: o.metered === true,
      dailyBudget: numOrNull(o.dailyBudget),
      weeklyBudget: numOrNull(o.weeklyBudget),
      spentDay: num(o.spentDay),
      spentWeek: num(o.spentWeek),
      spendable: num(o.spendable),
    };
  },
  async spendByTask(): Promise<TaskSpend[]> {
    const data = await call("GET", "/api/credits/tasks");
    return (isObj(data) && Array.isArray(data.tasks) ? data.tasks : []).map((raw) => {
      const o = obj(raw);
      return {
        taskId: str(o.taskId),
        credits: num(o.credits),
        tokens: num(o.tokens),
        containerSeconds: num(o.containerSeconds),
      };
    });
  },
  async setBudget(budget: { daily: number | null; weekly: number | null }) {
    const o = obj(await call("PUT", "/api/credits/budget", budget));
    return { daily: numOrNull(o.daily), weekly: numOrNull(o.weekly) };
  },
  async prices(): Promise<Prices> {
    const o = obj(await call("GET", "/api/credits/prices"));
    const models = isObj(o.models) ? o.models : {};
    return {
      creditsPerUsd: num(o.creditsPerUsd, 1_000_000),
      containerSecond: num(o.containerSecond),
      models: Object.entries(models).map(([model, raw]) => {
        const p = obj(raw);
        return { model, input: num(p.input), output: num(p.output) };
      }),
    };
  },
  /** Buying credits with Lightning: an invoice from the platform's wallet (`{amountUsd}` or `{credits}`). */
  createInvoice: async (body: { amountUsd: number } | { credits: number }): Promise<CreditInvoice> =>
    invoiceOf(await call("POST", "/api/credits/invoice", body)),
  /** The invoice's status; the server credits the user once it is paid. */
  checkInvoice: async (id: string): Promise<CreditInvoice> =>
    invoiceOf(await call("GET", `/api/credits/invoice/${enc(id)}`)),
  async estimate(task: Task): Promise<CostEstimate> {
    const o = obj(await call("POST", "/api/credits/estimate", task));
    const e = obj(o.estimate);
    const out: CostEstimate = {
      credits: num(e.credits),
      containerSeconds: num(e.containerSeconds),
      inputTokens: num(e.inputTokens),
      outputTokens: num(e.outputTokens),
      balance: num(o.balance),
      spendable: num(o.spendable),
      metered: o.metered === true,
      allowed: o.allowed !== false,
    };
    if (typeof o.reason === "string") out.reason = o.reason;
    return out;
  },
};

const obj = (v: unknown): Json => (isObj(v) ? v : {});
const num = (v: unknown, fallback = 0): number =>
  typeof v === "number" && Number.isFinite(v) ? v : fallback;
const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const strOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === "string") : []);

function invoiceOf(raw: unknown): CreditInvoice {
  const invoice = toInvoice(raw);
  if (!invoice) throw new ApiError(502, "bad_response", "the server's invoice answer is incomplete");
  return invoice;
}

function toMachine(raw: unknown): Machine {
  const o = obj(raw);
  const policy = obj(o.policy);
  const claimed = isObj(o.claimed) ? o.claimed : undefined;
  return {
    id: str(o.id),
    label: str(o.label),
    name: strOrNull(o.name),
    connected: o.connected === true,
    connectedAt: strOrNull(o.connectedAt),
    lastSeen: strOrNull(o.lastSeen),
    disconnectedAt: strOrNull(o.disconnectedAt),
    agents: strings(o.agents),
    maxTasks: numOrNull(o.maxTasks),
    running: num(o.running),
    tasks: strings(o.tasks),
    claimed: claimed
      ? {
          maxTasks: num(claimed.maxTasks),
          allowRepos: strings(claimed.allowRepos),
          allowDirs: strings(claimed.allowDirs),
        }
      : null,
    policy: { allowRepos: strings(policy.allowRepos), maxTasks: num(policy.maxTasks) },
    created: str(o.created),
    lastUsed: strOrNull(o.lastUsed),
  };
}

function toKey(raw: unknown): StoredKey {
  const o = obj(raw);
  return {
    id: str(o.id),
    provider: str(o.provider),
    label: str(o.label),
    last4: str(o.last4),
    created: str(o.created),
    lastUsed: strOrNull(o.lastUsed),
  };
}

/** A stored model key as the API shows it: never the key, only its last four characters. */
export interface StoredKey {
  id: string;
  provider: string;
  label: string;
  last4: string;
  created: string;
  lastUsed: string | null;
}

/** What the provider answered when the key was tried. */
export interface KeyTest {
  ok: boolean;
  status: number;
  message: string;
  lastUsed: string | null;
}

/** Balance and budgets, in credits. */
export interface Credits {
  creditsPerUsd: number;
  /** Whether this server sells credits (a Lightning wallet is configured). */
  lightning: boolean;
  balance: number;
  /** False: this account is not billed (e.g. a self-hosted stack), credits are informational. */
  metered: boolean;
  dailyBudget: number | null;
  weeklyBudget: number | null;
  spentDay: number;
  spentWeek: number;
  /** What can be spent now: the balance, capped by what the budgets leave. */
  spendable: number;
}

export interface TaskSpend {
  taskId: string;
  credits: number;
  tokens: number;
  containerSeconds: number;
}

export interface Prices {
  creditsPerUsd: number;
  containerSecond: number;
  /** Credits per million tokens, by model id prefix. */
  models: Array<{ model: string; input: number; output: number }>;
}

/** `POST /api/credits/estimate`: what a task should cost, and whether it may start. */
export interface CostEstimate {
  credits: number;
  containerSeconds: number;
  inputTokens: number;
  outputTokens: number;
  balance: number;
  spendable: number;
  metered: boolean;
  allowed: boolean;
  reason?: string;
}

/** The WebSocket address of a task's event stream, resuming after `after`. */
export function taskSocketUrl(base: { protocol: string; host: string }, id: string, after: number): string {
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${base.host}/api/task/ws/${enc(id)}?after=${after}`;
}
