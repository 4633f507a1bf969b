import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { RunEvent, Task } from "@openagents/protocol";
import { expect, inject } from "vitest";
import { ensureSchema } from "../src/db/schema.ts";
import { createUser, issueToken } from "../src/db/users.ts";

/** A fresh user with an API token (each test gets its own, so its own TaskDOs and container). */
export async function newUser(login = `u${crypto.randomUUID().slice(0, 8)}`) {
  await ensureSchema(env.DB);
  const user = await createUser(env.DB, login);
  return { user, token: await issueToken(env.DB, user.id, "test") };
}

/** Calls the Worker like a client would. */
export function api(
  path: string,
  opts: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  return SELF.fetch(`http://edge.test${path}`, {
    method: opts.method ?? (body ? "POST" : "GET"),
    headers,
    body,
  });
}

/** The bare git repository the global setup made: every test task clones it for real. */
export const testRepo = (): string => inject("repo");

export const shellTask = (script: string): Task => ({ repo: testRepo(), agent: "shell", script });

export async function startTask(token: string, task: Task): Promise<string> {
  const res = await api("/api/task/start", { token, body: task });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** A WebSocket watcher of a task: collects every RunEvent it is sent. */
export async function watch(id: string, token: string, after = 0) {
  const res = await SELF.fetch(`http://edge.test/api/task/ws/${id}?after=${after}`, {
    headers: { upgrade: "websocket", authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const events: RunEvent[] = [];
  const waiters: Array<() => void> = [];
  ws.accept();
  ws.addEventListener("message", (e) => {
    events.push(JSON.parse(e.data as string) as RunEvent);
    for (const wake of waiters.splice(0)) wake();
  });
  /** Resolves once an event matches (checking those already received first). */
  const until = async (match: (e: RunEvent) => boolean, timeoutMs = 20_000): Promise<RunEvent[]> => {
    const deadline = Date.now() + timeoutMs;
    while (!events.some(match)) {
      if (Date.now() > deadline)
        throw new Error(`timed out; got ${JSON.stringify(events.map((e) => e.type))}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return events;
  };
  return {
    events,
    until,
    /** Waits for the n-th `result` (1 = the first turn's). */
    untilResult: (n = 1, timeoutMs?: number) =>
      until(() => events.filter((e) => e.type === "result").length >= n, timeoutMs),
    close: () => ws.close(1000, "done"),
  };
}

/** Calls the local container host directly (what the ContainerDO talks to). */
export async function host(path: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${env.LOCAL_CONTAINER_HOST}${path}`, {
    method: init.method ?? (init.body ? "POST" : "GET"),
    headers: {
      authorization: `Bearer ${env.LOCAL_CONTAINER_HOST_TOKEN}`,
      "content-type": "application/json",
    },
    body: init.body === undefined ? null : JSON.stringify(init.body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Seqs must be 1, 2, 3, … with no gap. */
export function expectGapFree(events: RunEvent[]): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
}
