import { MAX_SCRIPT_CHARS, parseTask, type Task } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { recreateTask } from "../src/recreate-workspace.ts";

const original: Task = {
  repo: "https://example.com/r.git",
  ref: "main",
  agent: "claude-code",
  prompt: "first prompt",
  setup: "npm ci",
  network: { mode: "allowlist", allow: ["registry.npmjs.org"] },
  timeoutSec: 600,
};
const patch =
  "diff --git a/a.txt b/a.txt\nnew file mode 100644\n--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+a\n";

describe("recreateTask: the runner task that re-creates a workspace for a follow-up", () => {
  it("keeps repo, ref, agent and options, takes the follow-up prompt, applies the patch before the task's setup", () => {
    const r = recreateTask(original, { patch, filesChanged: 1 }, "next prompt");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { setup, ...rest } = r.value;
    expect(rest).toEqual({ ...original, setup: undefined, prompt: "next prompt" });
    expect(setup).toContain(`git apply --binary --whitespace=nowarn <<'OPENAGENTS_PATCH' ||`);
    expect(setup).toContain(`\n${patch}OPENAGENTS_PATCH\n`);
    expect(setup!.indexOf("git apply")).toBeLessThan(setup!.indexOf("npm ci"));
    // What the runner will be sent is a valid Task.
    expect(parseTask(JSON.parse(JSON.stringify(r.value)))).toMatchObject({ ok: true });
  });

  it("picks a heredoc delimiter that no line of the patch equals", () => {
    const tricky = `${patch.replace("+a\n", "+x\n")}OPENAGENTS_PATCH\n`;
    const r = recreateTask(original, { patch: tricky, filesChanged: 1 }, "p");
    expect(r.ok && r.value.setup).toContain(`<<'OPENAGENTS_PATCH_1'`);
    // The patch's own "OPENAGENTS_PATCH" line stays inside the heredoc, which the new delimiter ends.
    expect(r.ok && r.value.setup).toContain(`\n${tricky}OPENAGENTS_PATCH_1\n`);
  });

  it("needs no setup when there is nothing to restore and none to re-run", () => {
    const { setup: _setup, ...bare } = original;
    const r = recreateTask(bare, { patch: "", filesChanged: 0 }, "p");
    expect(r).toMatchObject({ ok: true });
    expect(r.ok && "setup" in r.value).toBe(false);
  });

  it("refuses a patch that does not fit the setup limit, a missing patch, and a task that had env values", () => {
    const big = `${patch}${"+x\n".repeat(Math.ceil(MAX_SCRIPT_CHARS / 3))}`;
    const tooBig = recreateTask(original, { patch: big, filesChanged: 1 }, "p");
    expect(tooBig).toMatchObject({ ok: false, error: { code: "conflict" } });
    expect(!tooBig.ok && tooBig.error.message).toMatch(/does not fit the 200000-character setup/);
    const lost = recreateTask(original, { patch: "", filesChanged: 3 }, "p");
    expect(!lost.ok && lost.error.message).toMatch(/no patch \(too large to return\)/);
    const withEnv = recreateTask(original, { patch, filesChanged: 1 }, "p", ["NPM_TOKEN"]);
    expect(!withEnv.ok && withEnv.error.message).toMatch(/needs its env \(NPM_TOKEN\)/);
  });
});
