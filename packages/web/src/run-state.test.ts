import type { RunEvent, RunEventBody } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { RunState, type ToolItem } from "./run-state.ts";

const at = (seq: number, body: RunEventBody): RunEvent =>
  ({ seq, time: new Date(1_700_000_000_000 + seq * 1000).toISOString(), ...body }) as RunEvent;

const result = (ok: boolean, patch = ""): RunEventBody => ({
  type: "result",
  ok,
  exitCode: ok ? 0 : 1,
  summary: ok ? "done" : "failed",
  diffstat: { filesChanged: 0, insertions: 0, deletions: 0, files: [] },
  patch,
});

/** A whole run: phases, a message, a tool call and its result, logs, usage, result. */
function sampleRun(): RunEvent[] {
  const bodies: RunEventBody[] = [
    { type: "status", phase: "queued" },
    { type: "status", phase: "provisioning" },
    { type: "status", phase: "cloning", message: "repo" },
    { type: "log", stream: "system", text: "Cloning into 'work'..." },
    { type: "status", phase: "running" },
    { type: "agent", kind: "message", text: "I will run the tests." },
    { type: "agent", kind: "tool_call", tool: "Bash", toolUseId: "tu_1", input: { command: "npm test" } },
    { type: "log", stream: "stdout", text: "1 passed\n2 passed\n" },
    { type: "agent", kind: "tool_result", tool: "Bash", toolUseId: "tu_1", text: "2 passed" },
    { type: "usage", model: "claude-x", inputTokens: 100, outputTokens: 20, costUsd: 0.01 },
    { type: "status", phase: "finalizing" },
    result(true, "diff --git a/x b/x\n"),
  ];
  return bodies.map((b, i) => at(i + 1, b));
}

describe("RunState", () => {
  it("applies a run in order: phases, timeline, logs, usage and outcome", () => {
    const run = new RunState();
    for (const e of sampleRun()) expect(run.accept(e)).toBe("applied");
    expect(run.lastSeq).toBe(12);
    expect(run.phasesSeen).toEqual(["queued", "provisioning", "cloning", "running", "finalizing"]);
    expect(run.outcome).toBe("succeeded");
    expect(run.ended).toBe(true);
    expect(run.logs.length).toBe(3);
    expect(run.logs.at(1)).toEqual({ seq: 8, stream: "stdout", text: "1 passed" });
    expect(run.usage).toMatchObject({
      inputTokens: 100,
      outputTokens: 20,
      costUsd: 0.01,
      models: ["claude-x"],
    });
    expect(run.result?.patch).toBe("diff --git a/x b/x\n");
    expect(run.timeline.map((i) => i.kind)).toEqual([
      "status",
      "status",
      "status",
      "status",
      "message",
      "tool",
      "status",
      "result",
    ]);
  });

  it("pairs a tool call with its result by toolUseId", () => {
    const run = new RunState();
    for (const e of sampleRun()) run.accept(e);
    const tool = run.timeline.find((i) => i.kind === "tool") as ToolItem;
    expect(tool).toMatchObject({
      tool: "Bash",
      input: { command: "npm test" },
      output: "2 passed",
      done: true,
    });
    expect(tool.isError).toBe(false);
  });

  it("shows a result without its call on its own, and closes calls left open when the turn ends", () => {
    const run = new RunState();
    run.accept(at(1, { type: "agent", kind: "tool_call", tool: "Read", toolUseId: "a", input: {} }));
    run.accept(
      at(2, { type: "agent", kind: "tool_result", toolUseId: "zzz", text: "orphan", isError: true }),
    );
    const [open, orphan] = run.timeline as ToolItem[];
    expect(open?.done).toBe(false);
    expect(orphan).toMatchObject({ output: "orphan", isError: true, done: true });
    run.accept(at(3, result(false)));
    expect(open?.done).toBe(true);
    expect(open?.output).toBeUndefined();
  });

  it("ignores replayed events (a resume from an older seq), so nothing shows twice", () => {
    const run = new RunState();
    const events = sampleRun();
    for (const e of events.slice(0, 8)) run.accept(e);
    const replay = events.slice(4); // the server resent 5..12
    const verdicts = replay.map((e) => run.accept(e));
    expect(verdicts.slice(0, 4)).toEqual(["duplicate", "duplicate", "duplicate", "duplicate"]);
    expect(run.logs.length).toBe(3);
    expect(run.timeline.filter((i) => i.kind === "message")).toHaveLength(1);
    expect(run.lastSeq).toBe(12);
  });

  it("holds an early event until the gap before it is filled, then applies both in order", () => {
    const run = new RunState();
    const [e1, e2, e3, e4] = sampleRun();
    run.accept(e1!);
    expect(run.accept(e3!)).toBe("buffered");
    expect(run.accept(e4!)).toBe("buffered");
    expect(run.hasGap).toBe(true);
    expect(run.lastSeq).toBe(1);
    expect(run.phasesSeen).toEqual(["queued"]);
    expect(run.accept(e3!)).toBe("duplicate");
    expect(run.accept(e2!)).toBe("applied");
    expect(run.hasGap).toBe(false);
    expect(run.lastSeq).toBe(4);
    expect(run.phasesSeen).toEqual(["queued", "provisioning", "cloning"]);
  });

  it("reports a cancelled outcome when the error before the result is `cancelled`", () => {
    const run = new RunState();
    run.accept(at(1, { type: "status", phase: "running" }));
    run.accept(at(2, { type: "error", code: "cancelled", message: "cancelled by request" }));
    run.accept(at(3, result(false)));
    expect(run.outcome).toBe("cancelled");
  });

  it("starts a new turn after a follow-up: phases reset, usage adds up, outcome follows the last result", () => {
    const run = new RunState();
    for (const e of sampleRun()) run.accept(e);
    const next: RunEventBody[] = [
      { type: "status", phase: "queued", message: "follow-up" },
      { type: "status", phase: "running" },
      { type: "usage", inputTokens: 50, outputTokens: 5, costUsd: 0.02 },
      { type: "error", code: "agent_failed", message: "claude-code exited with code 1" },
      result(false),
    ];
    run.accept(at(13, next[0]!));
    expect(run.ended).toBe(false);
    expect(run.outcome).toBeUndefined();
    expect(run.phasesSeen).toEqual(["queued"]);
    for (const [i, b] of next.slice(1).entries()) run.accept(at(14 + i, b));
    expect(run.outcome).toBe("failed");
    expect(run.turns).toBe(2);
    expect(run.usage.inputTokens).toBe(150);
    expect(run.usage.costUsd).toBeCloseTo(0.03);
    expect(run.usage.reports).toBe(2);
  });

  it("takes 50,000 log events and keeps memory bounded by its capacity", () => {
    const run = new RunState(20_000);
    for (let i = 1; i <= 50_000; i++) run.accept(at(i, { type: "log", stream: "stdout", text: `line ${i}` }));
    expect(run.lastSeq).toBe(50_000);
    expect(run.logs.length).toBeLessThanOrEqual(20_000);
    expect(run.logs.length + run.logs.dropped).toBe(50_000);
    expect(run.logs.at(run.logs.length - 1)?.text).toBe("line 50000");
  });
});
