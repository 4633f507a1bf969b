import { env } from "cloudflare:workers";
import type { EdgeFrame } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import migration from "../migrations/0002_tunnel.sql?raw";
import { TUNNEL_SCHEMA } from "../src/tunnel-tokens.ts";
import { log, machineToken, okResult, scriptedMachine, tunnelTask, tunnelUpgrade } from "./tunnel-helpers.ts";
import { api, expectGapFree, newUser, startTask, watch } from "./worker-helpers.ts";

const isError = (f: EdgeFrame): f is Extract<EdgeFrame, { type: "error" }> => f.type === "error";
const machines = async (token: string) =>
  (
    (await (await api("/api/tunnel/machines", { token })).json()) as {
      machines: Array<Record<string, unknown>>;
    }
  ).machines;

describe("machine tokens and connections", () => {
  it("a token is shown once, stored hashed, listed; its machine shows as connected; revoking closes it at once", async () => {
    const { token } = await newUser();
    const created = await machineToken(token, { label: "laptop", maxTasks: 2 });
    expect(created).toMatchObject({ label: "laptop", maxTasks: 2, allowRepos: ["**"] });
    expect(created.token).toMatch(/^oam_[0-9a-f]{64}$/);
    expect((created as unknown as { command: string }).command).toContain(`--token ${created.token}`);
    const listed = await (await api("/api/tunnel/tokens", { token })).text();
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.token);
    const row = await env.DB.prepare("SELECT * FROM tunnel_tokens WHERE id = ?").bind(created.id).first();
    expect(JSON.stringify(row)).not.toContain(created.token);

    expect(await machines(token)).toEqual([expect.objectContaining({ id: created.id, connected: false })]);
    const m = await scriptedMachine(created.token, { name: "laptop-1" });
    expect(await machines(token)).toEqual([
      expect.objectContaining({ id: created.id, name: "laptop-1", connected: true, maxTasks: 2, running: 0 }),
    ]);

    const del = await api(`/api/tunnel/tokens/${created.id}`, { token, method: "DELETE" });
    expect(del.status).toBe(204);
    // The live connection is closed by the DELETE itself, with the "revoked" code.
    for (let i = 0; i < 50 && m.closed() === null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(m.closed()).toMatchObject({ code: 4401 });
    const again = await tunnelUpgrade(`Bearer ${created.token}`);
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ error: { code: "unauthorized" } });
    expect(await machines(token)).toEqual([]);
    expect((await api(`/api/tunnel/tokens/${created.id}`, { token, method: "DELETE" })).status).toBe(404);
  });

  it("refuses user API tokens, bad bodies and another user's token ids", async () => {
    const a = await newUser();
    const b = await newUser();
    expect((await tunnelUpgrade(`Bearer ${a.token}`)).status).toBe(401);
    expect((await tunnelUpgrade("Bearer nope")).status).toBe(401);
    for (const body of [{ maxTasks: 0 }, { allowRepos: [] }, { label: "" }, { admin: true }, [1]]) {
      const res = await api("/api/tunnel/tokens", { token: a.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const mine = await machineToken(a.token);
    expect((await api(`/api/tunnel/tokens/${mine.id}`, { token: b.token, method: "DELETE" })).status).toBe(
      404,
    );
    expect(await machines(b.token)).toEqual([]);
    const plain = await api("/api/tunnel/ws", { headers: { authorization: `Bearer ${mine.token}` } });
    expect(plain.status).toBe(400);
  });

  it("the D1 migration and the schema the Worker applies are the same statements", () => {
    const statements = migration
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("--"))
      .map((l) => l.trim());
    expect(statements).toEqual([...TUNNEL_SCHEMA]);
  });
});

