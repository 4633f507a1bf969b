import { describe, expect, it } from "vitest";
import { httpStatus, isErrorCode } from "./error-codes.ts";
import { emptyDiffstat, parseRunEvent, type RunEvent } from "./run-event.ts";

const time = "2026-12-01T00:00:00.000Z";

describe("parseRunEvent", () => {
  const events: RunEvent[] = [
    { seq: 1, time, type: "status", phase: "cloning", message: "x" },
    { seq: 2, time, type: "log", stream: "stdout", text: "hello" },
    {
      seq: 3,
      time,
      type: "agent",
      kind: "tool_call",
      tool: "Write",
      toolUseId: "tu_1",
      input: { file_path: "a" },
    },
    { seq: 4, time, type: "usage", inputTokens: 10, outputTokens: 5, costUsd: 0.01, model: "m" },
    { seq: 5, time, type: "error", code: "timeout", message: "timed out" },
    {
      seq: 6,
      time,
      type: "result",
      ok: false,
      exitCode: null,
      summary: "",
      diffstat: {
        filesChanged: 1,
        insertions: 1,
        deletions: 0,
        files: [{ path: "a", insertions: 1, deletions: 0 }],
      },
      patch: "diff --git a/a b/a\n",
    },
  ];

  it.each(events)("round-trips a $type event", (event) => {
    expect(parseRunEvent(JSON.parse(JSON.stringify(event)))).toEqual({ ok: true, value: event });
  });

  it.each([
    [{ seq: 0, time, type: "log", stream: "stdout", text: "" }, "seq"],
    [{ seq: 1.5, time, type: "log", stream: "stdout", text: "" }, "seq"],
    [{ seq: 1, time: "yesterday", type: "log", stream: "stdout", text: "" }, "time"],
    [{ seq: 1, time, type: "nope" }, "type"],
    [{ seq: 1, time, type: "status", phase: "sleeping" }, "phase"],
    [{ seq: 1, time, type: "log", stream: "stdout" }, "text"],
    [{ seq: 1, time, type: "usage", inputTokens: -1, outputTokens: 0 }, "inputTokens"],
    [{ seq: 1, time, type: "error", code: "made_up", message: "x" }, "code"],
    [{ seq: 1, time, type: "result", ok: true, exitCode: 0, summary: "", patch: "" }, "diffstat"],
    [
      {
        seq: 1,
        time,
        type: "result",
        ok: "yes",
        exitCode: 0,
        summary: "",
        patch: "",
        diffstat: emptyDiffstat(),
      },
      "ok",
    ],
  ])("rejects %j at %s", (input, path) => {
    const r = parseRunEvent(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.path).toBe(path);
  });
});

describe("error codes", () => {
  it("maps every code to a 4xx/5xx status", () => {
    for (const [code, status] of Object.entries(httpStatus)) {
      expect(isErrorCode(code)).toBe(true);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
    expect(isErrorCode("nope")).toBe(false);
  });
});
