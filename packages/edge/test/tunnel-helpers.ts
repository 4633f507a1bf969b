/// <reference path="./tunnel-context.d.ts" />
import { SELF } from "cloudflare:test";
import type { EdgeFrame, RunEvent, Task } from "@openagents/protocol";
import { expect, inject } from "vitest";
import { api } from "./worker-helpers.ts";

/** Creates a machine token for a user; returns its id and secret. */
export async function machineToken(
  userToken: string,
  body: { label?: string; allowRepos?: string[]; maxTasks?: number } = {},
): Promise<{ id: string; token: string }> {
  const res = await api("/api/tunnel/tokens", { token: userToken, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; token: string };
}

/** Opens `/api/tunnel/ws` with an Authorization header; the raw Response (101 or an error). */
export const tunnelUpgrade = (authorization: string) =>
  SELF.fetch("http://edge.test/api/tunnel/ws", { headers: { upgrade: "websocket", authorization } });

/**
 * A scripted machine speaking the tunnel frames from inside the test: what a well-behaved, a
 * lying or a broken `openagents connect` could send. Heartbeats every second so the edge keeps it.
 */
export async function scriptedMachine(token: string, hello: Record<string, unknown> = {}) {
  const res = await tunnelUpgrade(`Bearer ${token}`);
  if (res.status !== 101) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  const ws = res.webSocket!;
  ws.accept();
  const frames: EdgeFrame[] = [];
  let closed: { code: number; reason: string } | null = null;
  ws.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string) as EdgeFrame));
  ws.addEventListener("close", (e) => {
    closed = { code: e.code, reason: e.reason };
  });
  const beat = setInterval(() => {
    try {
      ws.send('{"type":"heartbeat","running":0}');
    } catch {
      clearInterval(beat);
    }
  }, 1000);
  const send = (frame: unknown) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  const until = async <T extends EdgeFrame>(
    match: (f: EdgeFrame) => f is T,
    timeoutMs = 10_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = frames.find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`timed out; frames: ${JSON.stringify(frames).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  send({
    type: "hello",
    version: 1,
    name: `m${crypto.randomUUID().slice(0, 6)}`,
    agents: ["shell", "claude-code", "codex"],
    maxTasks: 4,
    allowRepos: ["**"],
    allowDirs: ["/"],
    tasks: [],
    ...hello,
  });
  await until((f): f is Extract<EdgeFrame, { type: "welcome" }> => f.type === "welcome");
  return {
    ws,
    frames,
    send,
    until,
    closed: () => closed,
    assigned: (timeoutMs?: number) =>
      until((f): f is Extract<EdgeFrame, { type: "assign" }> => f.type === "assign", timeoutMs),
    /** Sends events with consecutive seqs from `from`. */
    events: (taskId: string, from: number, bodies: Array<Record<string, unknown>>) =>
      send({
        type: "events",
        taskId,
        events: bodies.map((b, i) => ({ seq: from + i, time: new Date().toISOString(), ...b })),
      }),
    ackAt: (taskId: string, seq: number, timeoutMs?: number) =>
      until(
        (f): f is Extract<EdgeFrame, { type: "ack" }> =>
          f.type === "ack" && f.taskId === taskId && f.seq >= seq,
        timeoutMs,
      ),
    close: () => {
      clearInterval(beat);
      try {
        ws.close(1000, "done");
      } catch {
        // Already closed.
      }
    },
  };
}

export const log = (text: string) => ({ type: "log", stream: "stdout", text });
export const okResult = (summary = "done") => ({
  type: "result",
  ok: true,
  exitCode: 0,
  summary,
  diffstat: { filesChanged: 0, insertions: 0, deletions: 0, files: [] },
  patch: "",
});

export const tunnelTask = (extra: Partial<Task> = {}): Task => ({
  repo: "https://github.com/me/app",
  agent: "shell",
  script: "echo hi",
  compute: "tunnel",
  ...extra,
});

/** Events without their times: what two runs of the same task must share. */
export const timeless = (events: RunEvent[]) => events.map(({ time: _t, ...rest }) => rest);

// ---- real `openagents connect` processes (test/support/tunnel-launcher.ts) --------------------

const launcher = () => inject("tunnelLauncher");

async function call(path: string, body?: unknown) {
  const res = await fetch(`${launcher()}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

/**
 * A real `openagents connect` process (tunnel mode) bridged to this Worker: the launcher runs it,
 * and a loop here pairs each of its WebSocket connections with `SELF` `/api/tunnel/ws`.
 */
export async function realMachine(args: string[]) {
  const id = `m${crypto.randomUUID().slice(0, 8)}`;
  await call("/machines", { id, args });
  let stopped = false;
  let current: { edge: WebSocket; side: WebSocket } | null = null;
  let connections = 0;
  const loop = async () => {
    while (!stopped) {
      const res = await fetch(`${launcher()}/bridge/${id}`, {
        headers: { upgrade: "websocket" },
      });
      const side = res.webSocket;
      if (!side) throw new Error(`launcher refused the bridge: ${res.status}`);
      side.accept();
      // One listener from the start: frames the machine sends while the edge socket opens must wait, not vanish.
      const pending: string[] = [];
      let edge: WebSocket | null = null;
      let sideClosed: { code: number; reason: string } | null = null;
      let wake: () => void = () => {};
      side.addEventListener("message", (e) => {
        if (edge) {
          try {
            edge.send(e.data as string);
          } catch {
            // The edge side closed.
          }
        } else pending.push(e.data as string);
        wake();
      });
      side.addEventListener("close", (e) => {
        sideClosed = { code: e.code, reason: e.reason };
        wake();
      });
      while (pending.length === 0 && sideClosed === null) await new Promise<void>((r) => (wake = r));
      if (pending.length === 0 || stopped) continue;
      const { authorization } = JSON.parse(pending.shift()!) as { authorization: string };
      const upgrade = await tunnelUpgrade(authorization);
      if (upgrade.status !== 101) {
        side.close(4401, `edge answered ${upgrade.status}`);
        continue;
      }
      const opened = upgrade.webSocket!;
      opened.accept();
      connections++;
      current = { edge: opened, side };
      const closed = new Promise<void>((resolve) => {
        opened.addEventListener("message", (e) => {
          try {
            side.send(e.data as string);
          } catch {
            // The machine side closed.
          }
        });
        const closeOther = (to: WebSocket, code: number, reason: string) => {
          try {
            to.close(code >= 4000 || code === 1000 ? code : 1011, reason);
          } catch {
            // Already closed.
          }
          resolve();
        };
        opened.addEventListener("close", (e) => closeOther(side, e.code, e.reason));
        side.addEventListener("close", (e) => closeOther(opened, e.code, e.reason));
        if (sideClosed) closeOther(opened, sideClosed.code, sideClosed.reason);
      });
      edge = opened;
      for (const text of pending.splice(0)) opened.send(text);
      await closed;
      current = null;
    }
  };
  const running = loop();
  running.catch(() => {});
  return {
    id,
    connections: () => connections,
    /** Drops the machine's tunnel WebSocket (both hops), as a network failure would. */
    dropTunnel: () => {
      const c = current;
      if (!c) return false;
      c.side.close(1011, "dropped by the test");
      c.edge.close(1011, "dropped by the test");
      return true;
    },
    info: () =>
      call(`/machines/${id}`) as Promise<{ running: boolean; exits: Array<number | null>; output: string }>,
    kill: () => call(`/machines/${id}/kill`, {}),
    restart: () => call(`/machines/${id}/start`, {}),
    stop: async () => {
      stopped = true;
      await call(`/machines/${id}/kill`, {});
      current?.edge.close(1000, "test over");
    },
  };
}
