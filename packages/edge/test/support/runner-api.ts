/**
 * A small process that speaks the runner HTTP API (ARCHITECTURE §4) for the edge's workerd tests:
 * `shell` tasks really run their script with bash (stdout/stderr lines become `log` events, the
 * exit code the `result`); agent tasks answer each prompt with one `agent` message and a `usage`
 * event, so follow-up turns can be tested without a model. Started by the test container host with
 * `RUNNER_TOKEN` and `PORT` in its environment; prints `listening on http://127.0.0.1:PORT`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fstatSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { emptyDiffstat, parseTask, type RunEvent, type RunEventBody, type Task } from "@openagents/protocol";

interface RunnerTask {
  id: string;
  task: Task;
  events: RunEvent[];
  running: boolean;
  child: ChildProcess | null;
  watchers: Set<(event: RunEvent) => void>;
}

const token = process.env.RUNNER_TOKEN ?? "";
const tasks = new Map<string, RunnerTask>();
let nextId = 1;

function emit(t: RunnerTask, body: RunEventBody): void {
  const event = { seq: t.events.length + 1, time: new Date().toISOString(), ...body } as RunEvent;
  t.events.push(event);
  if (body.type === "result") t.running = false;
  for (const watch of t.watchers) watch(event);
}

function finish(t: RunnerTask, ok: boolean, exitCode: number | null, summary: string): void {
  emit(t, { type: "result", ok, exitCode, summary, diffstat: emptyDiffstat(), patch: "" });
}

function runTurn(t: RunnerTask, prompt: string | undefined): void {
  t.running = true;
  emit(t, { type: "status", phase: "running" });
  if (t.task.agent !== "shell") {
    emit(t, { type: "agent", kind: "message", text: `echo: ${prompt}` });
    emit(t, { type: "usage", inputTokens: 10, outputTokens: 5, costUsd: 0.001 });
    setTimeout(() => finish(t, true, 0, `answered: ${prompt}`), 10);
    return;
  }
  const child = spawn("bash", ["-c", t.task.script ?? ""], { stdio: ["ignore", "pipe", "pipe"] });
  t.child = child;
  for (const [stream, source] of [
    ["stdout", child.stdout],
    ["stderr", child.stderr],
  ] as const) {
    let buffered = "";
    source.setEncoding("utf8");
    source.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const text of lines) emit(t, { type: "log", stream, text });
    });
  }
  child.on("close", (code) => {
    t.child = null;
    if (!t.running) return;
    finish(t, code === 0, code, code === 0 ? "script succeeded" : `script exited with ${code}`);
  });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function streamEvents(req: IncomingMessage, res: ServerResponse, t: RunnerTask, after: number): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.flushHeaders();
  const write = (event: RunEvent) => {
    res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (event.type === "result") end();
  };
  const end = () => {
    t.watchers.delete(write);
    res.end();
  };
  const backlog = t.events.filter((e) => e.seq > after);
  for (const event of backlog) write(event);
  if (res.writableEnded) return;
  if (!t.running) {
    end();
    return;
  }
  t.watchers.add(write);
  req.on("close", () => t.watchers.delete(write));
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://runner");
  if (url.pathname === "/healthz") return send(res, 200, { ok: true });
  if (req.headers.authorization !== `Bearer ${token}`) {
    return send(res, 401, { error: { code: "unauthorized", message: "bad runner token" } });
  }
  if (url.pathname === "/tasks" && req.method === "POST") {
    const parsed = parseTask(await readBody(req));
    if (!parsed.ok) return send(res, 400, { error: parsed.error });
    const t: RunnerTask = {
      id: `r${nextId++}`,
      task: parsed.value,
      events: [],
      running: true,
      child: null,
      watchers: new Set(),
    };
    tasks.set(t.id, t);
    runTurn(t, parsed.value.prompt);
    return send(res, 201, { id: t.id });
  }
  const m = /^\/tasks\/([^/]+)(?:\/(events|cancel|messages))?$/.exec(url.pathname);
  const t = m ? tasks.get(m[1]!) : undefined;
  if (!m || !t) return send(res, 404, { error: { code: "not_found", message: `no ${url.pathname}` } });
  switch (m[2]) {
    case undefined:
      return send(res, 200, { id: t.id, state: t.running ? "running" : "done", lastSeq: t.events.length });
    case "events":
      return streamEvents(
        req,
        res,
        t,
        Number(req.headers["last-event-id"] ?? url.searchParams.get("after") ?? 0),
      );
    case "cancel":
      if (t.running) {
        t.running = false;
        t.child?.kill("SIGKILL");
        emit(t, { type: "error", code: "cancelled", message: "cancelled by request" });
        finish(t, false, null, "cancelled");
      }
      return send(res, 202, { id: t.id, state: "done" });
    case "messages": {
      if (t.running) return send(res, 409, { error: { code: "conflict", message: "still running" } });
      const { prompt } = (await readBody(req)) as { prompt: string };
      const after = t.events.length;
      runTurn(t, prompt);
      return send(res, 202, { id: t.id, state: "running", after });
    }
  }
});

// `--port N` (what the real container host passes, like `runner serve`) wins over $PORT.
const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : Number(process.env.PORT ?? 0);
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`listening on http://127.0.0.1:${bound}\n`);
});

// When the test host holds our stdin as a pipe: when it goes away, so do we (and our scripts).
if (fstatSync(0).isFIFO() || fstatSync(0).isSocket()) {
  process.stdin.on("end", () => {
    for (const t of tasks.values()) t.child?.kill("SIGKILL");
    process.exit(1);
  });
  process.stdin.resume();
}

// Like `runner serve`: SIGTERM asks running scripts to stop and exits once they have. A script that
// ignores SIGTERM keeps the process alive, which is what the SIGKILL escalation test needs.
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  const children = [...tasks.values()].flatMap((t) => (t.child ? [t.child] : []));
  if (children.length === 0) process.exit(0);
  let left = children.length;
  for (const child of children) {
    child.once("close", () => {
      if (--left === 0) process.exit(0);
    });
    child.kill("SIGTERM");
  }
});
