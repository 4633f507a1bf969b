import { parseTask } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { emptyForm, fieldOf, type TaskFormValues, toTask, validateForm } from "./task-form.ts";

const form = (over: Partial<TaskFormValues>): TaskFormValues => ({ ...emptyForm(), ...over });

describe("validateForm", () => {
  it("builds the Task the server accepts, leaving empty optional fields out", () => {
    const r = validateForm(
      form({
        repo: " https://github.com/a/b.git ",
        ref: "main",
        instructions: "Fix the bug",
        timeoutSec: "600",
      }),
    );
    expect(r.errors).toEqual({});
    expect(r.task).toEqual({
      repo: "https://github.com/a/b.git",
      ref: "main",
      agent: "claude-code",
      prompt: "Fix the bug",
      compute: "cloud",
      timeoutSec: 600,
    });
  });

  it("sends a shell task's text as `script` and an allowlist as domains", () => {
    const r = validateForm(
      form({
        repo: "/srv/repo",
        agent: "shell",
        instructions: "npm test",
        networkMode: "allowlist",
        allow: "github.com, *.npmjs.org\nregistry.npmjs.org",
      }),
    );
    expect(r.task).toMatchObject({
      agent: "shell",
      script: "npm test",
      network: { mode: "allowlist", allow: ["github.com", "*.npmjs.org", "registry.npmjs.org"] },
    });
    expect(r.task?.prompt).toBeUndefined();
  });

  it("shows every field's error at once, keyed by the server's field path", () => {
    const r = validateForm(
      form({
        repo: "",
        ref: "bad..ref",
        instructions: "",
        networkMode: "allowlist",
        allow: "",
        timeoutSec: "0",
      }),
    );
    expect(Object.keys(r.errors).sort()).toEqual(["network.allow", "prompt", "ref", "repo", "timeoutSec"]);
    expect(r.errors.repo).toBe("repo must not be empty");
    expect(r.errors.ref).toBe("ref is not a valid git ref");
    expect(r.errors.prompt).toBe('prompt is required when agent is "claude-code"');
    expect(r.errors.timeoutSec).toBe("timeoutSec must be between 1 and 86400, got 0");
    expect(r.task).toBeUndefined();
  });

  it("gives the same message as the server for each error", () => {
    const cases: Array<Partial<TaskFormValues>> = [
      { repo: "-oops", instructions: "x" },
      { repo: "r", agent: "shell", instructions: "" },
      { repo: "r", instructions: "x", networkMode: "allowlist", allow: "github.com bad_domain!" },
      { repo: "r", instructions: "x", timeoutSec: "1.5" },
      { repo: "r", instructions: "x", timeoutSec: "soon" },
    ];
    for (const c of cases) {
      const server = parseTask(toTask(form(c)));
      expect(server.ok).toBe(false);
      if (server.ok) continue;
      const client = validateForm(form(c));
      expect(client.errors[fieldOf(server.error.path)]).toBe(server.error.message);
    }
  });

  it("sends a machine name only for My machine", () => {
    const base = { repo: "/srv/repo", agent: "shell" as const, instructions: "make" };
    expect(validateForm(form({ ...base, compute: "tunnel", machine: " laptop " })).task).toMatchObject({
      compute: "tunnel",
      machine: "laptop",
    });
    expect(validateForm(form({ ...base, compute: "tunnel", machine: "" })).task?.machine).toBeUndefined();
    expect(
      validateForm(form({ ...base, compute: "cloud", machine: "laptop" })).task?.machine,
    ).toBeUndefined();
  });

  it("maps nested paths to their form field", () => {
    expect(fieldOf("network.allow[3]")).toBe("network.allow");
    expect(fieldOf("network.mode")).toBe("network.mode");
    expect(fieldOf("env.FOO")).toBe("env");
    expect(fieldOf("repo")).toBe("repo");
    expect(fieldOf(undefined)).toBe("");
  });
});
