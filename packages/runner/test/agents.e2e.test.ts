import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AgentBody, RunEventBody, Task } from "@openagents/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentContext, ModelCredentials } from "../src/agent-adapter.ts";
import { claudeCodeAdapter } from "../src/agents/claude-code.ts";
import { createCodexAdapter } from "../src/agents/codex.ts";
import { shellAdapter } from "../src/agents/shell.ts";
import { createSandbox, type Sandbox } from "../src/sandbox.ts";
import { type ScriptedAnthropic, startScriptedAnthropic } from "./scripted-anthropic.ts";
import { type ScriptedOpenAI, startScriptedOpenAI } from "./scripted-openai.ts";

// The real Claude Code CLI (npm @anthropic-ai/claude-code) in the real sandbox (bubblewrap via
// @anthropic-ai/sandbox-runtime, network "none"), talking through the key proxy to a scripted
// Messages API on loopback.

const REAL_KEY = "sk-ant-api03-REAL-KEY-never-in-the-sandbox-0123456789";
let base: string;
let root: string;
let taskCount = 0;
const apis: (ScriptedAnthropic | ScriptedOpenAI)[] = [];

interface TaskSetup {
  work: string;
  home: string;
  sandbox: Sandbox;
}

async function newTask(): Promise<TaskSetup> {
  const dir = path.join(root, `task-${++taskCount}`);
  const [work, home, tmp] = ["work", "home", "tmp"].map((d) => path.join(dir, d)) as [string, string, string];
  for (const d of [work, home, tmp]) mkdirSync(d, { recursive: true });
  const sandbox = await createSandbox({
    workspace: work,
    writable: [home, tmp],
    workspacesRoot: root,
    network: { mode: "none" },
  });
  return { work, home, sandbox };
}

function contextFor(
  t: TaskSetup,
  task: Task,
  credentials: ModelCredentials,
  instructions: string,
): { ctx: AgentContext; events: RunEventBody[] } {
  const events: RunEventBody[] = [];
  const ctx: AgentContext = {
    task,
    instructions,
    workspace: t.work,
    emit: (e) => events.push(e),
    signal: new AbortController().signal,
    sandbox: t.sandbox,
    credentials,
  };
  return { ctx, events };
}

const agentEvents = (events: RunEventBody[]) => events.filter((e): e is AgentBody => e.type === "agent");

beforeAll(() => {
  base = realpathSync(mkdtempSync(path.join(os.tmpdir(), "oa-agents-e2e-")));
  root = path.join(base, "tasks");
  mkdirSync(root);
});

afterAll(async () => {
  await Promise.all(apis.map((a) => a.close()));
  rmSync(base, { recursive: true, force: true });
});

