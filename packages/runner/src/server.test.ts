import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { RunEvent } from "@openagents/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../test/git-fixtures.ts";
import { readSse, readWs, refusedWs } from "../test/stream-client.ts";
import { createRunnerServer, type RunnerServer } from "./server.ts";
import { TaskManager } from "./task-manager.ts";

const TOKEN = "test-token-0123456789";
const credentials = { anthropicBaseUrl: "http://127.0.0.1:9", openaiBaseUrl: "http://127.0.0.1:9/v1" };
const repo = makeBareRepo();
const roots: string[] = [];

interface Runner {
  server: RunnerServer;
  manager: TaskManager;
  base: string;
  ws: string;
}

async function startRunner(opts: { token?: string; heartbeatMs?: number } = {}): Promise<Runner> {
  const workRoot = mkdtempSync(path.join(os.tmpdir(), "oa-serve-"));
  roots.push(workRoot);
  const manager = new TaskManager({ workRoot, credentials, graceMs: 500 });
  const server = createRunnerServer({ manager, ...opts });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, manager, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

let runner: Runner;
beforeAll(async () => {
  runner = await startRunner({ token: TOKEN, heartbeatMs: 150 });
});
afterAll(async () => {
  await runner?.server.shutdown();
  for (const root of [...roots, path.dirname(repo.bare)]) rmSync(root, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function api(method: string, route: string, body?: unknown, headers: Record<string, string> = auth) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const res = await fetch(`${runner.base}${route}`, init);
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect response bodies loosely
  const json: any = text ? JSON.parse(text) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

const shellTask = (script: string) => ({ repo: repo.bare, agent: "shell", script });

async function startTask(script: string): Promise<string> {
  const r = await api("POST", "/tasks", shellTask(script));
  expect(r.status).toBe(201);
  expect(r.headers.get("location")).toBe(`/tasks/${r.json.id}`);
  return r.json.id as string;
}

const seqs = (events: RunEvent[]) => events.map((e) => e.seq);
const stdout = (events: RunEvent[]) =>
  events.flatMap((e) => (e.type === "log" && e.stream === "stdout" ? [e.text] : []));
/** The stream's end per ARCHITECTURE.md: an `error` with `code` somewhere before a final failed `result`. */
const expectFailedEnd = (events: RunEvent[], code: string) => {
  expect(events.filter((e) => e.type === "error").map((e) => e.type === "error" && e.code)).toContain(code);
  expect(events.at(-1)).toMatchObject({ type: "result", ok: false });
  expect(events.filter((e) => e.type === "result")).toHaveLength(1);
};
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("runner HTTP API", () => {
  it("answers /healthz without a token", async () => {
    const r = await api("GET", "/healthz", undefined, {});
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, tasks: { running: expect.any(Number) } });
  });

  it("runs two tasks at once, each with its own complete stream", async () => {
    const [a, b] = await Promise.all([
      startTask("for i in $(seq 1 300); do echo A$i; done"),
      startTask("for i in $(seq 1 200); do echo B$i; done; exit 3"),
    ]);
    const [sa, sb] = await Promise.all([
      readSse(`${runner.base}/tasks/${a}/events`, { token: TOKEN }),
      readSse(`${runner.base}/tasks/${b}/events`, { token: TOKEN }),
    ]);
    for (const s of [sa, sb]) {
      expect(s.status).toBe(200);
      expect(s.headers["content-type"]).toMatch(/^text\/event-stream/);
      expect(s.ended).toBe(true);
      expect(seqs(s.events)).toEqual(range(1, s.events.length));
    }
    expect(stdout(sa.events)).toEqual(range(1, 300).map((i) => `A${i}`));
    expect(stdout(sb.events)).toEqual(range(1, 200).map((i) => `B${i}`));
    expect(sa.events.at(-1)).toMatchObject({ type: "result", ok: true, exitCode: 0 });
    expectFailedEnd(sb.events, "script_failed");
    expect(sb.events.at(-1)).toMatchObject({ exitCode: 3 });

    const ta = await api("GET", `/tasks/${a}`);
    expect(ta.status).toBe(200);
    expect(ta.json).toMatchObject({ id: a, state: "succeeded", lastSeq: sa.events.length });
    expect(ta.json.task).toEqual(shellTask("for i in $(seq 1 300); do echo A$i; done"));
    const { seq: _seq, time: _time, ...resultBody } = sa.events.at(-1)!;
    expect(ta.json.result).toEqual(resultBody);
    const tb = await api("GET", `/tasks/${b}`);
    expect(tb.json).toMatchObject({ state: "failed", result: { ok: false, exitCode: 3 } });

    const list = await api("GET", "/tasks");
    expect(list.status).toBe(200);
    const ids = (list.json.tasks as Array<{ id: string }>).map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining([a, b]));
  });

  it("resumes an SSE stream from Last-Event-ID or ?after= with no gap and no duplicate", async () => {
    const id = await startTask("for i in $(seq 1 3000); do echo line$i; done");
    const url = `${runner.base}/tasks/${id}/events`;
    // The uninterrupted reader and the interrupted ones run while the task is still producing.
    const whole = readSse(url, { token: TOKEN });
    const firstPart = await readSse(url, { token: TOKEN, stopAfter: 700 });
    expect(firstPart.ended).toBe(false);
    const last = String(firstPart.events.at(-1)!.seq);
    const byHeader = await readSse(url, { token: TOKEN, lastEventId: last });
    const byQuery = await readSse(`${url}?after=${last}`, { token: TOKEN });
    // Resumes of a resume, at an odd point, from a finished task (pure replay).
    const early = await readSse(`${url}?after=5`, { token: TOKEN, stopAfter: 3 });
    const rest = await readSse(url, { token: TOKEN, lastEventId: String(early.events.at(-1)!.seq) });

    const full = (await whole).events;
    expect(full.at(-1)).toMatchObject({ type: "result", ok: true });
    expect(stdout(full)).toHaveLength(3000);
    expect(seqs(full)).toEqual(range(1, full.length));
    expect([...firstPart.events, ...byHeader.events]).toEqual(full);
    expect([...firstPart.events, ...byQuery.events]).toEqual(full);
    expect([...full.slice(0, 5), ...early.events, ...rest.events]).toEqual(full);
    expect(byHeader.ended && byQuery.ended && rest.ended).toBe(true);

    // The header wins over the query (an EventSource reconnects to its original URL plus the header).
    const both = await readSse(`${url}?after=1`, { token: TOKEN, lastEventId: String(full.length - 1) });
    expect(both.events).toEqual(full.slice(-1));
    // Resuming after the result gives an empty stream that ends at once.
    const none = await readSse(`${url}?after=${full.length}`, { token: TOKEN });
    expect(none).toMatchObject({ status: 200, events: [], ended: true });
  });

  it("keeps every event in order for a reader that stalls (backpressure)", async () => {
    const id = await startTask("for i in $(seq 1 40000); do echo stall-test-line-with-some-padding-$i; done");
    const slow = await readSse(`${runner.base}/tasks/${id}/events`, { token: TOKEN, stallMs: 1500 });
    expect(slow.ended).toBe(true);
    expect(seqs(slow.events)).toEqual(range(1, slow.events.length));
    expect(stdout(slow.events)).toEqual(range(1, 40000).map((i) => `stall-test-line-with-some-padding-${i}`));
  });

  it("streams the same events over a WebSocket as over SSE, and resumes with ?after=", async () => {
    const id = await startTask("for i in $(seq 1 500); do echo ws$i; done; echo bye >&2");
    const [ws, sse] = await Promise.all([
      readWs(`${runner.ws}/tasks/${id}/events`, TOKEN),
      readSse(`${runner.base}/tasks/${id}/events`, { token: TOKEN }),
    ]);
    expect(ws.code).toBe(1000);
    expect(ws.events).toEqual(sse.events);
    expect(ws.events.at(-1)).toMatchObject({ type: "result", ok: true });
    const resumed = await readWs(`${runner.ws}/tasks/${id}/events?after=100`, TOKEN);
    expect(resumed.code).toBe(1000);
    expect(resumed.events).toEqual(sse.events.slice(100));
  });

  it("cancels a running task: error{cancelled}, then result.ok=false, and cancel is idempotent", async () => {
    const id = await startTask("echo started; sleep 30; echo never");
    const stream = readSse(`${runner.base}/tasks/${id}/events`, {
      token: TOKEN,
      onEvent: (e) => {
        if (e.type === "log" && e.text === "started") void api("POST", `/tasks/${id}/cancel`);
        return false;
      },
    });
    const { events, ended, comments } = await stream;
    expect(ended).toBe(true);
    expect(stdout(events)).toEqual(["started"]);
    expectFailedEnd(events, "cancelled");
    expect(comments).toContain("ping"); // the heartbeat ran (150 ms here) while the script slept
    const again = await api("POST", `/tasks/${id}/cancel`);
    expect(again.status).toBe(202);
    expect(again.json).toEqual({ id, state: "cancelled" });
    expect((await api("GET", `/tasks/${id}`)).json).toMatchObject({
      state: "cancelled",
      result: { ok: false },
    });
  });
});

describe("authentication", () => {
  const routes: Array<[string, string, unknown?]> = [
    ["GET", "/tasks"],
    ["POST", "/tasks", shellTask("echo hi")],
    ["GET", "/tasks/t_x"],
    ["POST", "/tasks/t_x/cancel"],
    ["POST", "/tasks/t_x/messages", { prompt: "more" }],
    ["GET", "/tasks/t_x/events"],
    ["GET", "/nowhere"],
  ];
  for (const [method, route, body] of routes) {
    it(`refuses ${method} ${route} without the right bearer token`, async () => {
      const attempts: Array<Record<string, string>> = [
        {},
        { authorization: "Bearer wrong" },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: TOKEN },
      ];
      for (const headers of attempts) {
        const r = await api(method, route, body, headers);
        expect(r.status).toBe(401);
        expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(r.json.error.code).toBe("unauthorized");
      }
    });
  }

  it("refuses a WebSocket upgrade without the right token", async () => {
    const id = await startTask("echo hi");
    for (const token of [undefined, "wrong"]) {
      const r = await refusedWs(`${runner.ws}/tasks/${id}/events`, token);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body).error.code).toBe("unauthorized");
    }
    expect((await readWs(`${runner.ws}/tasks/${id}/events`, TOKEN)).code).toBe(1000);
  });
});

