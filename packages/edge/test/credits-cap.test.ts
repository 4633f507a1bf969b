import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { RunEvent } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { CONTAINER_NAME_HEADER, NO_START_HEADER } from "../src/container-do.ts";
import type { LedgerEntry } from "../src/ledger.ts";
import { META, type TaskInfo, type TaskMeta } from "../src/task-meta.ts";
import { api, expectGapFree, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

/*
 * A running task's container seconds are billed while it runs (at each watchdog alarm of its
 * TaskDO), so a task that reaches its owner's budget is stopped then, not only when its turn ends.
 * The alarms are fired with `runDurableObjectAlarm` instead of waiting out the 30 s watchdog.
 */

const ADMIN = { authorization: `Bearer ${env.LOCAL_TOKEN}` };
const admin = (path: string, body: unknown, method = "POST") => api(path, { method, body, headers: ADMIN });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const taskObject = (id: string) => env.TASK.get(env.TASK.idFromName(id));
const metaOf = (id: string) =>
  runInDurableObject(taskObject(id), (_task, state) => state.storage.kv.get<TaskMeta>(META)!);

/** A metered user with credits to spare. */
async function meteredUser() {
  const { user, token } = await newUser();
  expect((await admin("/api/admin/credits/account", { user: user.id, metered: true }, "PUT")).status).toBe(
    200,
  );
  expect((await admin("/api/admin/credits/grant", { user: user.id, amount: 10_000_000 })).status).toBe(201);
  return { user, token };
}

/** The task's container-second entries, oldest first, once `ready` says the expected ones are in. */
async function secondsEntries(id: string, token: string, ready: (entries: LedgerEntry[]) => boolean) {
  let entries: LedgerEntry[] = [];
  // The charges are written to D1 off the TaskDO's hot path: wait for them (bounded).
  for (let i = 0; i < 100; i++) {
    const body = (await (await api(`/api/credits/tasks/${id}`, { token })).json()) as {
      entries: LedgerEntry[];
    };
    entries = body.entries.filter((e) => e.kind === "container_seconds").sort((a, b) => a.id - b.id);
    if (ready(entries)) break;
    await sleep(100);
  }
  return entries;
}

const sum = (entries: LedgerEntry[]) => entries.reduce((n, e) => n + (e.quantity ?? 0), 0);
const timeOf = (events: RunEvent[], match: (e: RunEvent) => boolean) => Date.parse(events.find(match)!.time);

describe("credits: a running task is capped", () => {
  it("a shell task that reaches the daily budget is stopped at the watchdog alarm: error{insufficient_credits}, then result{ok:false}", async () => {
    const { user, token } = await meteredUser();
    const id = await startTask(token, shellTask("echo started; sleep 30; echo never"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "log" && e.text === "started");
    // The task started within the budgets; now the user lowers the daily budget below one second
    // of container time (20 credits), and at least a whole second runs.
    const set = await api("/api/credits/budget", { token, method: "PUT", body: { daily: 10 } });
    expect(await set.json()).toEqual({ daily: 10, weekly: null });
    await sleep(1500);
    expect(await runDurableObjectAlarm(taskObject(id))).toBe(true);

    const events = await w.untilResult();
    expectGapFree(events);
    expect(events.slice(-2)).toMatchObject([
      {
        type: "error",
        code: "insufficient_credits",
        message: "insufficient credits: the daily budget of 10 credits is used up; the task was stopped",
      },
      {
        type: "result",
        ok: false,
        summary:
          "failed: insufficient credits: the daily budget of 10 credits is used up; the task was stopped",
      },
    ]);
    // One error only: the runner's own `cancelled` is reported as the reason it was cancelled.
    expect(events.filter((e) => e.type === "error")).toHaveLength(1);
    expect(
      events.some((e) => e.type === "log" && e.stream === "system" && e.text.startsWith("stopping:")),
    ).toBe(true);
    expect(events.some((e) => e.type === "log" && e.text === "never")).toBe(false);
    const info = (await (await api(`/api/tasks/${id}`, { token })).json()) as TaskInfo;
    expect(info).toMatchObject({
      status: "failed",
      result: { ok: false, summary: expect.stringContaining("daily budget") },
    });
    expect(info.usage.containerSeconds).toBeGreaterThanOrEqual(1);

    // The runner really stopped the task's processes: it reports the task cancelled, not running.
    const { runnerTaskId, stopError } = await metaOf(id);
    expect(stopError ?? null).toBeNull();
    const runner = await env.CONTAINER.get(env.CONTAINER.idFromName(user.id)).fetch(
      `http://runner/tasks/${runnerTaskId}`,
      { headers: { [CONTAINER_NAME_HEADER]: user.id, [NO_START_HEADER]: "1" } },
    );
    expect(runner.status).toBe(200);
    expect(await runner.json()).toMatchObject({ state: "cancelled", result: { ok: false } });

    // What was used was charged up to the budget, never past it.
    const standing = (await (await api("/api/credits", { token })).json()) as {
      spentDay: number;
      spendable: number;
    };
    expect(standing).toMatchObject({ spentDay: 10, spendable: 0 });
    w.close();
  });

  it("container seconds billed at each alarm plus the rest at the turn's end add up to the turn, none twice", async () => {
    const { token } = await meteredUser();
    const id = await startTask(token, shellTask("echo started; sleep 6; echo done"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "log" && e.text === "started");

    await sleep(1500);
    expect(await runDurableObjectAlarm(taskObject(id))).toBe(true);
    const first = await metaOf(id);
    expect(first.turnSecondsBilled).toBeGreaterThanOrEqual(1);
    expect(first.usage.containerSeconds).toBe(first.turnSecondsBilled);
    const afterFirst = await secondsEntries(id, token, (e) => e.length >= 1);
    expect(afterFirst.map((e) => e.quantity)).toEqual([first.turnSecondsBilled]);

    // A second alarm bills only the whole seconds since the first.
    await sleep(1100);
    expect(await runDurableObjectAlarm(taskObject(id))).toBe(true);
    const second = await metaOf(id);
    expect(second.turnSecondsBilled).toBeGreaterThan(first.turnSecondsBilled!);
    const afterSecond = await secondsEntries(id, token, (e) => e.length >= 2);
    expect(afterSecond.map((e) => e.quantity)).toEqual([
      first.turnSecondsBilled,
      second.turnSecondsBilled! - first.turnSecondsBilled!,
    ]);

    const events = await w.untilResult();
    expect(events.at(-1)).toMatchObject({ type: "result", ok: true });
    const all = await secondsEntries(id, token, (e) => e.length >= 3);
    expect(all).toHaveLength(3);
    const info = (await (await api(`/api/tasks/${id}`, { token })).json()) as TaskInfo;
    expect(info.status).toBe("succeeded");
    // The end charge is exactly the rest: the entries add up to the task's container seconds …
    expect(sum(all)).toBe(info.usage.containerSeconds);
    expect(all.every((e) => e.amount === -20 * e.quantity!)).toBe(true);
    // … which are the turn's duration (from the container's start to the result), rounded.
    const turn =
      (timeOf(events, (e) => e.type === "result") -
        timeOf(events, (e) => e.type === "status" && e.phase === "provisioning")) /
      1000;
    expect(Math.abs(sum(all) - turn)).toBeLessThanOrEqual(1);
    const ended = await metaOf(id);
    expect(ended).toMatchObject({ turnStartedAt: null, turnSecondsBilled: 0 });
    w.close();
  });
});
