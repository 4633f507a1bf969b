import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ResultBody, RunEvent, Task } from "@openagents/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../test/git-fixtures.ts";
import { TaskManager } from "./task-manager.ts";
import type { TaskHandle } from "./task-runner.ts";

const workRoot = mkdtempSync(path.join(os.tmpdir(), "oa-tm-"));
afterAll(() => rmSync(workRoot, { recursive: true, force: true }));
const repo = makeBareRepo({ "README.md": "# demo\n" });
const manager = new TaskManager({
  workRoot,
  credentials: { anthropicBaseUrl: "http://127.0.0.1:9", openaiBaseUrl: "http://127.0.0.1:9" },
  graceMs: 500,
});

async function run(task: Task) {
  const handle = manager.start(task);
  const events: RunEvent[] = [];
  handle.log.subscribe(0, (e) => events.push(e));
  const result = await handle.done;
  // git's clone progress (system log lines) varies with the repo; the phases and the task's own output do not.
  const types = events
    .filter((e) => !(e.type === "log" && e.stream === "system"))
    .map((e) => (e.type === "status" ? e.phase : e.type));
  return { handle, events, result, types };
}

const shell = (script: string, extra: Partial<Task> = {}): Task => ({
  repo: repo.bare,
  agent: "shell",
  script,
  ...extra,
});

