import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ContainerDO } from "../src/container-do.ts";
import { api, expectGapFree, host, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

const boxOf = (userId: string) => env.CONTAINER.get(env.CONTAINER.idFromName(userId));
/** Pretends the last activity was long ago, as if `SLEEP_AFTER` had passed. */
const backdate = (userId: string) =>
  runInDurableObject(boxOf(userId), (_box: ContainerDO, state) => {
    state.storage.kv.put("lastActivity", Date.now() - 24 * 3600_000);
  });

describe("runner lost", () => {
  it("a runner killed mid-task ends the task with error{runner_lost}, then result.ok=false", async () => {
    const { user, token } = await newUser();
    const id = await startTask(token, shellTask("echo started; sleep 30; echo never"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "log");
    const killed = await host(`/containers/u-${user.id}/signal`, { body: { signal: "SIGKILL" } });
    expect(killed.status).toBe(200);
    const events = await w.untilResult();
    expectGapFree(events);
    expect(events.slice(-2)).toMatchObject([
      { type: "error", code: "runner_lost" },
      { type: "result", ok: false, exitCode: null },
    ]);
    expect(events.some((e) => e.type === "log" && e.text === "never")).toBe(false);
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({ status: "failed" });
    // The broken stream no longer counts as activity, so the container can go idle.
    expect(await (await api("/api/container", { token })).json()).toMatchObject({
      state: "cold",
      inflight: 0,
    });
  });
});

describe("ContainerDO lifecycle against the local container host", () => {
  it("starts on demand, sleeps when idle (really stopped), and resumes on the next task", async () => {
    const { user, token } = await newUser();
    expect(await (await api("/api/container", { token })).json()).toMatchObject({
      state: "cold",
      backend: "local",
    });

    await (await watch(await startTask(token, shellTask("echo hi")), token)).untilResult();
    expect(await (await api("/api/container", { token })).json()).toMatchObject({ state: "running" });
    const first = (await host(`/containers/u-${user.id}`)).body;
    expect(first).toMatchObject({ running: true });

    // Not yet idle: the alarm leaves it running.
    expect(await runDurableObjectAlarm(boxOf(user.id))).toBe(true);
    expect((await host(`/containers/u-${user.id}`)).body).toMatchObject({ running: true });

    await backdate(user.id);
    expect(await runDurableObjectAlarm(boxOf(user.id))).toBe(true);
    const status = (await (await api("/api/container", { token })).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ state: "sleeping", lastStop: "idle", inflight: 0 });
    // SIGTERM was enough: the runner exited by itself (0), no SIGKILL (137) was needed.
    expect((await host(`/containers/u-${user.id}`)).body).toMatchObject({ running: false, exitCode: 0 });

    const events = await (await watch(await startTask(token, shellTask("echo back")), token)).untilResult();
    expect(events.at(-1)).toMatchObject({ type: "result", ok: true });
    const second = (await host(`/containers/u-${user.id}`)).body;
    expect(second).toMatchObject({ running: true });
    expect(second.pid).not.toBe(first.pid);
    expect(await (await api("/api/container", { token })).json()).toMatchObject({ state: "running" });
  });

  it("never sleeps while a task streams, however old its last activity", async () => {
    const { user, token } = await newUser();
    const id = await startTask(token, shellTask("echo go; sleep 30"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "log");
    await backdate(user.id);
    await runDurableObjectAlarm(boxOf(user.id));
    const status = (await (await api("/api/container", { token })).json()) as {
      state: string;
      inflight: number;
    };
    expect(status.state).toBe("running");
    expect(status.inflight).toBeGreaterThan(0);
    expect((await host(`/containers/u-${user.id}`)).body).toMatchObject({ running: true });
    await api(`/api/tasks/${id}/cancel`, { token, method: "POST" });
    await w.untilResult();
  });

  it("a stop escalates to SIGKILL when the runner has not exited after the grace, and the task is lost", async () => {
    const { user, token } = await newUser();
    const id = await startTask(token, shellTask("echo busy; sleep 30"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "log" && e.text === "busy");
    // On SIGTERM the real runner cancels its task and computes its patch before it exits, which
    // takes longer than no grace at all: the stop must escalate.
    const stopped = await boxOf(user.id).stop("stopped", { graceMs: 0 });
    expect(stopped).toMatchObject({ state: "cold", lastStop: "stopped" });
    expect((await host(`/containers/u-${user.id}`)).body).toMatchObject({ running: false, exitCode: 137 });
    const events = await w.untilResult();
    expectGapFree(events);
    expect(events.slice(-2)).toMatchObject([
      { type: "error", code: "runner_lost" },
      { type: "result", ok: false },
    ]);
    expect(await (await api("/api/container", { token })).json()).toMatchObject({ inflight: 0 });
  });

  it("destroy removes the container; usage seconds are recorded", async () => {
    const { user, token } = await newUser();
    await (await watch(await startTask(token, shellTask("sleep 1.2")), token)).untilResult();
    const destroyed = (await (await api("/api/container", { token, method: "DELETE" })).json()) as Record<
      string,
      unknown
    >;
    expect(destroyed).toMatchObject({ state: "cold", lastStop: "destroyed" });
    expect(destroyed.usageSeconds).toBeGreaterThanOrEqual(1);
    // Gone (404) or at least not running, depending on whether the host keeps a record.
    const after = await host(`/containers/u-${user.id}`);
    expect(after.status === 404 || after.body.running === false).toBe(true);
  });
});
