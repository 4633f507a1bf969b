import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseRunEvent, type RunEvent } from "@openagents/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../../../runner/test/git-fixtures.ts";
import { startScriptedAnthropic } from "../../../runner/test/scripted-anthropic.ts";
import { memoryIo } from "../../test/io.ts";
import { runCli } from "../main.ts";

const tmp = mkdtempSync(path.join(os.tmpdir(), "oa-cli-run-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const repo = makeBareRepo({ "README.md": "# demo\n" });
const env = { PATH: process.env.PATH, HOME: tmp, XDG_STATE_HOME: path.join(tmp, "state") };

describe("openagents run", () => {
  it("runs a shell script, prints RunEvents as JSON lines and writes the patch", async () => {
    writeFileSync(path.join(tmp, "job.sh"), "echo 'hello' > hello.txt\necho finished\n");
    const io = memoryIo(env, tmp);
    const code = await runCli(
      [
        "run",
        "--repo",
        repo.bare,
        "--agent",
        "shell",
        "--script",
        "job.sh",
        "--json",
        "--out-patch",
        "job.patch",
      ],
      io,
    );
    const events = io
      .out()
      .trim()
      .split("\n")
      .map((line) => parseRunEvent(JSON.parse(line)))
      .map((r) => (r.ok ? r.value : expect.fail(r.error.message))) as RunEvent[];
    expect(code).toBe(0);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: "result", ok: true, summary: "finished" });
    expect(readFileSync(path.join(tmp, "job.patch"), "utf8")).toContain("+hello");
  });

  it("exits 1 with a readable failure when the script fails", async () => {
    writeFileSync(path.join(tmp, "fail.sh"), "echo oops >&2\nexit 4\n");
    const io = memoryIo(env, tmp);
    const code = await runCli(["run", "--repo", repo.bare, "--script", "fail.sh"], io);
    expect(code).toBe(1);
    expect(io.out()).toContain("! oops");
    expect(io.out()).toContain("script_failed: the script exited with code 4");
    expect(io.out()).toContain("✗ failed (exit 4)");
  });

  it("runs the real Claude Code against a scripted API and shows its tool calls", async () => {
    const key = "sk-ant-cli-test-key-0123456789";
    const api = await startScriptedAnthropic(
      [
        {
          content: [
            { type: "text", text: "Creating the file." },
            {
              type: "tool_use",
              name: "Bash",
              input: { command: "echo hi > hello.txt", description: "Create" },
            },
          ],
        },
        { content: [{ type: "text", text: "Created hello.txt." }] },
      ],
      { apiKey: key },
    );
    try {
      const io = memoryIo({ ...env, ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: api.url }, tmp);
      const code = await runCli(
        [
          "run",
          "--repo",
          repo.bare,
          "--agent",
          "claude-code",
          "--prompt",
          "create hello.txt",
          "--out-patch",
          "cc.patch",
        ],
        io,
      );
      expect(io.err()).not.toContain("internal error");
      expect(code).toBe(0);
      expect(io.out()).toContain("⚙ Bash echo hi > hello.txt");
      expect(io.out()).toContain("Created hello.txt.");
      expect(io.out()).toMatch(/1 file changed, \+1 −0/);
      expect(readFileSync(path.join(tmp, "cc.patch"), "utf8")).toContain("+++ b/hello.txt");
      expect(api.requests.some((r) => r.headers["x-api-key"] === key)).toBe(true);
      expect(io.out()).not.toContain(key);
    } finally {
      await api.close();
    }
  });

  it.each([
    [["run"], "--repo is required"],
    [
      ["run", "--repo", "x", "--agent", "gpt", "--prompt", "p"],
      '--agent must be one of "claude-code", "codex", "shell"',
    ],
    [["run", "--repo", "x", "--frob"], "Unknown option '--frob'"],
    [["run", "--repo", "x", "--script", "missing.sh"], "cannot read --script missing.sh: no such file"],
    [
      ["run", "--repo", "x", "--prompt", "p", "--timeout", "0"],
      "--timeout must be an integer between 1 and 86400",
    ],
    [
      ["run", "--repo", "x", "--prompt", "p", "--env", "NOEQUALS"],
      '--env expects NAME=VALUE, got "NOEQUALS"',
    ],
    [["nope"], 'unknown command "nope"'],
  ])("%j is a usage error: one line, exit 2", async (argv, message) => {
    const io = memoryIo(env, tmp);
    expect(await runCli(argv, io)).toBe(2);
    expect(io.err()).toBe(`openagents: ${io.err().slice("openagents: ".length)}`);
    expect(io.err()).toContain(message);
    expect(io.err().trim().split("\n")).toHaveLength(1);
  });

  it("prints help for the tool and each command", async () => {
    const io = memoryIo(env, tmp);
    expect(await runCli(["--help"], io)).toBe(0);
    expect(io.out()).toContain("runner serve");
    const runHelp = memoryIo(env, tmp);
    expect(await runCli(["run", "--help"], runHelp)).toBe(0);
    expect(runHelp.out()).toContain("--out-patch FILE");
  });
});