describe("TaskManager with the shell agent", () => {
  it("runs clone → running → finalizing → result with a patch, seq gap-free", async () => {
    const { events, result, types, handle } = await run(shell("echo made > made.txt\necho done"));
    expect(types).toEqual(["queued", "provisioning", "cloning", "running", "log", "finalizing", "result"]);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(result).toMatchObject({ ok: true, exitCode: 0, summary: "done" });
    expect(result.diffstat).toMatchObject({ filesChanged: 1, insertions: 1, deletions: 0 });
    expect(result.patch).toContain("+++ b/made.txt");
    expect(handle.state()).toBe("succeeded");
  });

  it("runs the setup script first and fails the task when it fails", async () => {
    const ok = await run(shell("cat ready", { setup: "echo prepared > ready" }));
    expect(ok.types).toContain("setup");
    expect(ok.result.ok).toBe(true);
    expect(ok.events.some((e) => e.type === "log" && e.text === "prepared")).toBe(true);
    const bad = await run(shell("echo never", { setup: "exit 3" }));
    expect(bad.events.find((e) => e.type === "error")).toMatchObject({ code: "setup_failed" });
    expect(bad.result.ok).toBe(false);
    expect(bad.events.some((e) => e.type === "log" && e.text === "never")).toBe(false);
  });

  it("ends a failing script with script_failed and keeps its partial patch", async () => {
    const { events, result, handle } = await run(shell("echo partial > p.txt\nexit 7"));
    expect(events.at(-2)).toMatchObject({ type: "error", code: "script_failed" });
    expect(result).toMatchObject({ ok: false, exitCode: 7 });
    expect(result.patch).toContain("p.txt");
    expect(handle.state()).toBe("failed");
  });

  it("reports a bad ref and a missing repo as errors with a final result", async () => {
    const ref = await run(shell("true", { ref: "nope" }));
    expect(ref.events.find((e) => e.type === "error")).toMatchObject({ code: "ref_not_found" });
    expect(ref.events.at(-1)).toMatchObject({ type: "result", ok: false });
    const missing = await run(shell("true", { repo: path.join(workRoot, "no-such-repo") }));
    expect(missing.events.find((e) => e.type === "error")).toMatchObject({ code: "repo_not_found" });
  });

  it("stops a script that never ends at its timeout, the whole tree", async () => {
    const marker = path.join(workRoot, `alive-${Date.now()}`);
    const started = Date.now();
    const { events, result, handle } = await run(
      shell(`(sleep 1000; touch ${marker}) & sleep 1000`, { timeoutSec: 1 }),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(events.find((e) => e.type === "error")).toMatchObject({ code: "timeout" });
    expect(result.ok).toBe(false);
    expect(handle.state()).toBe("failed");
    expect(existsSync(marker)).toBe(false);
  });

  it("cancels a running task mid-run", async () => {
    const handle = manager.start(shell("echo started\nsleep 1000"));
    const events: RunEvent[] = [];
    handle.log.subscribe(0, (e) => {
      events.push(e);
      if (e.type === "log" && e.text === "started") handle.cancel("user asked");
    });
    const result = await handle.done;
    expect(events.find((e) => e.type === "error")).toMatchObject({
      code: "cancelled",
      message: "user asked",
    });
    expect(result.ok).toBe(false);
    expect(handle.state()).toBe("cancelled");
    handle.cancel(); // idempotent once ended
    expect(handle.log.lastSeq).toBe(events.length);
  });

  it("refuses a follow-up on a shell task and on an unknown id", async () => {
    const { handle } = await run(shell("true"));
    const r = manager.followUp(handle.id, "more");
    expect(r.ok === false && r.error.code).toBe("invalid_request");
    const missing = manager.followUp("t_nope", "more");
    expect(missing.ok === false && missing.error.code).toBe("not_found");
  });

  it("queues tasks beyond maxConcurrent and runs them all", async () => {
    const small = new TaskManager({
      workRoot,
      credentials: { anthropicBaseUrl: "", openaiBaseUrl: "" },
      maxConcurrent: 1,
    });
    const handles = [0, 1, 2].map((i) => small.start(shell(`echo ${i}`)));
    const results = await Promise.all(handles.map((h) => h.done));
    expect(results.map((r) => r.summary)).toEqual(["0", "1", "2"]);
  });

  it("shutdown cancels every running task", async () => {
    const other = new TaskManager({
      workRoot,
      credentials: { anthropicBaseUrl: "", openaiBaseUrl: "" },
      graceMs: 200,
    });
    const a = other.start(shell("sleep 1000"));
    await new Promise((r) => setTimeout(r, 300));
    await other.shutdown();
    expect(a.state()).toBe("cancelled");
    expect(readdirSync(workRoot).length).toBeGreaterThan(0);
  });
});

describe("TaskManager: a cancel ends the task in every phase", () => {
  const ended = (result: ResultBody, events: RunEvent[], handle: TaskHandle) => {
    expect(result.ok).toBe(false);
    expect(events.find((e) => e.type === "error")).toMatchObject({ code: "cancelled" });
    expect(events.at(-1)).toMatchObject({ type: "result", ok: false });
    expect(handle.state()).toBe("cancelled");
  };

  it.each(["provisioning", "cloning", "running"] as const)("cancelled as it enters %s", async (phase) => {
    const marker = path.join(workRoot, `ran-${phase}-${Date.now()}`);
    const handle = manager.start(shell(`touch ${marker}; sleep 1000`));
    const events: RunEvent[] = [];
    handle.log.subscribe(0, (e) => {
      events.push(e);
      if (e.type === "status" && e.phase === phase) handle.cancel();
    });
    ended(await handle.done, events, handle);
    expect(existsSync(marker)).toBe(false);
  });

  it("cancelled while queued behind a full slot, without waiting for the task ahead", async () => {
    const one = new TaskManager({
      workRoot,
      credentials: { anthropicBaseUrl: "", openaiBaseUrl: "" },
      maxConcurrent: 1,
      graceMs: 200,
    });
    const ahead = one.start(shell("echo started; sleep 1000"));
    await new Promise<void>((resolve) =>
      ahead.log.subscribe(0, (e) => e.type === "log" && e.text === "started" && resolve()),
    );
    const queued = one.start(shell("echo never"));
    const events: RunEvent[] = [];
    queued.log.subscribe(0, (e) => events.push(e));
    queued.cancel();
    ended(await queued.done, events, queued);
    expect(events.some((e) => e.type === "status" && e.phase === "provisioning")).toBe(false);
    expect(ahead.state()).toBe("running");
    // The slot it never took is still one: the next task waits for the one ahead.
    const next = one.start(shell("echo next"));
    ahead.cancel();
    expect((await ahead.done).ok).toBe(false);
    expect(await next.done).toMatchObject({ ok: true, summary: "next" });
  });
});
