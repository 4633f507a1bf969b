import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePatch, unquote } from "./patch.ts";

// The patches come from real git, as the runner's come from `git diff`, so the parser meets git's
// real headers (renames, binaries, quoted names, missing newlines) rather than hand-written ones.
let dir: string;
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "core.quotepath=true", ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
  });
const write = (name: string, text: string | Buffer) => writeFileSync(join(dir, name), text);

let patch: string;
let numstat: Map<string, [number, number]>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "web-patch-"));
  git("init", "-q", "-b", "main");
  git("config", "user.email", "t@example.com");
  git("config", "user.name", "t");
  write("app.ts", ["one", "two", "-- not a header", "three", "four", "five", ""].join("\n"));
  write("old name.txt", "same content\nfor the rename\nline three\nline four\n");
  write("gone.txt", "bye\n");
  write("café.md", "x\n");
  write("no-eol.txt", "a\nb");
  git("add", "-A");
  git("commit", "-qm", "base");
  write("app.ts", ["one", "TWO", "three", "++ still not a header", "four", "five", "six", ""].join("\n"));
  git("mv", "old name.txt", "new name.txt");
  unlinkSync(join(dir, "gone.txt"));
  write("added.ts", "export const a = 1;\n");
  write("café.md", "y\n");
  write("image.bin", Buffer.from([0, 1, 2, 3, 255, 0, 10]));
  write("no-eol.txt", "a\nc");
  git("add", "-A");
  patch = git("diff", "--cached", "-M", "HEAD");
  numstat = new Map(
    git("diff", "--cached", "-M", "--numstat", "-z", "HEAD")
      .split("\0")
      .filter(Boolean)
      .reduce<string[][]>((rows, part) => {
        // -z numstat: "ins\tdel\tpath" or, for a rename, "ins\tdel\t" then old and new paths.
        const last = rows[rows.length - 1];
        if (last && last.length < 5 && last[2] === "") last.push(part);
        else rows.push(part.split("\t"));
        return rows;
      }, [])
      .map((r) => [r[2] === "" ? r[4]! : r[2]!, [Number(r[0]), Number(r[1])] as [number, number]]),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parsePatch", () => {
  it("finds every file with git's own line counts", () => {
    const files = parsePatch(patch);
    expect(files.map((f) => f.path).sort()).toEqual([...numstat.keys()].sort());
    for (const f of files) {
      if (f.binary) continue;
      expect([f.path, f.insertions, f.deletions]).toEqual([f.path, ...numstat.get(f.path)!]);
    }
  });

  it("tells added, deleted, renamed, binary and modified files apart", () => {
    const byPath = new Map(parsePatch(patch).map((f) => [f.path, f]));
    expect(byPath.get("added.ts")?.change).toBe("added");
    expect(byPath.get("gone.txt")?.change).toBe("deleted");
    expect(byPath.get("new name.txt")).toMatchObject({ change: "renamed", oldPath: "old name.txt" });
    expect(byPath.get("image.bin")).toMatchObject({ binary: true, change: "added" });
    expect(byPath.get("café.md")?.change).toBe("modified");
  });

  it("reads lines that look like headers as content, with line numbers", () => {
    const app = parsePatch(patch).find((f) => f.path === "app.ts")!;
    const lines = app.hunks.flatMap((h) => h.lines);
    expect(lines).toContainEqual({ kind: "del", text: "-- not a header", oldNo: 3 });
    expect(lines).toContainEqual({ kind: "add", text: "++ still not a header", newNo: 4 });
    expect(lines).toContainEqual({ kind: "ctx", text: "one", oldNo: 1, newNo: 1 });
    expect(lines.filter((l) => l.kind === "add").map((l) => l.text)).toEqual([
      "TWO",
      "++ still not a header",
      "six",
    ]);
  });

  it("keeps '\\ No newline at end of file' as a note", () => {
    const f = parsePatch(patch).find((x) => x.path === "no-eol.txt")!;
    expect(f.hunks[0]!.lines.filter((l) => l.kind === "note")).toHaveLength(2);
    expect(f.deletions).toBe(1);
    expect(f.insertions).toBe(1);
  });

  it("gives each file its own part of the patch, which together make the whole", () => {
    const files = parsePatch(patch);
    expect(files.map((f) => f.raw).join("")).toBe(patch);
    expect(files.every((f) => f.raw.startsWith("diff --git "))).toBe(true);
  });

  it("returns no files for an empty patch", () => {
    expect(parsePatch("")).toEqual([]);
  });
});

describe("unquote", () => {
  it("decodes git's octal-escaped UTF-8 names", () => {
    expect(unquote('"caf\\303\\251.md"')).toBe("café.md");
    expect(unquote('"a\\tb\\"c"')).toBe('a\tb"c');
    expect(unquote("plain")).toBe("plain");
  });
});
