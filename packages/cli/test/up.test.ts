import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RunEvent } from "@openagents/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../../runner/test/git-fixtures.ts";
import { type ScriptedAnthropic, startScriptedAnthropic } from "../../runner/test/scripted-anthropic.ts";
import { type LocalStack, startLocalStack } from "../../web/test/local-stack.ts";

// `openagents up` as a user runs it, with a model key in its own environment: the key stays in the
// `up` process (its egress key proxy); containers get a capability token only.
const KEY = "sk-ant-up-env-key-0123456789abcdef";
const home = mkdtempSync(path.join(os.tmpdir(), "oa-up-test-"));
const stacks: LocalStack[] = [];
let api: ScriptedAnthropic | undefined;
afterAll(async () => {
  for (const s of stacks) await s.stop();
  await api?.close();
  rmSync(home, { recursive: true, force: true });
});

async function finished(stack: LocalStack, id: string): Promise<RunEvent[]> {
  for (let i = 0; i < 600; i++) {
    const events = await stack.events(id);
    if (events.at(-1)?.type === "result") return events;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`task ${id} did not finish`);
}

describe("openagents up", () => {
  it("runs a claude-code task with the key from up's environment, and keeps tasks across a restart", async () => {
    api = await startScriptedAnthropic(
      [
        {
          content: [
            { type: "tool_use", name: "Bash", input: { command: "echo hi > hi.txt", description: "x" } },
          ],
        },
        { content: [{ type: "text", text: "Wrote hi.txt." }] },
      ],
      { apiKey: KEY },
    );
    const token = "up-test-token-0123456789";
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: api.url };
    const first = await startLocalStack({ token, env, home });
    stacks.push(first);
    const repo = makeBareRepo();
    const started = await first.api("POST", "/api/task/start", {
      repo: repo.bare,
      agent: "claude-code",
      prompt: "hi",
    });
    expect(started.status).toBe(201);
    const { id } = started.json as { id: string };
    const events = await finished(first, id);
    expect(events.at(-1)).toMatchObject({ type: "result", ok: true, summary: "Wrote hi.txt." });
    expect(JSON.stringify(events)).not.toContain(KEY);
    expect(api.requests.some((r) => r.headers["x-api-key"] === KEY)).toBe(true);

    expect(await first.stop()).toEqual([]);
    stacks.pop();
    const second = await startLocalStack({ token, env, home });
    stacks.push(second);
    const list = await second.api("GET", "/api/tasks");
    expect(JSON.stringify(list.json)).toContain(id);
    expect((await second.events(id)).length).toBe(events.length);
  }, 240_000);
});
