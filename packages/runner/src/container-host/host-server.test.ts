import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ContainerHost } from "./container-host.ts";
import { type RunningContainerHost, serveContainerHost } from "./host-server.ts";
import { isAlive } from "./process-tree.ts";

// The host's lifecycle and proxy, tested with real processes and sockets against a stand-in runner
// (stand-in-runner.fixture.ts). The real `runner serve` is covered by container-host.runner.test.ts.
const FIXTURE = path.join(import.meta.dirname, "stand-in-runner.fixture.ts");
const TOKEN = "host-token-for-tests";

let running: RunningContainerHost;
let root: string;
let url: string;

const auth = { authorization: `Bearer ${TOKEN}` };

async function call(method: string, p: string, body?: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json: json as Record<string, unknown>, headers: res.headers };
}

const start = (name: string, body?: unknown) => call("POST", `/containers/${name}/start`, body);
const pidGone = async (pid: number) => !(await isAlive({ pid, start: 0 }));

async function waitFor(check: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), "oa-chost-"));
  running = await serveContainerHost({
    port: 0,
    token: TOKEN,
    root,
    entrypoint: [process.execPath, FIXTURE],
    graceMs: 600,
    scanIntervalMs: 200,
    hostEnv: { PATH: process.env.PATH, HOME: process.env.HOME, HOST_SECRET_KEY: "must-not-leak" },
  });
  url = running.url;
});

