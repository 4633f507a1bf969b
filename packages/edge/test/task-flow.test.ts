import { describe, expect, it } from "vitest";
import { api, expectGapFree, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

describe("a cloud task, end to end through the ContainerDO and a runner", () => {
  it("streams queued → provisioning → the runner's events → result, gap-free, to two identical watchers", async () => {
    const { token } = await newUser();
    const id = await startTask(token, shellTask("echo one; echo two >&2; echo three"));
    const a = await watch(id, token);
    const b = await watch(id, token);
    const events = await a.untilResult();
    await b.untilResult();
    expectGapFree(events);
    expect(b.events).toEqual(events);
    expect(events[0]).toMatchObject({ type: "status", phase: "queued" });
    expect(events[1]).toMatchObject({ type: "status", phase: "provisioning" });
    // The real runner cloned the repository before running the script.
    const phases = events.flatMap((e) => (e.type === "status" ? [e.phase] : []));
    // Once each, in order: the runner's own opening queued/provisioning are not repeated in the log.
    expect(phases).toEqual(["queued", "provisioning", "cloning", "running", "finalizing"]);
    const logs = events.flatMap((e) =>
      e.type === "log" && e.stream !== "system" ? [`${e.stream}:${e.text}`] : [],
    );
    // stdout and stderr are separate pipes: their relative order is not defined.
    expect(logs.sort()).toEqual(["stderr:two", "stdout:one", "stdout:three"]);
    expect(events.at(-1)).toMatchObject({ type: "result", ok: true, exitCode: 0 });

    const info = (await (await api(`/api/tasks/${id}`, { token })).json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      id,
      status: "succeeded",
      lastSeq: events.length,
      result: { ok: true, seq: events.length },
    });
    const list = (await (await api("/api/tasks", { token })).json()) as {
      tasks: Array<{ id: string; status: string }>;
    };
    expect(list.tasks).toEqual([expect.objectContaining({ id, status: "succeeded", agent: "shell" })]);
    a.close();
    b.close();
  });

  it("replays from any seq: a watcher that joins after the end gets exactly the tail", async () => {
    const { token } = await newUser();
    const id = await startTask(token, shellTask("for i in 1 2 3 4 5; do echo $i; done"));
    const full = await (await watch(id, token)).untilResult();
    for (let after = 0; after <= full.length; after++) {
      const late = await watch(id, token, after);
      if (after < full.length) await late.untilResult();
      else await new Promise((r) => setTimeout(r, 50));
      expect(late.events).toEqual(full.slice(after));
      late.close();
    }
    const polled = (await (await api(`/api/tasks/${id}/events?after=2&limit=3`, { token })).json()) as {
      events: unknown[];
    };
    expect(polled.events).toEqual(full.slice(2, 5));
  });

  it("a failing script ends with result.ok=false and status failed", async () => {
    const { token } = await newUser();
    const id = await startTask(token, shellTask("echo nope >&2; exit 3"));
    const events = await (await watch(id, token)).untilResult();
    expect(events.at(-1)).toMatchObject({ type: "result", ok: false, exitCode: 3 });
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({ status: "failed" });
  });

  it("cancel reaches the runner: error{cancelled}, then result.ok=false; a second cancel is 409", async () => {
    const { token } = await newUser();
    const id = await startTask(token, shellTask("echo started; sleep 30"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "log");
    const res = await api(`/api/tasks/${id}/cancel`, { token, method: "POST" });
    expect(res.status).toBe(202);
    const events = await w.untilResult();
    expect(events.slice(-2)).toMatchObject([
      { type: "error", code: "cancelled" },
      { type: "result", ok: false },
    ]);
    expectGapFree(events);
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({ status: "cancelled" });
    const again = await api(`/api/tasks/${id}/cancel`, { token, method: "POST" });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: "conflict" } });
  });
});
