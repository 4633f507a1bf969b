import type { RunEvent } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { api, expectGapFree, newUser, startTask, testRepo, watch } from "./worker-helpers.ts";

// Real Claude Code in the real runner's sandbox, answered by the scripted Messages API the global setup
// started (test/support/scripted-turns.ts: these tests consume its turns in this order, one at a time).
const TURN_MS = 120_000;

const claudeTask = (prompt: string) => ({ repo: testRepo(), agent: "claude-code" as const, prompt });
const resultsOf = (events: RunEvent[]) =>
  events.filter((e): e is Extract<RunEvent, { type: "result" }> => e.type === "result");
const filesOf = (result: Extract<RunEvent, { type: "result" }> | undefined) =>
  (result?.diffstat.files.map((f) => f.path) ?? []).sort();

async function followUp(id: string, token: string, prompt: string) {
  return api(`/api/tasks/${id}/messages`, { token, body: { prompt } });
}

/** Stops the user's container for real (SIGTERM) and checks that it is down. */
async function stopContainer(token: string) {
  const stopped = await (await api("/api/container/stop", { token, method: "POST" })).json();
  expect(stopped).toMatchObject({ state: "cold", lastStop: "stopped" });
}

describe("follow-up turns with a real agent", () => {
  it("continues on the live runner: same workspace, same log, usage added up; one sent while running is 409", async () => {
    const { token } = await newUser();
    const id = await startTask(token, claudeTask("write one.txt"));
    const w = await watch(id, token);
    const first = [...(await w.untilResult(1, TURN_MS))];
    expect(resultsOf(first)[0]).toMatchObject({ ok: true, summary: "Wrote one.txt." });
    const firstLength = first.length;
    const usage1 = (
      (await (await api(`/api/tasks/${id}`, { token })).json()) as { usage: { inputTokens: number } }
    ).usage;
    expect(usage1.inputTokens).toBeGreaterThan(0);

    const res = await followUp(id, token, "now write two.txt");
    expect(res.status, await res.clone().text()).toBe(202);
    expect(await res.json()).toMatchObject({ id, status: "running", after: firstLength });
    const early = await followUp(id, token, "too soon");
    expect(early.status).toBe(409);
    expect(await early.json()).toMatchObject({ error: { code: "conflict" } });

    const events = await w.untilResult(2, TURN_MS);
    expectGapFree(events);
    const second = resultsOf(events)[1];
    expect(second).toMatchObject({ ok: true, summary: "Wrote two.txt." });
    // The patch is against the task's base: it holds both turns' work.
    expect(filesOf(second)).toEqual(["one.txt", "two.txt"]);
    const turn2 = events.slice(firstLength);
    expect(turn2.some((e) => e.type === "status" && e.phase === "cloning")).toBe(false);
    // One queued (the runner's, for the follow-up), then running.
    const statuses = turn2.flatMap((e) => (e.type === "status" ? [[e.phase, e.message]] : []));
    expect(statuses).toEqual([
      ["queued", "follow-up"],
      ["running", undefined],
      ["finalizing", undefined],
    ]);
    expect(turn2.some((e) => e.type === "log" && e.text.includes("re-creating"))).toBe(false);
    const info = (await (await api(`/api/tasks/${id}`, { token })).json()) as {
      status: string;
      usage: { inputTokens: number };
    };
    expect(info.status).toBe("succeeded");
    expect(info.usage.inputTokens).toBeGreaterThan(usage1.inputTokens);
    w.close();
  }, 300_000);

  it("after the container stopped, re-creates the workspace from the last patch and keeps the same log", async () => {
    const { token } = await newUser();
    const id = await startTask(token, claudeTask("write first.txt"));
    const w = await watch(id, token);
    const first = [...(await w.untilResult(1, TURN_MS))];
    expect(filesOf(resultsOf(first)[0])).toEqual(["first.txt"]);
    await stopContainer(token);

    const res = await followUp(id, token, "copy first.txt to again.txt");
    expect(res.status, await res.clone().text()).toBe(202);
    const events = await w.untilResult(2, TURN_MS);
    expectGapFree(events);
    const turn2 = events.slice(first.length);
    expect(turn2[0]).toMatchObject({ type: "log", stream: "system" });
    expect(turn2[0]?.type === "log" && turn2[0].text).toMatch(
      /re-creating the workspace from .*, then applying the last result's patch \(1 file\)/,
    );
    const phases = turn2.flatMap((e) => (e.type === "status" ? [e.phase] : []));
    // One queued, then the new runner's phases; its own opening queued/provisioning are not repeated.
    expect(phases).toEqual(["queued", "provisioning", "cloning", "setup", "running", "finalizing"]);
    expect(turn2[1]).toMatchObject({ type: "status", phase: "queued", message: "follow-up" });
    const second = resultsOf(events)[1];
    // `cp first.txt again.txt` only worked because first.txt came back with the patch.
    expect(second).toMatchObject({ ok: true, summary: "Copied first.txt." });
    expect(filesOf(second)).toEqual(["again.txt", "first.txt"]);
    expect(second?.patch).toMatch(/\+\+\+ b\/again\.txt\n@@ -0,0 \+1 @@\n\+first\n/);
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({
      status: "succeeded",
      lastSeq: events.length,
      result: { ok: true, seq: events.length },
    });
    expect(await (await api("/api/container", { token })).json()).toMatchObject({ state: "running" });
    w.close();
  }, 300_000);

  it("refuses to re-create a workspace whose patch does not fit a runner task's setup", async () => {
    const { token } = await newUser();
    const id = await startTask(token, claudeTask("write big.txt"));
    const w = await watch(id, token);
    const first = [...(await w.untilResult(1, TURN_MS))];
    expect(resultsOf(first)[0]?.patch.length).toBeGreaterThan(200_000);
    await stopContainer(token);

    const res = await followUp(id, token, "and more");
    expect(res.status).toBe(409);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("conflict");
    expect(error.message).toMatch(/patch \(\d+ characters\) does not fit the 200000-character setup/);
    // Nothing happened to the task: no event, same state.
    expect(await (await api(`/api/tasks/${id}`, { token })).json()).toMatchObject({
      status: "succeeded",
      lastSeq: first.length,
    });
    w.close();
  }, 300_000);
});
