import type { RunEvent, Task } from "@openagents/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { machineToken, realMachine, timeless } from "./tunnel-helpers.ts";
import { api, expectGapFree, newUser, startTask, testRepo, watch } from "./worker-helpers.ts";

/**
 * Real `openagents connect` processes (tunnel mode, real runner with its bubblewrap sandbox, real
 * git clone) serving tasks started over the API, with the tunnel dropped, the process killed and
 * restarted, and the token revoked.
 */
const stops: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(stops.map((s) => s()));
});

const repoDir = () => testRepo().slice(0, testRepo().lastIndexOf("/"));
// 400 lines in bursts of 50 with pauses: long enough to interrupt, deterministic in content.
const SCRIPT = "for i in $(seq 1 400); do echo line $i; if [ $((i % 50)) = 0 ]; then sleep 0.25; fi; done";
const task = (): Task => ({ repo: testRepo(), agent: "shell", script: SCRIPT, compute: "tunnel" });
const lines = (events: RunEvent[]) =>
  events.flatMap((e) => (e.type === "log" && e.stream === "stdout" ? [e.text] : []));
const lineAt = (n: number) => (e: RunEvent) => e.type === "log" && e.text === `line ${n}`;

async function connected(token: string, name: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { machines } = (await (await api("/api/tunnel/machines", { token })).json()) as {
      machines: Array<{ name: string | null; connected: boolean }>;
    };
    if (machines.some((m) => m.name === name && m.connected)) return;
    if (Date.now() > deadline)
      throw new Error(`machine ${name} did not connect: ${JSON.stringify(machines)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function machineFor(name: string) {
  const { token } = await newUser();
  const secret = await machineToken(token, { label: name });
  const machine = await realMachine([
    "--token",
    secret.token,
    "--name",
    name,
    "--max-tasks",
    "2",
    "--agent",
    "shell",
    "--allow-dir",
    repoDir(),
  ]);
  stops.push(machine.stop);
  await connected(token, name).catch(async (e) => {
    throw new Error(`${(e as Error).message}\n${(await machine.info()).output}`);
  });
  return { token, secret, machine };
}

describe("openagents connect (real process) serving tasks started over the API", () => {
  it("runs the task on the machine; a tunnel dropped twice mid-task ends with the identical, gap-free log", async () => {
    const { token, machine } = await machineFor("real-1");
    const full = await (await watch(await startTask(token, task()), token)).untilResult(1, 40_000);
    expectGapFree(full);
    expect(full.at(-1)).toMatchObject({ type: "result", ok: true, exitCode: 0 });
    expect(full.find((e) => e.type === "status" && e.phase === "provisioning")).toMatchObject({
      message: 'on machine "real-1"',
    });
    expect(lines(full)).toEqual(Array.from({ length: 400 }, (_, i) => `line ${i + 1}`));

    const id = await startTask(token, task());
    const w = await watch(id, token);
    await w.until(lineAt(100), 40_000);
    expect(machine.dropTunnel()).toBe(true);
    await w.until(lineAt(260), 40_000);
    expect(machine.dropTunnel()).toBe(true);
    const events = await w.untilResult(1, 40_000);
    expect(machine.connections()).toBeGreaterThanOrEqual(3);
    expectGapFree(events);
    expect(timeless(events)).toEqual(timeless(full));
    const info = (await (await api(`/api/tasks/${id}`, { token })).json()) as { status: string };
    expect(info.status).toBe("succeeded");
  });

  it("a killed and restarted connect process resends what it had, then reports runner_lost: nothing lost or doubled", async () => {
    const { token, machine } = await machineFor("real-2");
    const id = await startTask(token, task());
    const w = await watch(id, token);
    await w.until(lineAt(120), 40_000);
    await machine.kill();
    const seen = lines(w.events).length;
    await machine.restart();
    const events = await w.untilResult(1, 40_000);
    const output = (await machine.info()).output;
    expectGapFree(events);
    const got = lines(events);
    expect(got.length, output).toBeGreaterThanOrEqual(seen);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `line ${i + 1}`));
    expect(events.slice(-2)).toMatchObject([
      { type: "error", code: "runner_lost", message: expect.stringContaining("restarted") },
      { type: "result", ok: false },
    ]);
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({ status: "failed" });
    // The machine serves again after its restart.
    const next = await (
      await watch(await startTask(token, { ...task(), script: "echo again" }), token)
    ).untilResult(1, 40_000);
    expect(lines(next)).toEqual(["again"]);
  });

  it("revoking the token closes the live connection at once and the process stops", async () => {
    const { token, secret, machine } = await machineFor("real-3");
    const t0 = Date.now();
    expect((await api(`/api/tunnel/tokens/${secret.id}`, { token, method: "DELETE" })).status).toBe(204);
    let info = await machine.info();
    while (info.running && Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      info = await machine.info();
    }
    expect(info.running, info.output).toBe(false);
    expect(info.exits).toEqual([1]);
    expect(info.output).toContain("revoked");
    const { machines } = (await (await api("/api/tunnel/machines", { token })).json()) as {
      machines: unknown[];
    };
    expect(machines).toEqual([]);
  });
});
