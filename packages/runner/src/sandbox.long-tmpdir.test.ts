import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = mkdtempSync(path.join(os.tmpdir(), "oa-long-tmp-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// In a child process: srt's sandbox manager is a process-wide singleton, initialised once with the
// TMPDIR of that moment.
const SCRIPT = `
import { createSandbox } from ${JSON.stringify(path.join(import.meta.dirname, "sandbox.ts"))};
const [work, home] = process.argv.slice(-2);
const sandbox = await createSandbox({ workspace: work, writable: [home], workspacesRoot: ${JSON.stringify(root)}, network: { mode: "none" } });
const lines = [];
const exit = await sandbox.run(["sh", "-c", "echo inside"], { cwd: work, env: { PATH: process.env.PATH, HOME: home }, onStdoutLine: (l) => lines.push(l) });
console.log(JSON.stringify({ exitCode: exit.exitCode, lines, tmpdir: process.env.TMPDIR }));
process.exit(0);
`;

describe("sandbox under a long TMPDIR", () => {
  it("starts although srt's bridge sockets would not fit in it (a container's private TMPDIR)", () => {
    // 120 bytes: a socket path below it cannot be bound.
    const tmp = path.join(root, "t".repeat(Math.max(1, 120 - root.length)));
    const work = path.join(root, "work");
    const home = path.join(root, "home");
    for (const d of [tmp, work, home]) mkdirSync(d, { recursive: true });
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", SCRIPT, work, home], {
      env: { ...process.env, TMPDIR: tmp },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      exitCode: number;
      lines: string[];
      tmpdir: string;
    };
    expect(out).toEqual({ exitCode: 0, lines: ["inside"], tmpdir: tmp });
  });
});