describe("claude-code adapter (real CLI, scripted API)", () => {
  it("writes a file through a tool call, reports every step, and keeps the key out of the sandbox", async () => {
    const t = await newTask();
    const target = path.join(t.work, "hello.txt");
    const api = await startScriptedAnthropic(
      [
        {
          content: [
            { type: "text", text: "I will create hello.txt." },
            {
              type: "tool_use",
              name: "Write",
              input: { file_path: target, content: "Hello from the agent\n" },
            },
          ],
        },
        {
          content: [{ type: "tool_use", name: "Bash", input: { command: "env", description: "Print env" } }],
        },
        { content: [{ type: "text", text: "Done: hello.txt written." }], inputTokens: 120, outputTokens: 7 },
      ],
      { apiKey: REAL_KEY },
    );
    apis.push(api);
    const task: Task = { repo: ".", agent: "claude-code", prompt: "x", env: { TASK_FLAVOUR: "vanilla" } };
    const { ctx, events } = contextFor(
      t,
      task,
      { anthropicApiKey: REAL_KEY, anthropicBaseUrl: api.url, openaiBaseUrl: "http://127.0.0.1:9" },
      "Create hello.txt saying hello, then show the environment.",
    );

    const outcome = await claudeCodeAdapter.run(ctx);

    expect(outcome).toEqual({ ok: true, exitCode: 0, summary: "Done: hello.txt written." });
    expect(readFileSync(target, "utf8")).toBe("Hello from the agent\n");

    const steps = agentEvents(events).map((e) => `${e.kind}:${e.tool ?? e.text}`);
    expect(steps).toEqual([
      "message:I will create hello.txt.",
      "tool_call:Write",
      "tool_result:Write",
      "tool_call:Bash",
      "tool_result:Bash",
      "message:Done: hello.txt written.",
    ]);
    const usage = events.filter((e) => e.type === "usage");
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ inputTokens: 300 + 20, outputTokens: 20 + 20 + 7 });
    expect(usage[0]?.type === "usage" && usage[0].costUsd).toBeGreaterThan(0);

    // The API got the real key on every call the agent made; the agent itself only had the token.
    const scripted = api.requests.filter((r) => r.scripted);
    expect(scripted).toHaveLength(3);
    expect(api.remaining()).toBe(0);
    for (const r of api.requests) expect(r.headers["x-api-key"]).toBe(REAL_KEY);
    expect(scripted[0]?.url).toBe("/v1/messages?beta=true");

    const envDump =
      agentEvents(events).find((e) => e.kind === "tool_result" && e.tool === "Bash")?.text ?? "";
    const token = /^ANTHROPIC_API_KEY=(.+)$/m.exec(envDump)?.[1];
    expect(token).toMatch(/^oa-cap-/);
    expect(envDump).toMatch(/^ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:\d+$/m);
    expect(envDump).toContain("TASK_FLAVOUR=vanilla");
    expect(envDump).toContain(`HOME=${t.home}`);
    expect(envDump).not.toContain(REAL_KEY);
    expect(JSON.stringify(events)).not.toContain(REAL_KEY);

    // The task is over: its token opens nothing any more.
    const proxyUrl = /^ANTHROPIC_BASE_URL=(.+)$/m.exec(envDump)?.[1] ?? "";
    await expect(
      fetch(`${proxyUrl}/v1/messages`, { method: "POST", headers: { "x-api-key": token ?? "" }, body: "{}" }),
    ).rejects.toThrow();
  }, 90_000);

  it("stops at once when the API refuses the key instead of retrying for minutes", async () => {
    const t = await newTask();
    const api = await startScriptedAnthropic([{ content: [{ type: "text", text: "unreachable" }] }], {
      apiKey: "sk-ant-the-right-one",
    });
    apis.push(api);
    const { ctx, events } = contextFor(
      t,
      { repo: ".", agent: "claude-code", prompt: "x" },
      { anthropicApiKey: REAL_KEY, anthropicBaseUrl: api.url, openaiBaseUrl: "http://127.0.0.1:9" },
      "say hi",
    );
    const started = Date.now();
    const outcome = await claudeCodeAdapter.run(ctx);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(outcome.ok).toBe(false);
    expect(outcome.summary).toContain("refused the key (401");
    expect(api.remaining()).toBe(1);
    expect(JSON.stringify(events)).not.toContain(REAL_KEY);
    expect(outcome.summary).not.toContain(REAL_KEY);
  }, 60_000);

  it("stops the agent and its tools when the task is cancelled", async () => {
    const t = await newTask();
    const api = await startScriptedAnthropic(
      [
        {
          content: [
            {
              type: "tool_use",
              name: "Bash",
              // Claude Code refuses a bare `sleep 60`; a blocking tail is as long and allowed.
              input: { command: "touch started; tail -f /dev/null; touch finished", description: "Wait" },
            },
          ],
        },
        { content: [{ type: "text", text: "never" }] },
      ],
      { apiKey: REAL_KEY },
    );
    apis.push(api);
    const { ctx, events } = contextFor(
      t,
      { repo: ".", agent: "claude-code", prompt: "x" },
      { anthropicApiKey: REAL_KEY, anthropicBaseUrl: api.url, openaiBaseUrl: "http://127.0.0.1:9" },
      "wait",
    );
    const cancel = new AbortController();
    ctx.signal = cancel.signal;
    ctx.emit = (e) => {
      events.push(e);
      // Cancel once the agent has started its long tool call.
      if (e.type === "agent" && e.kind === "tool_call") setTimeout(() => cancel.abort(), 300);
    };
    const started = Date.now();
    const outcome = await claudeCodeAdapter.run(ctx);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(outcome.ok).toBe(false);
    expect(outcome.exitCode).not.toBe(0);
    expect(api.remaining()).toBe(1);
    // The whole tree went: the tool's shell did not live on to run its next command.
    expect(existsSync(path.join(t.work, "started"))).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    expect(existsSync(path.join(t.work, "finished"))).toBe(false);
  }, 60_000);

  it("fails with a clear message, without starting the agent, when no key is configured", async () => {
    const t = await newTask();
    const { ctx, events } = contextFor(
      t,
      { repo: ".", agent: "claude-code", prompt: "x" },
      { anthropicBaseUrl: "http://127.0.0.1:9", openaiBaseUrl: "http://127.0.0.1:9" },
      "say hi",
    );
    const outcome = await claudeCodeAdapter.run(ctx);
    expect(outcome).toMatchObject({ ok: false, exitCode: null });
    expect(outcome.summary).toContain("ANTHROPIC_API_KEY");
    expect(events).toEqual([{ type: "log", stream: "system", text: outcome.summary }]);
  });
});

