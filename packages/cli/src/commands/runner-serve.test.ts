import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const BIN = path.resolve(import.meta.dirname, "../../bin/openagents.js");
const tmp = mkdtempSync(path.join(os.tmpdir(), "oa-cli-runner-serve-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A runner started by a parent that dies without stopping it (the local container host killed with
 * SIGKILL). The parent here is a shell that prints the runner's pid and waits.
 */
async function orphanRunner(exitWithParent: boolean): Promise<{ runner: number; output: () => string }> {
  const env = { ...process.env, XDG_STATE_HOME: tmp, OPENAGENTS_EXIT_WITH_PARENT: exitWithParent ? "1" : "" };
  const parent = spawn(
    "sh",
    [
      "-c",
      `"${process.execPath}" "${BIN}" runner serve --port 0 --work-root "${tmp}/w" & echo "pid $!"; wait`,
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  parent.stdout.on("data", (d: Buffer) => {
    out += d;
  });
  parent.stderr.on("data", (d: Buffer) => {
    out += d;
  });
  const deadline = Date.now() + 30_000;
  while (!/listening on/.test(out)) {
    if (Date.now() > deadline) throw new Error(`the runner did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const runner = Number(/pid (\d+)/.exec(out)![1]);
  parent.kill("SIGKILL");
  return { runner, output: () => out };
}

describe("openagents runner serve under a container host", () => {
  it("stops by itself when the host that started it is gone", async () => {
    const { runner, output } = await orphanRunner(true);
    const deadline = Date.now() + 15_000;
    while (alive(runner) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(alive(runner), output()).toBe(false);
    expect(output()).toContain("the container host is gone; stopping");
  });

  it("keeps running without the flag (a runner started by hand outlives its shell)", async () => {
    const { runner } = await orphanRunner(false);
    await new Promise((r) => setTimeout(r, 2_500));
    try {
      expect(alive(runner)).toBe(true);
    } finally {
      process.kill(runner, "SIGTERM");
    }
  });
});
