import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EdgeFrame, MachineFrame, RunEvent } from "@openagents/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { credentialsFromEnv, TaskManager } from "../task-manager.ts";
import { TaskBuffer } from "./event-buffer.ts";
import { TunnelMachine } from "./tunnel-machine.ts";

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An edge on loopback that speaks the tunnel frames: records what the machine sends, answers by script. */
async function fakeEdge(onFrame: (f: MachineFrame, send: (f: EdgeFrame) => void, conn: number) => void) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => wss.once("listening", r));
  const frames: Array<{ conn: number; frame: MachineFrame }> = [];
  const auth: string[] = [];
  let conns = 0;
  wss.on("connection", (ws, req) => {
    const conn = ++conns;
    auth.push(req.headers.authorization ?? "");
    ws.on("message", (d) => {
      const frame = JSON.parse(d.toString()) as MachineFrame;
      frames.push({ conn, frame });
      onFrame(frame, (f) => ws.send(JSON.stringify(f)), conn);
    });
  });
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/tunnel`, frames, auth, wss };
}

function machine(
  url: string,
  dir: string,
  extra: Partial<ConstructorParameters<typeof TunnelMachine>[0]> = {},
) {
  const manager = new TaskManager({ workRoot: path.join(dir, "work"), credentials: credentialsFromEnv({}) });
  const m = new TunnelMachine({
    url,
    token: "oam_test",
    name: "box",
    maxTasks: 2,
    agents: ["shell"],
    allowRepos: ["https://github.com/me/*"],
    allowDirs: [path.join(dir, "allowed")],
    bufferDir: path.join(dir, "events"),
    runner: manager,
    minBackoffMs: 20,
    ...extra,
  });
  const controller = new AbortController();
  const done = m.run(controller.signal);
  cleanups.push(async () => {
    controller.abort();
    await done;
  });
  return { m, done };
}

const until = async (check: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
};

const event = (seq: number): RunEvent => ({
  seq,
  time: "2026-01-01T00:00:00.000Z",
  type: "log",
  stream: "stdout",
  text: `line ${seq}`,
});

describe("TunnelMachine", () => {
  it("a restarted machine resends its unacknowledged events from disk, then reports runner_lost", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tunnel-machine-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // What a killed process left: five events on disk, the last line torn mid-write.
    const events = path.join(dir, "events");
    const buffer = TaskBuffer.create(events, "t_abc");
    for (let s = 1; s <= 5; s++) buffer.append(event(s));
    buffer.close();
    writeFileSync(path.join(events, "t_abc.jsonl"), '{"seq":6,"ti', { flag: "a" });

    const edge = await fakeEdge((f, send) => {
      if (f.type === "hello")
        send({ type: "welcome", machine: "box", heartbeatMs: 5000, acks: [{ taskId: "t_abc", seq: 3 }] });
      if (f.type === "events") send({ type: "ack", taskId: f.taskId, seq: f.events.at(-1)!.seq });
    });
    machine(edge.url, dir);
    await until(() => !existsSync(path.join(events, "t_abc.jsonl")));
    expect(edge.auth).toEqual(["Bearer oam_test"]);
    const hello = edge.frames[0]!.frame;
    expect(hello).toMatchObject({
      type: "hello",
      name: "box",
      tasks: [{ taskId: "t_abc", lastSeq: 7, ended: true }],
    });
    const sent = edge.frames.flatMap(({ frame }) => (frame.type === "events" ? frame.events : []));
    expect(sent.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(sent.slice(2)).toMatchObject([
      { type: "error", code: "runner_lost" },
      { type: "result", ok: false },
    ]);
  });

  it("reconnects after a drop and resends from the edge's ack; refuses repos and paths it was not allowed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tunnel-machine-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const edge = await fakeEdge((f, send) => {
      if (f.type === "hello") send({ type: "welcome", machine: "box", heartbeatMs: 5000, acks: [] });
    });
    const { m } = machine(edge.url, dir);
    await until(() => m.status().connected);
    const assign = (taskId: string, repo: string) =>
      [...edge.wss.clients][0]!.send(
        JSON.stringify({ type: "assign", taskId, task: { repo, agent: "shell", script: "true" } }),
      );
    assign("t_1", "https://github.com/you/app");
    assign("t_2", "/etc");
    assign("t_3", path.join(dir, "allowed", "..", "..", "etc"));
    await until(() => edge.frames.filter((f) => f.frame.type === "error").length === 3);
    const errors = edge.frames.flatMap(({ frame }) => (frame.type === "error" ? [frame] : []));
    expect(errors).toMatchObject([
      { taskId: "t_1", code: "forbidden", message: expect.stringContaining("--allow-repo") },
      { taskId: "t_2", code: "forbidden", message: expect.stringContaining("--allow-dir") },
      { taskId: "t_3", code: "forbidden", message: expect.stringContaining("--allow-dir") },
    ]);
    const t0 = Date.now();
    m.dropConnection();
    await until(() => edge.frames.some((f) => f.conn === 2 && f.frame.type === "hello"));
    expect(Date.now() - t0).toBeLessThan(2000);
    await until(() => m.status().connected);
  });
});
