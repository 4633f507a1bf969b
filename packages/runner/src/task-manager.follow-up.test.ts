import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RunEvent } from "@openagents/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../test/git-fixtures.ts";
import { startScriptedAnthropic } from "../test/scripted-anthropic.ts";
import { TaskManager } from "./task-manager.ts";

const workRoot = mkdtempSync(path.join(os.tmpdir(), "oa-fu-"));
afterAll(() => rmSync(workRoot, { recursive: true, force: true }));

describe("a follow-up turn with the real Claude Code", () => {
  it("continues the same workspace and conversation, and the log continues after the first result", async () => {
    const key = "sk-ant-follow-up-0123456789";
    const api = await startScriptedAnthropic(
      [
        {
          content: [
            { type: "tool_use", name: "Bash", input: { command: "echo one > one.txt", description: "one" } },
          ],
        },
        { content: [{ type: "text", text: "Wrote one.txt." }] },
        {
          content: [
            { type: "tool_use", name: "Bash", input: { command: "echo two > two.txt", description: "two" } },
          ],
        },
        { content: [{ type: "text", text: "Wrote two.txt too." }] },
      ],
      { apiKey: key },
    );
    try {
      const repo = makeBareRepo();
      const manager = new TaskManager({
        workRoot,
        credentials: { anthropicApiKey: key, anthropicBaseUrl: api.url, openaiBaseUrl: "http://127.0.0.1:9" },
      });
      const handle = manager.start({ repo: repo.bare, agent: "claude-code", prompt: "write one.txt" });
      const first = await handle.done;
      expect(first).toMatchObject({ ok: true, summary: "Wrote one.txt." });
      const firstSeq = handle.log.lastSeq;

      const again = manager.followUp(handle.id, "now write two.txt");
      expect(again.ok).toBe(true);
      expect(manager.followUp(handle.id, "too soon").ok).toBe(false); // still running → conflict
      const second = await handle.done;
      expect(second).toMatchObject({ ok: true, summary: "Wrote two.txt too." });
      // The patch covers both turns: it is always against the task's base commit.
      expect(second.diffstat.files.map((f) => f.path).sort()).toEqual(["one.txt", "two.txt"]);

      const events: RunEvent[] = [];
      handle.log.subscribe(firstSeq, (e) => events.push(e));
      expect(events[0]).toMatchObject({ seq: firstSeq + 1, type: "status", phase: "queued" });
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => firstSeq + 1 + i));
      expect(events.some((e) => e.type === "status" && e.phase === "cloning")).toBe(false);

      // The model saw the first turn again when the second began: the conversation continued.
      const scripted = api.requests.filter((r) => r.scripted);
      const third = JSON.stringify((scripted[2]?.body as { messages?: unknown })?.messages ?? "");
      expect(third).toContain("write one.txt");
      expect(third).toContain("now write two.txt");
    } finally {
      await api.close();
    }
  });
});