describe("dispatch to machines", () => {
  it("a tunnel task runs on the connected machine: events relayed with acks, result, status", async () => {
    const { token } = await newUser();
    const m = await scriptedMachine((await machineToken(token)).token, { name: "box" });
    const id = await startTask(token, tunnelTask({ env: { CI: "1" } }));
    const assign = await m.assigned();
    expect(assign).toMatchObject({
      taskId: id,
      task: { repo: "https://github.com/me/app", env: { CI: "1" } },
    });
    const w = await watch(id, token);
    m.events(id, 1, [{ type: "status", phase: "running" }, log("hello")]);
    await m.ackAt(id, 2);
    m.events(id, 3, [okResult()]);
    const events = await w.untilResult();
    expectGapFree(events);
    expect(events.map((e) => [e.type, "phase" in e ? e.phase : "text" in e ? e.text : ""])).toEqual([
      ["status", "queued"],
      ["status", "provisioning"],
      ["status", "running"],
      ["log", "hello"],
      ["result", ""],
    ]);
    expect(events[1]).toMatchObject({ message: 'on machine "box"' });
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({
      status: "succeeded",
      compute: "tunnel",
      usage: { containerSeconds: 0 },
    });
    await m.ackAt(id, 3);
    m.close();
  });

  it("no machine: the task waits queued with a clear status and starts when one connects", async () => {
    const { token } = await newUser();
    const secret = (await machineToken(token)).token;
    const id = await startTask(token, tunnelTask());
    const w = await watch(id, token);
    await w.until((e) => e.type === "status" && (e.message ?? "").startsWith("waiting for a machine"));
    expect(w.events[1]).toMatchObject({
      phase: "queued",
      message: "waiting for a machine: none of your machines is connected (run openagents connect)",
    });
    const m = await scriptedMachine(secret);
    expect((await m.assigned()).taskId).toBe(id);
    m.events(id, 1, [okResult()]);
    await w.untilResult();
    m.close();
  });

  it("no machine within TUNNEL_QUEUE_TIMEOUT: the task fails with a timeout", async () => {
    const { token } = await newUser();
    const id = await startTask(token, tunnelTask());
    const events = await (await watch(id, token)).untilResult(1, 15_000);
    expect(events.slice(-2)).toMatchObject([
      {
        type: "error",
        code: "timeout",
        message: expect.stringContaining("no machine took the task within 3s"),
      },
      { type: "result", ok: false },
    ]);
  });

  it("user A's machine never receives user B's task", async () => {
    const a = await newUser();
    const b = await newUser();
    const ma = await scriptedMachine((await machineToken(a.token)).token);
    const id = await startTask(b.token, tunnelTask());
    const w = await watch(id, b.token);
    await w.until((e) => e.type === "status" && (e.message ?? "").includes("none of your machines"));
    await new Promise((r) => setTimeout(r, 300));
    expect(ma.frames.filter((f) => f.type === "assign")).toEqual([]);
    // Nor can A's machine write into B's task.
    ma.events(id, 1, [log("injected")]);
    const refused = await ma.until(isError);
    expect(refused).toMatchObject({ code: "not_found", taskId: id });
    expect(w.events.some((e) => e.type === "log")).toBe(false);
    await (await api(`/api/tasks/${id}/cancel`, { token: b.token, method: "POST" })).text();
    ma.close();
  });

  it("a machine that lies about its capabilities only gets what its token allows", async () => {
    const { token } = await newUser();
    const secret = (await machineToken(token, { allowRepos: ["https://github.com/me/*"], maxTasks: 1 }))
      .token;
    const m = await scriptedMachine(secret, { maxTasks: 64, allowRepos: ["**"], allowDirs: ["/"] });
    const other = await startTask(token, tunnelTask({ repo: "https://github.com/you/secret" }));
    const local = await startTask(token, tunnelTask({ repo: "/etc" }));
    const first = await startTask(token, tunnelTask());
    const second = await startTask(token, tunnelTask({ repo: "https://github.com/me/other.git" }));
    expect((await m.assigned()).taskId).toBe(first);
    const ws = await watch(second, token);
    await ws.until((e) => e.type === "status" && (e.message ?? "").includes("busy"));
    for (const id of [other, local]) {
      const w = await watch(id, token);
      await w.until((e) => e.type === "status" && (e.message ?? "").includes("its token does not allow"));
    }
    expect(m.frames.filter((f) => f.type === "assign").map((f) => (f as { taskId: string }).taskId)).toEqual([
      first,
    ]);
    // Capacity is the edge's count: when the first ends, the second goes out.
    m.events(first, 1, [okResult()]);
    await m.until((f): f is EdgeFrame => f.type === "assign" && f.taskId === second);
    const info = await machines(token);
    expect(info[0]).toMatchObject({ maxTasks: 1, running: 1, claimed: { maxTasks: 64 } });
    m.close();
  });

  it("cancel and follow-up reach the machine", async () => {
    const { token } = await newUser();
    const m = await scriptedMachine((await machineToken(token)).token);
    const id = await startTask(token, tunnelTask({ agent: "claude-code", script: undefined, prompt: "hi" }));
    await m.assigned();
    const w = await watch(id, token);
    m.events(id, 1, [{ type: "agent", kind: "message", text: "one" }, okResult()]);
    await w.untilResult(1);
    const res = await api(`/api/tasks/${id}/messages`, { token, body: { prompt: "again" } });
    expect(res.status, await res.clone().text()).toBe(202);
    await m.until((f): f is EdgeFrame => f.type === "follow-up" && f.prompt === "again");
    m.events(id, 3, [{ type: "agent", kind: "message", text: "two" }]);
    await w.until((e) => e.type === "agent" && e.text === "two");
    expect((await api(`/api/tasks/${id}/cancel`, { token, method: "POST" })).status).toBe(202);
    await m.until((f): f is EdgeFrame => f.type === "cancel" && f.taskId === id);
    m.events(id, 4, [
      { type: "error", code: "cancelled", message: "cancelled by the user" },
      { ...okResult("cancelled"), ok: false, exitCode: null },
    ]);
    const events = await w.untilResult(2);
    expectGapFree(events);
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({ status: "cancelled" });
    m.close();
  });
});

