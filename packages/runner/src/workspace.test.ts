import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { git, makeBareRepo } from "../test/git-fixtures.ts";
import { runProcess } from "./process.ts";
import type { Sandbox } from "./sandbox.ts";
import {
  cloneRepo,
  collectChanges,
  createTaskDirs,
  parseNumstat,
  resolveRepo,
  taskDirs,
} from "./workspace.ts";

// collectChanges' own logic (staging, numstat, binary patch) is under test here; the real sandbox
// around it is exercised by the task and end-to-end tests.
const direct: Sandbox = { run: (argv, opts) => runProcess(argv, { ...opts, cwd: opts.cwd ?? "/" }) };

const roots: string[] = [];
const newDirs = async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "oa-ws-"));
  roots.push(root);
  const dirs = taskDirs(root, "t1");
  await createTaskDirs(dirs);
  return dirs;
};
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const repo = makeBareRepo({ "README.md": "# demo\n", "src/a.txt": "one\ntwo\n", "logo.bin": "\u0000\u0001" });
const never = new AbortController().signal;

describe("resolveRepo", () => {
  it("keeps URLs and turns local paths into file:// URLs", async () => {
    expect(await resolveRepo("https://github.com/a/b", "/")).toEqual({
      ok: true,
      value: "https://github.com/a/b",
    });
    expect(await resolveRepo("git@github.com:a/b.git", "/")).toEqual({
      ok: true,
      value: "git@github.com:a/b.git",
    });
    expect(await resolveRepo(repo.bare, "/")).toEqual({ ok: true, value: `file://${repo.bare}` });
    const missing = await resolveRepo("./nope", os.tmpdir());
    expect(missing.ok === false && missing.error.code).toBe("repo_not_found");
  });
});

describe("cloneRepo", () => {
  it.each([
    [undefined, "main"],
    ["main", "main"],
    ["feature", "feature"],
    ["v1", "v1"],
  ])("checks out ref %s shallowly", async (ref, expected) => {
    const dirs = await newDirs();
    const lines: string[] = [];
    const r = await cloneRepo(`file://${repo.bare}`, ref, dirs, never, (l) => lines.push(l));
    expect(r).toEqual({ ok: true, value: repo.commits[expected] });
    expect(git(dirs.work, "rev-parse", "--is-shallow-repository")).toBe("true");
  });

  it("checks out a commit id", async () => {
    const dirs = await newDirs();
    const r = await cloneRepo(`file://${repo.bare}`, repo.commits.feature, dirs, never, () => {});
    expect(r).toEqual({ ok: true, value: repo.commits.feature });
  });

  it("reports a missing ref and a missing repository precisely", async () => {
    const bad = await cloneRepo(`file://${repo.bare}`, "no-such-branch", await newDirs(), never, () => {});
    expect(bad.ok === false && bad.error.code).toBe("ref_not_found");
    const gone = await cloneRepo("file:///nonexistent/repo.git", undefined, await newDirs(), never, () => {});
    expect(gone.ok === false && gone.error.code).toBe("repo_not_found");
  });
});

describe("collectChanges", () => {
  it("returns a patch with new, modified, deleted and binary files that applies cleanly", async () => {
    const dirs = await newDirs();
    const base = await cloneRepo(`file://${repo.bare}`, undefined, dirs, never, () => {});
    if (!base.ok) throw new Error(base.error.message);
    writeFileSync(path.join(dirs.work, "NEW.md"), "new file\n");
    writeFileSync(path.join(dirs.work, "src/a.txt"), "one\n2\nthree\n");
    unlinkSync(path.join(dirs.work, "README.md"));
    writeFileSync(path.join(dirs.work, "logo.bin"), Buffer.from([0, 2, 3, 4]));
    const r = await collectChanges(direct, dirs, base.value, never);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.diffstat).toMatchObject({ filesChanged: 4, insertions: 3, deletions: 2 });
    expect(r.value.diffstat.files.find((f) => f.path === "logo.bin")?.binary).toBe(true);
    expect(r.value.patch).toContain("GIT binary patch");

    // The patch reproduces the work tree on a fresh checkout of the base.
    const check = await newDirs();
    await cloneRepo(`file://${repo.bare}`, undefined, check, never, () => {});
    writeFileSync(path.join(check.root, "p.patch"), r.value.patch);
    git(check.work, "apply", "--binary", path.join(check.root, "p.patch"));
    expect(readFileSync(path.join(check.work, "src/a.txt"), "utf8")).toBe("one\n2\nthree\n");
    expect(readFileSync(path.join(check.work, "NEW.md"), "utf8")).toBe("new file\n");
  });

  it("returns an empty patch when nothing changed", async () => {
    const dirs = await newDirs();
    const base = await cloneRepo(`file://${repo.bare}`, undefined, dirs, never, () => {});
    if (!base.ok) throw new Error(base.error.message);
    const r = await collectChanges(direct, dirs, base.value, never);
    expect(r).toEqual({ ok: true, value: { patch: "", diffstat: parseNumstat([]), truncated: false } });
  });
});
