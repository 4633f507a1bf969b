import { readFileSync } from "node:fs";
import { type AgentBody, type RunEventBody, readBody } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { ClaudeStream, MAX_TOOL_RESULT_CHARS } from "./claude-stream.ts";

// Lines recorded from Claude Code 2.1.332 (`-p --output-format stream-json --verbose`) run against the
// scripted Messages API: a Write + Bash(env) + final text run, an API 400, and a refused key (401).
const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), "utf8").split("\n");

const normalise = (lines: string[]) => {
  const stream = new ClaudeStream();
  const events = lines.flatMap((l) => stream.push(l));
  return { stream, events };
};
const agent = (events: RunEventBody[]) => events.filter((e): e is AgentBody => e.type === "agent");

describe("ClaudeStream", () => {
  it("normalises a recorded successful run into agent, usage and log events", () => {
    const { stream, events } = normalise(fixture("claude-stream-success.jsonl"));
    expect(events[0]).toEqual({
      type: "log",
      stream: "system",
      text: "Claude Code 2.1.332 started (model claude-opus-5-5)",
    });
    const steps = agent(events).map((e) => [e.kind, e.tool ?? e.text]);
    expect(steps).toEqual([
      ["thinking", "I will write the file."],
      ["message", "Writing."],
      ["tool_call", "Write"],
      ["tool_result", "Write"],
      ["tool_call", "Bash"],
      ["tool_result", "Bash"],
      ["message", "All done."],
    ]);
    const [write, written] = agent(events).filter((e) => e.tool === "Write");
    expect(write?.input).toEqual({ file_path: "/tmp/cc-explore/ws/hello.txt", content: "hi there\n" });
    expect(written?.toolUseId).toBe(write?.toolUseId);
    expect(written?.text).toContain("File created successfully");
    const bash = agent(events).find((e) => e.kind === "tool_result" && e.tool === "Bash");
    expect(bash?.text).toContain("ANTHROPIC_API_KEY=cap-token-xyz");
    expect(bash?.isError).toBeUndefined();

    const usage = events.filter((e) => e.type === "usage");
    expect(usage).toEqual([
      {
        type: "usage",
        model: "claude-opus-5-5",
        inputTokens: 300,
        outputTokens: 60,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        costUsd: 0.0024000000000000002,
      },
    ]);
    expect(stream.result).toEqual({ isError: false, subtype: "success", text: "All done." });
    expect(stream.authFailure).toBeUndefined();
    // Every event is valid on the wire.
    for (const e of events) expect(readBody(e as unknown as Record<string, unknown>)).toEqual(e);
  });

  it("marks a run that the API rejected as an error, with the CLI's message", () => {
    const { stream, events } = normalise(fixture("claude-stream-api-error.jsonl"));
    const [message] = agent(events);
    expect(message).toMatchObject({ kind: "message", isError: true });
    expect(message?.text).toContain("Prompt is too long");
    expect(stream.result?.isError).toBe(true);
    expect(stream.result?.text).toContain("Prompt is too long");
    expect(events.filter((e) => e.type === "usage")).toHaveLength(1);
  });

  it("flags a refused key from the CLI's retry notices", () => {
    const { stream, events } = normalise(fixture("claude-stream-auth-retry.jsonl"));
    expect(stream.authFailure).toBe("the model API refused the key (401 authentication_failed)");
    expect(events.filter((e) => e.type === "log" && e.text.includes("retries the API call"))).toHaveLength(4);
    expect(stream.result).toBeUndefined();
  });

  it("passes lines that are not JSON on as log events and ignores blank ones", () => {
    const { events } = normalise(["", "  ", "Error: something odd", "[1, 2]"]);
    expect(events).toEqual([
      { type: "log", stream: "stdout", text: "Error: something odd" },
      { type: "log", stream: "stdout", text: "[1, 2]" },
    ]);
  });

  it("keeps the text of block-list tool results, flags errors and cuts huge outputs", () => {
    const stream = new ClaudeStream();
    stream.push(
      JSON.stringify({
        type: "assistant",
        message: { content: [{ type: "tool_use", id: "t1", name: "Read", input: { file_path: "x" } }] },
      }),
    );
    const [blocks] = stream.push(
      JSON.stringify({
        type: "user",
        message: {
          content: [
            {
              type: "tool_result",
              tool_use_id: "t1",
              is_error: true,
              content: [
                { type: "text", text: "line one" },
                { type: "image", source: {} },
              ],
            },
          ],
        },
      }),
    );
    expect(blocks).toEqual({
      type: "agent",
      kind: "tool_result",
      tool: "Read",
      toolUseId: "t1",
      text: "line one\n[image]",
      isError: true,
    });
    const [huge] = stream.push(
      JSON.stringify({
        type: "user",
        message: { content: [{ type: "tool_result", tool_use_id: "t2", content: "x".repeat(100_000) }] },
      }),
    );
    expect(huge?.type === "agent" && huge.text?.length).toBeLessThan(MAX_TOOL_RESULT_CHARS + 100);
    expect(huge?.type === "agent" && huge.text).toContain("more characters cut");
  });

  it("treats a non-success result subtype as an error even without is_error", () => {
    const stream = new ClaudeStream();
    stream.push(
      JSON.stringify({ type: "result", subtype: "error_max_turns", usage: {}, modelUsage: { m: {} } }),
    );
    expect(stream.result).toEqual({ isError: true, subtype: "error_max_turns", text: "" });
    expect(stream.model).toBe("m");
  });
});
