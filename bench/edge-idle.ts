/**
 * Idle cost of watchers: the CPU time of the Worker's runtime (the workerd processes under `wrangler
 * dev`, utime + stime from /proc/<pid>/stat) over a quiet period with W WebSocket watchers connected
 * to finished tasks and sending nothing, against the same period with no watcher, in the same run.
 * TaskDO accepts watchers with the hibernation API, so an idle watcher should cost next to nothing.
 *
 *   node bench/edge-idle.ts [seconds=60] [watchers=200]
 *
 * Target (issue 3): CPU of workerd over the period stays near zero.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type WebSocket from "ws";
import { cpuTicks, startEdgeStack } from "./support/edge-stack.ts";

const SECONDS = Number(process.argv[2] ?? 60);
const WATCHERS = Number(process.argv[3] ?? 200);
/** Watchers are spread over this many finished tasks (a browser tab watches one task). */
const TASKS = 10;
const TICK_MS = 10; // getconf CLK_TCK = 100 on Linux

const stack = await startEdgeStack();
try {
  /**
   * CPU ms of workerd over the quiet period. wrangler dev restarts workerd when a source file of the
   * Worker changes (others may be editing it); a window that saw a restart is measured again.
   */
  async function quiet(prepare: () => Promise<void> = async () => {}): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      await prepare();
      // Let what came before settle (alarms, the last messages) so it is not counted.
      await sleep(2000);
      const pids = await stack.workerdPids();
      if (pids.length === 0) throw new Error("no workerd process found under wrangler");
      const cpu = async () =>
        (await Promise.all(pids.map((p) => cpuTicks(p).catch(() => Number.NaN)))).reduce((a, b) => a + b, 0) *
        TICK_MS;
      const before = await cpu();
      await sleep(SECONDS * 1000);
      const used = (await cpu()) - before;
      const same = (await stack.workerdPids()).join() === pids.join();
      if (same && !Number.isNaN(used)) return used;
      if (attempt === 3) throw new Error("wrangler kept restarting the Worker; try again later");
      console.log("  (wrangler restarted the Worker during the window: measuring again)");
    }
  }

  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const id = await stack.startTask({ repo: stack.repo, agent: "shell", script: `echo task ${i}` });
    ids.push(id);
    await new Promise<void>((resolve) => {
      let ws: WebSocket | undefined;
      let done = false;
      void stack
        .watch(id, (text) => {
          if (text.includes('"type":"result"')) {
            done = true;
            ws?.close();
            resolve();
          }
        })
        .then((w) => {
          ws = w;
          if (done) w.close();
        });
    });
  }

  const none = await quiet();

  let sockets: WebSocket[] = [];
  /** Connects the watchers (again, after a restart) and waits until each has its replay. */
  const connect = async () => {
    for (const ws of sockets) ws.terminate();
    sockets = [];
    let replayed = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < WATCHERS; i++) {
        void stack
          .watch(ids[i % TASKS]!, (text) => {
            if (text.includes('"type":"result"') && ++replayed === WATCHERS) resolve();
          })
          .then((ws) => {
            sockets.push(ws);
          });
      }
    });
  };
  const withWatchers = await quiet(connect);
  const stillOpen = sockets.filter((ws) => ws.readyState === ws.OPEN).length;
  for (const ws of sockets) ws.terminate();

  console.log(`edge idle cost over ${SECONDS} s (CPU of the workerd processes under wrangler dev):`);
  console.log(
    `  0 watchers:   ${none} ms CPU (${((none / (SECONDS * 1000)) * 100).toFixed(2)}% of one core)`,
  );
  console.log(
    `  ${WATCHERS} watchers: ${withWatchers} ms CPU (${((withWatchers / (SECONDS * 1000)) * 100).toFixed(2)}% of one core); ` +
      `${stillOpen} of ${WATCHERS} still open at the end`,
  );
  console.log(
    `  added by ${WATCHERS} idle watchers: ${withWatchers - none} ms over ${SECONDS} s ` +
      `(clock tick ${TICK_MS} ms); target: near zero`,
  );
} finally {
  await stack.stop();
}
process.exit(0);