describe("bad input", () => {
  const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at |\.ts:\d+/);

  it.each([
    ["malformed JSON", "{ repo: ", 400, "invalid_request", undefined],
    ["an empty body", "", 400, "invalid_request", undefined],
    ["a JSON array", "[]", 400, "invalid_task", ""],
    ["a missing repo", { agent: "shell", script: "true" }, 400, "invalid_task", "repo"],
    ["an unknown agent", { repo: "x", agent: "gpt-pilot", prompt: "hi" }, 400, "invalid_task", "agent"],
    ["a shell task without script", { repo: "x", agent: "shell" }, 400, "invalid_task", "script"],
    [
      "a bad network allowlist",
      { ...shellTask("true"), network: { mode: "allowlist", allow: ["a b"] } },
      400,
      "invalid_task",
      "network.allow[0]",
    ],
    ["an unknown field", { ...shellTask("true"), cpu: 4 }, 400, "invalid_task", "cpu"],
  ])("POST /tasks with %s answers a JSON 400", async (_name, body, status, code, where) => {
    const r = await api("POST", "/tasks", body);
    expect(r.status).toBe(status);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.json.error.code).toBe(code);
    expect(r.json.error.path).toBe(where);
    expect(typeof r.json.error.message).toBe("string");
    noStack(r.text);
  });

  it("refuses a wrong content type with 415 and an oversize body with 413", async () => {
    const plain = await api("POST", "/tasks", JSON.stringify(shellTask("true")), {
      ...auth,
      "content-type": "text/plain",
    });
    expect(plain.status).toBe(415);
    expect(plain.json.error.code).toBe("unsupported_media_type");
    const huge = await api("POST", "/tasks", { ...shellTask("true"), setup: "x".repeat(1_100_000) });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe("payload_too_large");
    // The server stays healthy for the next request.
    expect((await api("GET", "/healthz", undefined, {})).status).toBe(200);
  });

  it("answers 413 to a chunked body that grows past the limit", async () => {
    const small = await startRunner({ token: TOKEN });
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode(" ".repeat(400_000)));
        c.close();
      },
    });
    const res = await fetch(`${small.base}/tasks`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    await small.server.shutdown();
  });

  it("answers 404 for unknown ids and routes, 405 for wrong methods, 400 for bad resume points", async () => {
    for (const [method, route, body] of [
      ["GET", "/tasks/t_nope"],
      ["POST", "/tasks/t_nope/cancel"],
      ["POST", "/tasks/t_nope/messages", { prompt: "more" }],
      ["GET", "/tasks/t_nope/events"],
      ["GET", "/tasks/t_nope/other"],
      ["GET", "//tasks"],
      ["GET", "/"],
    ] as Array<[string, string, unknown?]>) {
      const r = await api(method, route, body);
      expect(r.status, `${method} ${route}`).toBe(404);
      expect(r.json.error.code).toBe("not_found");
    }
    const ws = await refusedWs(`${runner.ws}/tasks/t_nope/events`, TOKEN);
    expect(ws.status).toBe(404);

    const wrong = await api("DELETE", "/tasks");
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET, POST");
    expect(wrong.json.error.code).toBe("invalid_request");

    const id = await startTask("echo hi");
    for (const q of ["?after=-1", "?after=abc", "?after=999999"]) {
      const r = await api("GET", `/tasks/${id}/events${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.error).toMatchObject({ code: "invalid_request", path: "after" });
    }
    const bad = await readSse(`${runner.base}/tasks/${id}/events`, { token: TOKEN, lastEventId: "x" });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body!).error.path).toBe("Last-Event-ID");
  });

  it("validates follow-up messages: 400 bad body, 409 while running, the manager's answer after", async () => {
    const id = await startTask("sleep 30");
    expect((await api("POST", `/tasks/${id}/messages`, { prompt: "" })).json.error.path).toBe("prompt");
    expect((await api("POST", `/tasks/${id}/messages`, { text: "x" })).json.error.path).toBe("text");
    const running = await api("POST", `/tasks/${id}/messages`, { prompt: "and then?" });
    expect(running.status).toBe(409);
    expect(running.json.error.code).toBe("conflict");
    expect((await api("POST", `/tasks/${id}/cancel`)).status).toBe(202);
    await readSse(`${runner.base}/tasks/${id}/events`, { token: TOKEN });
    // A shell task takes no follow-up turn: the manager's refusal reaches the client as a 4xx.
    const ended = await api("POST", `/tasks/${id}/messages`, { prompt: "and then?" });
    expect(ended.status).toBe(400);
    expect(ended.json.error.code).toBe("invalid_request");
  });
});

describe("graceful shutdown", () => {
  it("cancels running tasks, delivers their last events to SSE and WebSocket watchers, then closes", async () => {
    const own = await startRunner();
    const post = await fetch(`${own.base}/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(shellTask("echo up; sleep 60")),
    });
    const { id } = (await post.json()) as { id: string };
    let up: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      up = resolve;
    });
    const sse = readSse(`${own.base}/tasks/${id}/events`, {
      onEvent: (e) => {
        if (e.type === "log" && e.text === "up") up();
        return false;
      },
    });
    await started;
    const ws = readWs(`${own.ws}/tasks/${id}/events`);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await own.server.shutdown();
    expect(Date.now() - t0).toBeLessThan(10_000);
    const [s, w] = await Promise.all([sse, ws]);
    expectFailedEnd(s.events, "cancelled");
    expect(w.events).toEqual(s.events);
    expect(s.ended).toBe(true);
    expect(w.code).toBe(1000);
    expect(own.manager.get(id)?.state()).toBe("cancelled");
    await expect(fetch(`${own.base}/healthz`)).rejects.toThrow();
  });
});
