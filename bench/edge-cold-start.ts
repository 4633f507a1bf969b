/**
 * Cold start through the edge: `POST /api/task/start` → the first `status: running` event on the
 * task's WebSocket (`/api/task/ws/:id`), against the runner-only cold start — `POST /tasks` on the
 * very same `runner serve` process (reached directly on its port) → the first `running` event of its
 * SSE stream — interleaved in the same run, so both see the same machine load.
 *
 *   node bench/edge-cold-start.ts [runs=15]
 *
 * Two edge figures: with the user's container already running (the edge's own overhead: Worker, D1,
 * TaskDO, ContainerDO, container host proxy; this is what the target is about), and with the
 * container stopped before each run (adds the runner process boot and readiness check).
 * Target (issue 3): ≤ 1.3× the runner-only median and ≤ 150 ms added.
 */
import { request } from "node:http";
import type { Task } from "@openagents/protocol";
import { type EdgeStack, median, percentile, startEdgeStack, watchEvents } from "./support/edge-stack.ts";

const RUNS = Number(process.argv[2] ?? 15);
const stack = await startEdgeStack();

const task = (): Task => ({ repo: stack.repo, agent: "shell", script: "true" });
const isRunning = (e: { type: string; phase?: string }) => e.type === "status" && e.phase === "running";

async function edgeColdStart(s: EdgeStack): Promise<number> {
  const t0 = performance.now();
  const id = await s.startTask(task());
  const watcher = await watchEvents(s, id);
  await watcher.until(isRunning);
  const ms = performance.now() - t0;
  await watcher.until((e) => e.type === "result");
  watcher.ws.close();
  return ms;
}

/** The runner of the local user's container, reached directly (what the container host proxies to). */
function runnerTarget() {
  const target = stack.host.host.target("u-local");
  if (!target) throw new Error("the local user's container is not running");
  return target;
}

function runnerCall(
  method: string,
  path: string,
  body: unknown,
  onData: (chunk: string, done: () => void) => void,
): Promise<void> {
  const { port, token } = runnerTarget();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        res.setEncoding("utf8");
        const done = () => {
          req.destroy();
          resolve();
        };
        res.on("data", (chunk: string) => onData(chunk, done));
        res.on("end", () => resolve());
      },
    );
    req.on("error", (e) => (String(e).includes("socket hang up") ? undefined : reject(e)));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function runnerColdStart(): Promise<number> {
  const t0 = performance.now();
  let text = "";
  await runnerCall("POST", "/tasks", task(), (chunk) => {
    text += chunk;
  });
  const { id } = JSON.parse(text) as { id: string };
  let buffer = "";
  await runnerCall("GET", `/tasks/${id}/events`, undefined, (chunk, done) => {
    buffer += chunk;
    if (buffer.includes('"phase":"running"')) done();
  });
  const ms = performance.now() - t0;
  // Let the task finish before the next run, as the edge run does.
  await runnerCall("GET", `/tasks/${id}/events`, undefined, () => {});
  return ms;
}

try {
  // Warm-up: the first task starts the container and loads the sandbox runtime in the runner.
  const first = await edgeColdStart(stack);
  await runnerColdStart();
  const edge: number[] = [];
  const runner: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    runner.push(await runnerColdStart());
    edge.push(await edgeColdStart(stack));
  }
  const stoppedContainer: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 5); i++) {
    const res = await stack.api("/api/container/stop", { method: "POST" });
    await res.body?.cancel();
    stoppedContainer.push(await edgeColdStart(stack));
  }
  const e = median(edge);
  const r = median(runner);
  const c = median(stoppedContainer);
  const fmt = (xs: number[]) =>
    `median ${median(xs).toFixed(1)} ms, p90 ${percentile(xs, 0.9).toFixed(1)} ms (n=${xs.length})`;
  console.log(`edge cold start (shell task "true", small repo), ${RUNS} interleaved runs:`);
  console.log(`  first task of the stack (container boot + sandbox runtime load): ${first.toFixed(1)} ms`);
  console.log(`  runner only: POST /tasks → first "running" on SSE:           ${fmt(runner)}`);
  console.log(`  edge, container running: POST /api/task/start → WS "running": ${fmt(edge)}`);
  console.log(`  edge, container stopped before each run:                       ${fmt(stoppedContainer)}`);
  console.log(
    `  ratio ${(e / r).toFixed(2)}× (target ≤ 1.3×), added ${(e - r).toFixed(1)} ms (target ≤ 150 ms); ` +
      `a stopped container adds ${(c - e).toFixed(1)} ms more`,
  );
} finally {
  await stack.stop();
}
process.exit(0);
