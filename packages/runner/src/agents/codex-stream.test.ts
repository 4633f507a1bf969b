import { readFileSync } from "node:fs";
import { type AgentBody, type RunEventBody, readBody } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { CodexStream } from "./codex-stream.ts";

// Lines recorded from `codex exec --json` (codex-cli 0.171.0, `-m gpt-5`) against the scripted
// Responses API: a reasoning + message + exec_command run, and a run whose key was refused (401).
const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), "utf8").split("\n");
const agent = (events: RunEventBody[]) => events.filter((e): e is AgentBody => e.type === "agent");

describe("CodexStream", () => {
  it("normalises a recorded successful run", () => {
    const stream = new CodexStream({ model: "gpt-5" });
    const events = fixture("codex-exec-success.jsonl").flatMap((l) => stream.push(l));
    expect(agent(events).map((e) => [e.kind, e.tool ?? e.text])).toEqual([
      ["thinking", "Write the file with printf."],
      ["message", "Creating hello.txt."],
      ["tool_call", "shell"],
      ["tool_result", "shell"],
      ["message", "Done: hello.txt written."],
    ]);
    const [call, result] = agent(events).filter((e) => e.tool === "shell");
    expect(call?.input).toEqual({
      command: "/bin/bash -lc \"printf 'Hello from codex\\\\n' > hello.txt && env | sort\"",
    });
    expect(result?.toolUseId).toBe(call?.toolUseId);
    expect(result?.text).toContain("OPENAI_API_KEY=tok-123");
    expect(result?.isError).toBeUndefined();
    expect(events.filter((e) => e.type === "usage")).toEqual([
      {
        type: "usage",
        model: "gpt-5",
        inputTokens: 250,
        outputTokens: 29,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
      },
    ]);
    expect(events[0]).toMatchObject({
      type: "log",
      stream: "system",
      text: expect.stringContaining("Codex started"),
    });
    expect(events).toContainEqual({
      type: "log",
      stream: "system",
      text: expect.stringContaining("Model metadata for `gpt-5` not found"),
    });
    expect(stream.completed).toBe(true);
    expect(stream.failure).toBeUndefined();
    expect(stream.lastMessage).toBe("Done: hello.txt written.");
    for (const e of events) expect(readBody(e as unknown as Record<string, unknown>)).toEqual(e);
  });

  it("reports a refused key at its first 401 and the turn's failure", () => {
    const stream = new CodexStream();
    const lines = fixture("codex-exec-auth-failed.jsonl");
    const firstRetry = lines.findIndex((l) => l.includes("Reconnecting... 1/5"));
    for (const l of lines.slice(0, firstRetry)) stream.push(l);
    expect(stream.authFailure).toBeUndefined();
    stream.push(lines[firstRetry] ?? "");
    expect(stream.authFailure).toBe("the model API refused the key (401 Unauthorized)");
    for (const l of lines.slice(firstRetry + 1)) stream.push(l);
    expect(stream.failure).toContain("401 Unauthorized");
    expect(stream.completed).toBe(false);
  });

  it("maps file changes, failed commands, MCP calls and plans", () => {
    const stream = new CodexStream();
    const push = (o: unknown) => stream.push(JSON.stringify(o));
    expect(
      push({
        type: "item.completed",
        item: {
          id: "i1",
          type: "command_execution",
          command: "false",
          aggregated_output: "",
          exit_code: 1,
          status: "failed",
        },
      }),
    ).toEqual([
      { type: "agent", kind: "tool_call", tool: "shell", toolUseId: "i1", input: { command: "false" } },
      { type: "agent", kind: "tool_result", tool: "shell", toolUseId: "i1", text: "", isError: true },
    ]);
    expect(
      push({
        type: "item.completed",
        item: {
          id: "i2",
          type: "file_change",
          changes: [{ path: "a.txt", kind: "add" }],
          status: "completed",
        },
      })[1],
    ).toEqual({
      type: "agent",
      kind: "tool_result",
      tool: "apply_patch",
      toolUseId: "i2",
      text: "add a.txt",
    });
    expect(
      push({
        type: "item.completed",
        item: {
          id: "i3",
          type: "mcp_tool_call",
          server: "docs",
          tool: "search",
          arguments: { q: 1 },
          error: { message: "boom" },
        },
      })[1],
    ).toMatchObject({ tool: "docs.search", text: "boom", isError: true });
    expect(
      push({
        type: "item.completed",
        item: {
          id: "i4",
          type: "todo_list",
          items: [
            { text: "plan", completed: true },
            { text: "do", completed: false },
          ],
        },
      }),
    ).toEqual([{ type: "agent", kind: "thinking", text: "[x] plan\n[ ] do" }]);
    expect(stream.push("not json")).toEqual([{ type: "log", stream: "stdout", text: "not json" }]);
    expect(push({ type: "turn.started" })).toEqual([]);
  });
});