describe("codex adapter (real CLI, scripted Responses API)", () => {
  // gpt-5 gets Codex's plain function tools (exec_command); its newest default model drives tools
  // through a JavaScript "code mode" host instead, which a scripted API cannot meaningfully answer.
  const codex = createCodexAdapter({ model: "gpt-5" });

  it("runs a command through the key proxy and keeps the key out of the sandbox", async () => {
    const t = await newTask();
    const api = await startScriptedOpenAI(
      [
        {
          output: [
            { type: "message", text: "Creating hello.txt." },
            {
              type: "function_call",
              name: "exec_command",
              arguments: { cmd: "printf 'Hello from codex\\n' > hello.txt && env" },
            },
          ],
        },
        {
          output: [{ type: "message", text: "Done: hello.txt written." }],
          inputTokens: 150,
          outputTokens: 9,
        },
      ],
      { apiKey: REAL_KEY },
    );
    apis.push(api);
    const { ctx, events } = contextFor(
      t,
      { repo: ".", agent: "codex", prompt: "x", env: { TASK_FLAVOUR: "mint" } },
      { openaiApiKey: REAL_KEY, openaiBaseUrl: api.url, anthropicBaseUrl: "http://127.0.0.1:9" },
      "Create hello.txt.",
    );
    const outcome = await codex.run(ctx);
    expect(outcome).toEqual({ ok: true, exitCode: 0, summary: "Done: hello.txt written." });
    expect(readFileSync(path.join(t.work, "hello.txt"), "utf8")).toBe("Hello from codex\n");
    expect(agentEvents(events).map((e) => `${e.kind}:${e.tool ?? e.text}`)).toEqual([
      "message:Creating hello.txt.",
      "tool_call:shell",
      "tool_result:shell",
      "message:Done: hello.txt written.",
    ]);
    expect(events.filter((e) => e.type === "usage")).toEqual([
      expect.objectContaining({ model: "gpt-5", inputTokens: 250, outputTokens: 29 }),
    ]);
    const scripted = api.requests.filter((r) => r.scripted);
    expect(scripted).toHaveLength(2);
    for (const r of api.requests) expect(r.headers.authorization).toBe(`Bearer ${REAL_KEY}`);
    expect(scripted[0]?.url).toBe("/v1/responses");
    const envDump = agentEvents(events).find((e) => e.kind === "tool_result")?.text ?? "";
    expect(envDump).toMatch(/^OPENAI_API_KEY=oa-cap-/m);
    expect(envDump).toContain("TASK_FLAVOUR=mint");
    expect(envDump).not.toContain(REAL_KEY);
    expect(JSON.stringify(events)).not.toContain(REAL_KEY);
  }, 90_000);

  it("stops at the first refusal of the key", async () => {
    const t = await newTask();
    const api = await startScriptedOpenAI([{ output: [{ type: "message", text: "unreachable" }] }], {
      apiKey: "sk-the-right-one",
    });
    apis.push(api);
    const { ctx, events } = contextFor(
      t,
      { repo: ".", agent: "codex", prompt: "x" },
      { openaiApiKey: REAL_KEY, openaiBaseUrl: api.url, anthropicBaseUrl: "http://127.0.0.1:9" },
      "say hi",
    );
    const outcome = await codex.run(ctx);
    expect(outcome.ok).toBe(false);
    expect(outcome.summary).toBe("Codex stopped: the model API refused the key (401 Unauthorized)");
    expect(api.requests.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain(REAL_KEY);
  }, 60_000);
});

describe("shell adapter (real bash in the sandbox)", () => {
  it("streams each output line as a log event and summarises with the last one", async () => {
    const t = await newTask();
    const script = [
      "echo first line",
      "echo oops >&2",
      'printf "%s\\n" "$TASK_FLAVOUR" > made.txt',
      'test -z "$ANTHROPIC_API_KEY" && echo "no key here"',
      "echo",
      "exit 3",
    ].join("\n");
    const { ctx, events } = contextFor(
      t,
      { repo: ".", agent: "shell", script, env: { TASK_FLAVOUR: "salted" } },
      {
        anthropicApiKey: REAL_KEY,
        anthropicBaseUrl: "http://127.0.0.1:9",
        openaiBaseUrl: "http://127.0.0.1:9",
      },
      script,
    );
    const outcome = await shellAdapter.run(ctx);
    expect(outcome).toEqual({ ok: false, exitCode: 3, summary: "no key here" });
    // stdout and stderr are two pipes: order holds within a stream, not across them.
    const lines = (stream: string) => events.filter((e) => e.type === "log" && e.stream === stream);
    expect(lines("stdout").map((e) => e.type === "log" && e.text)).toEqual(["first line", "no key here", ""]);
    expect(lines("stderr").map((e) => e.type === "log" && e.text)).toEqual(["oops"]);
    expect(events).toHaveLength(4);
    expect(readFileSync(path.join(t.work, "made.txt"), "utf8")).toBe("salted\n");
  });

  it("is ok on exit 0 and reads stdin-hungry commands without eating the script", async () => {
    const t = await newTask();
    const script = "cat > /dev/null\necho still running\n";
    const { ctx } = contextFor(
      t,
      { repo: ".", agent: "shell", script },
      { anthropicBaseUrl: "http://127.0.0.1:9", openaiBaseUrl: "http://127.0.0.1:9" },
      script,
    );
    expect(await shellAdapter.run(ctx)).toEqual({ ok: true, exitCode: 0, summary: "still running" });
  });
});