describe("resilience and bad frames", () => {
  it("after a reconnect the machine resends from the acked seq: no loss, no duplicates", async () => {
    const { token } = await newUser();
    const secret = (await machineToken(token)).token;
    const m1 = await scriptedMachine(secret, { name: "box" });
    const id = await startTask(token, tunnelTask());
    await m1.assigned();
    m1.events(id, 1, [log("1"), log("2"), log("3")]);
    await m1.ackAt(id, 3);
    m1.close();
    const m2 = await scriptedMachine(secret, {
      name: "box",
      tasks: [{ taskId: id, lastSeq: 6, ended: false }],
    });
    const welcome = m2.frames.find((f) => f.type === "welcome");
    expect(welcome).toMatchObject({ acks: [{ taskId: id, seq: 3 }] });
    // A resend overlapping what the edge has (2, 3) is taken idempotently.
    m2.events(id, 2, [log("2"), log("3"), log("4"), log("5"), log("6")]);
    m2.events(id, 7, [okResult()]);
    const events = await (await watch(id, token)).untilResult();
    expectGapFree(events);
    expect(events.filter((e) => e.type === "log").map((e) => (e.type === "log" ? e.text : ""))).toEqual([
      "1",
      "2",
      "3",
      "4",
      "5",
      "6",
    ]);
    m2.close();
  });

  it("a machine gone longer than TUNNEL_GRACE fails its task with runner_lost; back in time, it resumes", async () => {
    const { token } = await newUser();
    const secret = (await machineToken(token)).token;
    const m = await scriptedMachine(secret, { name: "flaky" });
    const id = await startTask(token, tunnelTask());
    await m.assigned();
    m.events(id, 1, [log("before")]);
    await m.ackAt(id, 1);
    m.close();
    const events = await (await watch(id, token)).untilResult(1, 20_000);
    expect(events.slice(-2)).toMatchObject([
      {
        type: "error",
        code: "runner_lost",
        message: 'machine "flaky" has been disconnected for longer than 5s',
      },
      { type: "result", ok: false },
    ]);
    // When it comes back with the task, the edge releases it.
    const back = await scriptedMachine(secret, {
      name: "flaky",
      tasks: [{ taskId: id, lastSeq: 2, ended: false }],
    });
    await back.until((f): f is EdgeFrame => f.type === "release" && f.taskId === id);
    back.close();
  });

  it("bad frames are refused one by one; the task and the connection carry on", async () => {
    const { token } = await newUser();
    const m = await scriptedMachine((await machineToken(token)).token);
    const a = await startTask(token, tunnelTask());
    const b = await startTask(token, tunnelTask());
    await m.assigned();
    await m.until((f): f is EdgeFrame => f.type === "assign" && f.taskId === b);
    const errors = () => m.frames.filter(isError);
    const expectError = async (n: number, match: Record<string, unknown>) => {
      await m.until((f): f is EdgeFrame => errors().length >= n);
      expect(errors()[n - 1]).toMatchObject(match);
    };
    m.send("{not json");
    await expectError(1, { code: "invalid_request", message: "frame is not valid JSON" });
    m.send({ type: "events", taskId: "t_000000000000000000000000", events: [{ seq: 1, time: "x" }] });
    await expectError(2, { code: "invalid_request" });
    m.events("t_000000000000000000000000", 1, [log("x")]);
    await expectError(3, { code: "not_found" });
    m.events(a, 1, [log("a1")]);
    await m.ackAt(a, 1);
    m.events(a, 3, [log("a3 skips a2")]);
    await expectError(4, { code: "conflict", taskId: a, seq: 1 });
    m.send(
      JSON.stringify({
        type: "events",
        taskId: a,
        events: [{ ...log("x".repeat(1_100_000)), seq: 2, time: new Date().toISOString() }],
      }),
    );
    await expectError(5, { code: "payload_too_large" });
    m.send(JSON.stringify({ type: "heartbeat", pad: "y".repeat(2000) }));
    await expectError(6, { code: "payload_too_large" });
    m.ws.send(new Uint8Array([1, 2, 3]));
    await expectError(7, { code: "invalid_request", message: "binary frames are not accepted" });
    // Both tasks are intact and still take their next events.
    m.events(a, 2, [log("a2"), okResult()]);
    m.events(b, 1, [log("b1"), okResult()]);
    const ea = await (await watch(a, token)).untilResult();
    const eb = await (await watch(b, token)).untilResult();
    expectGapFree(ea);
    expectGapFree(eb);
    expect(ea.filter((e) => e.type === "log").map((e) => (e.type === "log" ? e.text : ""))).toEqual([
      "a1",
      "a2",
    ]);
    expect(eb.filter((e) => e.type === "log").map((e) => (e.type === "log" ? e.text : ""))).toEqual(["b1"]);
    expect(m.closed()).toBe(null);
    m.close();
  });
});