afterAll(async () => {
  await running?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("auth and names", () => {
  it("refuses calls without the host token, or with a wrong one", async () => {
    const none = await call("GET", "/containers/a", undefined, {});
    expect(none.status).toBe(401);
    expect((none.json.error as { code: string }).code).toBe("unauthorized");
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(
      (await call("POST", "/containers/a/start", undefined, { authorization: "Bearer nope" })).status,
    ).toBe(401);
    expect((await call("GET", "/containers/a/fetch/healthz", undefined, {})).status).toBe(401);
  });

  it("answers 400 to bad names, 404 to reading one, and running:false to a name never started", async () => {
    for (const bad of ["a.b", "x".repeat(65), "a%20b", "a%2Fb", "%2E%2E%2E"]) {
      const r = await start(bad);
      expect(r.status, bad).toBe(400);
      expect((r.json.error as { code: string }).code).toBe("invalid_request");
    }
    expect((await call("DELETE", "/containers/a.b")).status).toBe(400);
    expect((await call("POST", "/containers/a.b/signal", { signal: "SIGTERM" })).status).toBe(400);
    expect((await call("GET", "/containers/a.b")).status).toBe(404);
    expect(await call("GET", "/containers/never-started")).toMatchObject({
      status: 200,
      json: { running: false },
    });
  });

  it("validates the start and signal bodies", async () => {
    expect((await start("v1", { env: { "BAD-NAME": "x" } })).status).toBe(400);
    expect((await start("v1", { env: { A: 1 } })).status).toBe(400);
    expect((await start("v1", { enableInternet: "no" })).status).toBe(400);
    expect((await start("v1", { entrypoint: ["x"] })).status).toBe(400);
    expect((await call("POST", "/containers/v1/signal", { signal: "SIGSTOP" })).status).toBe(400);
    expect((await call("PUT", "/containers/v1")).status).toBe(405);
    expect(await call("GET", "/containers/v1")).toMatchObject({ json: { running: false } });
  });
});

describe("lifecycle and proxy", () => {
  it("starts a container with only the env given, and is idempotent", async () => {
    const r = await start("c1", { env: { TASK_VAR: "hello" }, enableInternet: false });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: "running" });
    const port = r.json.port as number;
    expect(port).toBeGreaterThan(0);
    expect((await start("c1")).json.port).toBe(port);
    expect(await call("GET", "/containers/c1")).toMatchObject({
      json: { running: true, port, enableInternet: false },
    });

    const seen = await call("GET", "/containers/c1/fetch/env");
    expect(seen.status).toBe(200);
    const env = seen.json.env as Record<string, string>;
    expect(env.TASK_VAR).toBe("hello");
    expect(env.HOST_SECRET_KEY).toBeUndefined();
    expect(env.OPENAGENTS_CONTAINER_INTERNET).toBe("0");
    expect(env.TMPDIR).toBe(path.join(root, "c1", "tmp"));
    expect(Object.keys(env).sort()).toEqual(
      [
        "HOME",
        "OPENAGENTS_CONTAINER",
        "OPENAGENTS_CONTAINER_INTERNET",
        "OPENAGENTS_EXIT_WITH_PARENT",
        "PATH",
        "RUNNER_TOKEN",
        "TASK_VAR",
        "TMPDIR",
        "XDG_STATE_HOME",
      ].sort(),
    );
    // The runner's token is the host's secret for that container, never the host token itself.
    expect(env.RUNNER_TOKEN).not.toBe(TOKEN);
    expect(seen.json.argv).toEqual([
      "runner",
      "serve",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--work-root",
      path.join(root, "c1", "work"),
    ]);
    expect(existsSync(path.join(root, "c1", "runner.log"))).toBe(true);
  });

  it("proxies method, path, query, body and headers, and replaces the host token", async () => {
    const r = await fetch(`${url}/containers/c1/fetch/echo?x=1&y=%20z`, {
      method: "PUT",
      headers: { ...auth, "content-type": "text/plain", "x-custom": "kept" },
      body: "payload",
    });
    expect(r.status).toBe(201);
    expect(r.headers.get("x-stand-in")).toBe("1");
    const echoed = (await r.json()) as {
      method: string;
      url: string;
      body: string;
      headers: Record<string, string>;
    };
    expect(echoed).toMatchObject({ method: "PUT", url: "/echo?x=1&y=%20z", body: "payload" });
    expect(echoed.headers["x-custom"]).toBe("kept");
    expect(echoed.headers.authorization).not.toContain(TOKEN);
    // Runner errors pass through unchanged.
    const missing = await call("GET", "/containers/c1/fetch/nowhere");
    expect(missing).toMatchObject({ status: 404, json: { error: { code: "not_found" } } });
  });

  it("streams SSE through the proxy without buffering", async () => {
    const arrivals = await new Promise<number[]>((resolve, reject) => {
      const times: number[] = [];
      const req = request(`${url}/containers/c1/fetch/sse`, { headers: auth, agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers["content-type"]).toBe("text/event-stream");
        res.setEncoding("utf8");
        let buffered = "";
        res.on("data", (chunk: string) => {
          buffered += chunk;
          for (let i = buffered.indexOf("\n\n"); i >= 0; i = buffered.indexOf("\n\n")) {
            times.push(Date.now());
            buffered = buffered.slice(i + 2);
          }
        });
        res.on("end", () => resolve(times));
      });
      req.on("error", reject);
      req.end();
    });
    expect(arrivals).toHaveLength(3);
    // Sent 300 ms apart: received apart too, not in one lump at the end.
    expect(arrivals[2]! - arrivals[0]!).toBeGreaterThan(400);
  });

  it("proxies a WebSocket both ways", async () => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/containers/c1/fetch/ws?after=3`, {
      headers: auth,
    });
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on("message", (data) => {
        messages.push(data.toString());
        if (messages.length === 1) ws.send("ping-1");
        if (messages.length === 2) resolve();
      });
      ws.on("error", reject);
    });
    ws.close();
    expect(JSON.parse(messages[0]!)).toEqual({ hello: "/ws?after=3" });
    expect(messages[1]).toBe("echo:ping-1");

    const refused = await new Promise<number>((resolve) => {
      const bad = new WebSocket(`${url.replace("http", "ws")}/containers/c1/fetch/ws`);
      bad.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      bad.on("error", () => resolve(-1));
    });
    expect(refused).toBe(401);
  });

  it("delivers signals to the group and reports the exit", async () => {
    await start("sig1");
    expect((await call("POST", "/containers/sig1/signal", { signal: "SIGKILL" })).status).toBe(200);
    expect(await waitFor(async () => (await call("GET", "/containers/sig1")).json.running === false)).toBe(
      true,
    );
    expect((await call("GET", "/containers/sig1")).json).toMatchObject({ running: false, exitCode: 137 });
    const lost = await call("GET", "/containers/sig1/fetch/healthz");
    expect(lost).toMatchObject({ status: 503, json: { error: { code: "runner_lost" } } });
    expect((await call("POST", "/containers/sig1/signal", { signal: "SIGTERM" })).status).toBe(503);

    await start("sig2");
    expect((await call("POST", "/containers/sig2/signal", { signal: "SIGTERM" })).status).toBe(200);
    expect(await waitFor(async () => (await call("GET", "/containers/sig2")).json.running === false)).toBe(
      true,
    );
    expect((await call("GET", "/containers/sig2")).json.exitCode).toBe(0);
    // A stopped container starts again, on a new process.
    expect((await start("sig2")).status).toBe(200);
    expect((await call("GET", "/containers/sig2")).json.running).toBe(true);
  });

  it("DELETE stops the whole tree, helpers in their own session included", async () => {
    await start("tree1");
    const spawned = (await call("GET", "/containers/tree1/fetch/spawn")).json as {
      pid: number;
      self: number;
    };
    expect(await pidGone(spawned.pid)).toBe(false);
    const stopped = await call("DELETE", "/containers/tree1");
    expect(stopped).toMatchObject({ status: 200, json: { running: false, exitCode: 0 } });
    expect(await pidGone(spawned.self)).toBe(true);
    expect(await pidGone(spawned.pid)).toBe(true);
    expect(existsSync(path.join(root, "tree1"))).toBe(true);
    expect((await call("DELETE", "/containers/tree1?purge=1")).status).toBe(200);
    expect(existsSync(path.join(root, "tree1"))).toBe(false);
  });

  it("escalates to SIGKILL after the grace when SIGTERM is ignored", async () => {
    await start("stubborn", { env: { STANDIN_IGNORE_TERM: "1" } });
    const self = ((await call("GET", "/containers/stubborn/fetch/spawn")).json as { self: number }).self;
    const began = Date.now();
    const stopped = await call("DELETE", "/containers/stubborn");
    expect(Date.now() - began).toBeGreaterThanOrEqual(550);
    expect(stopped.json).toMatchObject({ running: false, exitCode: 137 });
    expect(await pidGone(self)).toBe(true);
  });

  it("reports a container killed from outside as stopped, and reaps what it left", async () => {
    await start("victim");
    const spawned = (await call("GET", "/containers/victim/fetch/spawn")).json as {
      pid: number;
      self: number;
    };
    // Let the background scan record the helper before its parent dies (it is reparented after).
    await new Promise((r) => setTimeout(r, 500));
    process.kill(spawned.self, "SIGKILL");
    expect(await waitFor(async () => (await call("GET", "/containers/victim")).json.running === false)).toBe(
      true,
    );
    expect((await call("GET", "/containers/victim")).json.exitCode).toBe(137);
    expect(await waitFor(() => pidGone(spawned.pid))).toBe(true);
  });

  it("fails a start whose runner exits before it is ready, with its stderr", async () => {
    const r = await start("broken", { env: { STANDIN_EXIT: "3" } });
    expect(r.status).toBe(502);
    expect(r.json.error).toMatchObject({ code: "runner_lost" });
    expect(String((r.json.error as { message: string }).message)).toContain("exiting on request");
    expect((await call("GET", "/containers/broken")).json).toMatchObject({ running: false, exitCode: 3 });
  });

  it("serialises concurrent starts of one name into one process", async () => {
    const [a, b] = await Promise.all([
      start("twin", { env: { STANDIN_READY_DELAY_MS: "300" } }),
      start("twin", { env: { STANDIN_READY_DELAY_MS: "300" } }),
    ]);
    expect(a.status).toBe(200);
    expect(b.json.port).toBe(a.json.port);
  });
});

describe("close", () => {
  it("stops every container the daemon started", async () => {
    const root2 = mkdtempSync(path.join(os.tmpdir(), "oa-chost2-"));
    const other = await serveContainerHost({
      port: 0,
      token: TOKEN,
      root: root2,
      entrypoint: [process.execPath, FIXTURE],
      graceMs: 300,
    });
    const pids: number[] = [];
    for (const name of ["one", "two"]) {
      const r = await fetch(`${other.url}/containers/${name}/start`, { method: "POST", headers: auth });
      expect(r.status).toBe(200);
      const s = (await (
        await fetch(`${other.url}/containers/${name}/fetch/spawn`, { headers: auth })
      ).json()) as {
        pid: number;
        self: number;
      };
      pids.push(s.pid, s.self);
    }
    await other.close();
    for (const pid of pids) expect(await pidGone(pid), `pid ${pid}`).toBe(true);
    expect(other.host.status("one").running).toBe(false);
    rmSync(root2, { recursive: true, force: true });
  });

  it("stops runners that a previous host left behind", async () => {
    const root3 = mkdtempSync(path.join(os.tmpdir(), "oa-chost3-"));
    const entrypoint = [process.execPath, FIXTURE];
    const crashed = new ContainerHost({ root: root3, entrypoint, graceMs: 300 });
    const started = await crashed.start("left", { env: {}, enableInternet: true });
    expect(started.ok).toBe(true);
    const pid = crashed.status("left").pid!;
    expect(existsSync(path.join(root3, "left", "runner.pid"))).toBe(true);
    // A new host on the same root, as after a crash of the first one: it finds and stops the runner.
    const next = new ContainerHost({ root: root3, entrypoint });
    await next.reapStale();
    expect(await pidGone(pid)).toBe(true);
    expect(await waitFor(() => crashed.status("left").running === false)).toBe(true);
    expect(existsSync(path.join(root3, "left", "runner.pid"))).toBe(false);
    await crashed.close();
    await next.close();
    rmSync(root3, { recursive: true, force: true });
  });
});
