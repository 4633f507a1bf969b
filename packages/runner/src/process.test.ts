import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { runProcess } from "./process.ts";

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
let n = 0;
/** A `sleep` argument no other process has: the test finds its sleepers by it. */
const newMarker = () => `1000.${process.pid}${n++}${Date.now() % 100_000}`;

function sleepersWith(marker: string): number {
  let count = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("sleep") && argv[1] === marker) count++;
    } catch {
      // Gone meanwhile.
    }
  }
  return count;
}

async function untilSleeping(marker: string): Promise<void> {
  for (let i = 0; i < 500 && sleepersWith(marker) === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(sleepersWith(marker)).toBe(1);
}

/** Starts `argv`, aborts once its sleeper runs, and returns how the run ended. */
async function abortWhenSleeping(argv: string[], marker: string) {
  const ac = new AbortController();
  const run = runProcess(argv, { cwd: os.tmpdir(), env, signal: ac.signal, graceMs: 300 });
  await untilSleeping(marker);
  ac.abort();
  return run;
}

describe("runProcess: abort", () => {
  it("stops a descendant that left the process group (its own session)", async () => {
    const marker = newMarker();
    // The sleeper keeps the stdout pipe: were it left running, the run would never end.
    const exit = await abortWhenSleeping(["sh", "-c", `setsid sleep ${marker} & wait`], marker);
    expect(exit.aborted).toBe(true);
    expect(sleepersWith(marker)).toBe(0);
  });

  // bubblewrap's sandbox init (own session, pid namespace init) arms --die-with-parent only after its
  // setup: a task cancelled in that window left the sandbox running, holding the task's pipes.
  it("stops a bubblewrap sandbox whose init does not die with its parent", async () => {
    const marker = newMarker();
    const argv = [
      "bwrap",
      "--new-session",
      "--unshare-user",
      "--unshare-pid",
      "--ro-bind",
      "/",
      "/",
      "--dev",
      "/dev",
      "--proc",
      "/proc",
      "--",
      "sh",
      "-c",
      `sleep ${marker} & wait`,
    ];
    const exit = await abortWhenSleeping(argv, marker);
    expect(exit.aborted).toBe(true);
    expect(sleepersWith(marker)).toBe(0);
  });

  it("still gives the process group its grace: SIGTERM first", async () => {
    const lines: string[] = [];
    const ac = new AbortController();
    const run = runProcess(
      ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.05; done"],
      {
        cwd: os.tmpdir(),
        env,
        signal: ac.signal,
        graceMs: 5_000,
        onStdoutLine: (l) => {
          lines.push(l);
          if (l === "up") ac.abort();
        },
      },
    );
    const exit = await run;
    expect(exit).toMatchObject({ aborted: true, exitCode: 0 });
    expect(lines).toEqual(["up", "got-term"]);
  });
});
