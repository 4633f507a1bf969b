import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../../test/git-fixtures.ts";
import { readSse, readWs } from "../../test/stream-client.ts";
import { type RunningContainerHost, serveContainerHost } from "./host-server.ts";
import { descendantsOf, isAlive, type ProcessId } from "./process-tree.ts";

// The whole local path with the real runner: the host starts `openagents runner serve` (the CLI's bin,
// on this Node), a shell task clones a real bare repository in the sandbox, and its events come back
// through the host's proxy as SSE and as a WebSocket.
const BIN = path.resolve(import.meta.dirname, "../../../cli/bin/openagents.js");
const TOKEN = "host-token-runner-tests";
const auth = { authorization: `Bearer ${TOKEN}` };

let running: RunningContainerHost;
let root: string;
let repo: string;

async function call(method: string, p: string, body?: unknown) {
  const res = await fetch(`${running.url}${p}`, {
    method,
    headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), "oa-chost-real-"));
  repo = makeBareRepo({ "README.md": "# demo\n" }).bare;
  running = await serveContainerHost({
    port: 0,
    token: TOKEN,
    root,
    entrypoint: [process.execPath, BIN],
    graceMs: 3000,
    scanIntervalMs: 500,
  });
});

afterAll(async () => {
  await running?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(path.dirname(repo), { recursive: true, force: true });
});

async function hasSleep(tree: ProcessId[]): Promise<boolean> {
  for (const p of tree) {
    const comm = await readFile(`/proc/${p.pid}/comm`, "utf8").catch(() => "");
    if (comm.trim() === "sleep") return true;
  }
  return false;
}

describe("container host with the real runner", () => {
  it("runs a shell task through the proxy, with SSE and WebSocket events", async () => {
    const started = await call("POST", "/containers/real1/start", { enableInternet: false });
    expect(started).toMatchObject({ status: 200, json: { status: "running" } });
    expect(await call("GET", "/containers/real1/fetch/healthz")).toMatchObject({
      status: 200,
      json: { ok: true },
    });

    const task = await call("POST", "/containers/real1/fetch/tasks", {
      repo,
      agent: "shell",
      script: "echo hi",
    });
    expect(task.status).toBe(201);
    const id = task.json.id as string;
    const sse = await readSse(`${running.url}/containers/real1/fetch/tasks/${id}/events`, { token: TOKEN });
    expect(sse.status).toBe(200);
    const last = sse.events.at(-1)!;
    expect(last).toMatchObject({ type: "result", ok: true });
    expect(sse.events.some((e) => e.type === "log" && "text" in e && e.text === "hi")).toBe(true);
    expect(sse.events.map((e) => e.seq)).toEqual(sse.events.map((_, i) => i + 1));

    const ws = await readWs(
      `${running.url.replace("http", "ws")}/containers/real1/fetch/tasks/${id}/events`,
      TOKEN,
    );
    expect(ws.events.map((e) => e.seq)).toEqual(sse.events.map((e) => e.seq));
    expect(ws.code).toBe(1000);
  });

  it("DELETE during a task stops the runner and the sandboxed task", async () => {
    await call("POST", "/containers/real2/start");
    const pid = (await call("GET", "/containers/real2")).json.pid as number;
    const task = await call("POST", "/containers/real2/fetch/tasks", {
      repo,
      agent: "shell",
      script: "sleep 60",
    });
    expect(task.status).toBe(201);
    const id = task.json.id as string;
    const upToRunning = await readSse(`${running.url}/containers/real2/fetch/tasks/${id}/events`, {
      token: TOKEN,
      onEvent: (e) => e.type === "status" && e.phase === "running",
    });
    expect(upToRunning.events.at(-1)).toMatchObject({ type: "status", phase: "running" });
    // The sandboxed `sleep` is a descendant of the runner in its own session (bubblewrap's setsid).
    let tree: ProcessId[] = [];
    for (let i = 0; i < 100 && !(await hasSleep(tree)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      tree = await descendantsOf(pid);
    }
    expect(await hasSleep(tree)).toBe(true);
    expect(tree.length).toBeGreaterThan(0);
    const stopped = await call("DELETE", "/containers/real2");
    expect(stopped).toMatchObject({ status: 200, json: { running: false } });
    expect(await isAlive({ pid, start: 0 })).toBe(false);
    for (const p of tree) expect(await isAlive(p), `pid ${p.pid}`).toBe(false);
  });
});
