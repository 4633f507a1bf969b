import { describe, expect, it } from "vitest";
import { parseTask } from "./task.ts";

const valid = { repo: "https://example.com/a/b.git", agent: "claude-code", prompt: "add a README" };

const errorOf = (input: unknown) => {
  const r = parseTask(input);
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(input)}`);
  return r.error;
};

describe("parseTask", () => {
  it("accepts a minimal agent task and a full shell task", () => {
    expect(parseTask(valid)).toEqual({ ok: true, value: valid });
    const full = {
      repo: "./local/repo",
      ref: "feature/x-1",
      agent: "shell",
      script: "echo hi",
      setup: "npm ci",
      env: { CI: "1", EMPTY: "" },
      network: { mode: "allowlist", allow: ["github.com", "*.npmjs.org"] },
      timeoutSec: 60,
      compute: "tunnel",
      machine: "laptop-1",
    };
    expect(parseTask(full)).toEqual({ ok: true, value: full });
  });

  it("lower-cases allow-listed domains", () => {
    const r = parseTask({ ...valid, network: { mode: "allowlist", allow: ["GitHub.com"] } });
    expect(r.ok && r.value.network?.allow).toEqual(["github.com"]);
  });

  it.each([
    [null, "", "body must be an object"],
    [[], "", "body must be an object"],
    ["x", "", "body must be an object"],
    [{ agent: "shell", script: "x" }, "repo", "repo is required"],
    [{ repo: "x", script: "x" }, "agent", "agent is required"],
    [{ ...valid, agent: "gpt" }, "agent", 'agent must be one of "claude-code", "codex", "shell", got "gpt"'],
    [{ ...valid, repo: 42 }, "repo", "repo must be a string, got number"],
    [{ ...valid, repo: "" }, "repo", "repo must not be empty"],
    [{ ...valid, repo: "--upload-pack=evil" }, "repo", "must not start with '-'"],
    [{ ...valid, ref: "-x" }, "ref", "not a valid git ref"],
    [{ ...valid, ref: "a..b" }, "ref", "not a valid git ref"],
    [{ ...valid, ref: "a b" }, "ref", "not a valid git ref"],
    [{ ...valid, ref: "x.lock" }, "ref", "not a valid git ref"],
    [{ repo: "x", agent: "claude-code" }, "prompt", "prompt is required"],
    [{ repo: "x", agent: "shell" }, "script", "script is required"],
    [{ repo: "x", agent: "shell", script: "x", prompt: "y" }, "prompt", "takes a script"],
    [{ ...valid, script: "x" }, "script", 'script is only for agent "shell"'],
    [{ ...valid, extra: 1 }, "extra", 'unknown field "extra"'],
    [{ ...valid, env: [] }, "env", "env must be an object"],
    [{ ...valid, env: { "1X": "a" } }, "env.1X", "not a valid variable name"],
    [{ ...valid, env: { ANTHROPIC_API_KEY: "k" } }, "env.ANTHROPIC_API_KEY", "reserved"],
    [{ ...valid, env: { LD_PRELOAD: "x" } }, "env.LD_PRELOAD", "reserved"],
    [{ ...valid, env: { A: 1 } }, "env.A", "env.A must be a string"],
    [{ ...valid, network: { mode: "some" } }, "network.mode", "network.mode must be one of"],
    [{ ...valid, network: { mode: "allowlist" } }, "network.allow", "required"],
    [{ ...valid, network: { mode: "allowlist", allow: [] } }, "network.allow", "non-empty array"],
    [{ ...valid, network: { mode: "none", allow: ["a.com"] } }, "network.allow", "applies only"],
    [
      { ...valid, network: { mode: "allowlist", allow: ["a.com", "http://b"] } },
      "network.allow[1]",
      "not a domain",
    ],
    [{ ...valid, network: { mode: "open", x: 1 } }, "network.x", "unknown field"],
    [{ ...valid, timeoutSec: 0 }, "timeoutSec", "between 1 and 86400"],
    [{ ...valid, timeoutSec: 1.5 }, "timeoutSec", "must be an integer"],
    [{ ...valid, timeoutSec: "60" }, "timeoutSec", "must be an integer"],
    [{ ...valid, compute: "gpu" }, "compute", "compute must be one of"],
    [{ ...valid, machine: "a b" }, "machine", "may contain only"],
    [{ ...valid, prompt: "x".repeat(200_001) }, "prompt", "longer than"],
  ])("rejects %j at %s", (input, path, message) => {
    const e = errorOf(input);
    expect(e.code).toBe("invalid_task");
    expect(e.path).toBe(path);
    expect(e.message).toContain(message);
  });
});
