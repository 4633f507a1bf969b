import { describe, expect, it } from "vitest";
import { RunState } from "./run-state.ts";
import { addWarning, MAX_WARNINGS, warningOf } from "./warnings.ts";

const time = "2026-12-01T00:00:00.000Z";

describe("runner warnings as banners", () => {
  it("only system lines starting with warning: are warnings", () => {
    expect(warningOf("system", "warning: the repository contains 1 file that may hold secrets: .env")).toBe(
      "the repository contains 1 file that may hold secrets: .env",
    );
    expect(warningOf("stdout", "warning: printed by the task")).toBeUndefined();
    expect(warningOf("stderr", "warning: npm deprecated")).toBeUndefined();
    expect(warningOf("system", "Receiving objects: 100%")).toBeUndefined();
    expect(warningOf("system", "warning:")).toBeUndefined();
    expect(warningOf("system", "a warning: not at the start")).toBeUndefined();
  });

  it("RunState collects them once each (a replay does not repeat them), capped", () => {
    const run = new RunState();
    const secret = "warning: the repository contains 2 files that may hold secrets: .env, id_rsa.";
    run.accept({ seq: 1, time, type: "log", stream: "system", text: secret });
    run.accept({ seq: 2, time, type: "log", stream: "stdout", text: "warning: from the script" });
    run.accept({ seq: 1, time, type: "log", stream: "system", text: secret }); // replayed after a reconnect
    run.accept({ seq: 3, time, type: "log", stream: "system", text: secret }); // same text, new seq
    expect(run.warnings).toEqual(["the repository contains 2 files that may hold secrets: .env, id_rsa."]);
    const list: string[] = [];
    for (let i = 0; i < MAX_WARNINGS + 3; i++) addWarning(list, `w${i}`);
    expect(list).toHaveLength(MAX_WARNINGS);
  });
});
