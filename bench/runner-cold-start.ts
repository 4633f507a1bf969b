/**
 * Runner cold start: `POST /tasks` → the first `status: running` event on the task's SSE stream, for a
 * small repository, against the baseline of what the runner must do at the least — a bare shallow
 * `git clone` of the same repository plus spawning the same process — measured in the same run.
 *
 *   node bench/runner-cold-start.ts [runs=15]
 *
 * Target (issue 2): overhead ≤ 1.5× the baseline and under 300 ms.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createRunnerServer, TaskManager } from "@openagents/runner";
import { makeBareRepo } from "../packages/runner/test/git-fixtures.ts";

const RUNS = Number(process.argv[2] ?? 15);
const repo = makeBareRepo({ "README.md": "# small\n", "src/main.ts": "export const x = 1;\n" });
const root = mkdtempSync(path.join(os.tmpdir(), "oa-bench-cold-"));
const manager = new TaskManager({
  workRoot: path.join(root, "work"),
  credentials: { anthropicBaseUrl: "http://127.0.0.1:9", openaiBaseUrl: "http://127.0.0.1:9" },
});
const server = createRunnerServer({ manager });
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

function post(url: string, body: unknown): Promise<{ id: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let data = "";
      res.on("data", (d) => {
        data += d;
      });
      res.on("end", () => (res.statusCode === 201 ? resolve(JSON.parse(data)) : reject(new Error(data))));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** Resolves at the first `running` status frame of the task's SSE stream, then drops the stream. */
function firstRunning(id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/tasks/${id}/events`, (res) => {
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        if (buffer.includes('"phase":"running"')) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on("error", (e) => (String(e).includes("socket hang up") ? undefined : reject(e)));
    req.end();
  });
}

async function runnerColdStart(): Promise<number> {
  const t0 = performance.now();
  const { id } = await post(`${base}/tasks`, { repo: repo.bare, agent: "shell", script: "true" });
  await firstRunning(id);
  const ms = performance.now() - t0;
  await manager.get(id)?.done;
  return ms;
}

function baseline(i: number): number {
  const dir = path.join(root, `baseline-${i}`);
  const t0 = performance.now();
  const clone = spawnSync("git", ["clone", "-q", "--depth", "1", `file://${repo.bare}`, dir]);
  const run = spawnSync("bash", ["-c", "true"], { cwd: dir });
  const ms = performance.now() - t0;
  if (clone.status !== 0 || run.status !== 0) throw new Error("baseline failed");
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;

// One warm-up of each: the first task pays for loading the sandbox runtime once per process.
const firstTask = await runnerColdStart();
baseline(-1);
const runner: number[] = [];
const bare: number[] = [];
for (let i = 0; i < RUNS; i++) {
  bare.push(baseline(i));
  runner.push(await runnerColdStart());
}
const m = median(runner);
const b = median(bare);
console.log(`runner cold start over ${RUNS} runs (small repo, shell task):`);
console.log(`  first task in the process (loads the sandbox runtime): ${firstTask.toFixed(1)} ms`);
console.log(
  `  POST /tasks → first "running" event: median ${m.toFixed(1)} ms, p90 ${p90(runner).toFixed(1)} ms`,
);
console.log(
  `  baseline git clone --depth 1 + spawn: median ${b.toFixed(1)} ms, p90 ${p90(bare).toFixed(1)} ms`,
);
console.log(
  `  ratio ${(m / b).toFixed(2)}× (target ≤ 1.5×), added ${(m - b).toFixed(1)} ms; absolute target < 300 ms`,
);
await server.shutdown();
rmSync(root, { recursive: true, force: true });
process.exit(0);
