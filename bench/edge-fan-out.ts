/**
 * Fan-out through the edge: one shell task printing N lines (N `log` events) watched by W WebSocket
 * watchers on `/api/task/ws/:id`, against the same task watched by one watcher, in the same run.
 * Per watcher: events/s over the log events (first to last as that watcher received them), and the
 * delivery latency of every log event — its `time` (stamped by the runner when it read the line)
 * to the moment the watcher received it — as p50/p99 over all watchers.
 *
 *   node bench/edge-fan-out.ts [events=50000] [watchers=20]
 *
 * Target (issue 3): ≥ 10,000 events/s per watcher and p99 < 50 ms with 20 watchers.
 */
import type WebSocket from "ws";
import { cpuTicks, type EdgeStack, median, percentile, startEdgeStack } from "./support/edge-stack.ts";

const EVENTS = Number(process.argv[2] ?? 50_000);
const WATCHERS = Number(process.argv[3] ?? 20);
const SCRIPT = `for i in $(seq 1 ${EVENTS}); do echo "line $i of the fan-out benchmark"; done`;

interface WatcherStats {
  logs: number;
  firstAt: number;
  lastAt: number;
  /** Delivery latency of each log event, ms. */
  latencies: number[];
  gaps: number;
}

/**
 * One watcher, counting from its first message until the result. Receive times are wall-clock ms
 * (like the events' `time`); only `seq`, `type` and `time` are read, so that the watchers in this
 * process cost little next to the Worker they measure.
 */
function watcher(stack: EdgeStack, id: string): Promise<WatcherStats> {
  return new Promise((resolve, reject) => {
    const stats: WatcherStats = { logs: 0, firstAt: 0, lastAt: 0, latencies: [], gaps: 0 };
    let lastSeq = 0;
    let socket: WebSocket | undefined;
    let finished = false;
    const onMessage = (text: string) => {
      const now = Date.now();
      const m = /^\{"seq":(\d+),"time":"([^"]+)","type":"(\w+)"/.exec(text);
      if (!m) return reject(new Error(`unexpected message ${text.slice(0, 80)}`));
      const seq = Number(m[1]);
      if (seq !== lastSeq + 1) stats.gaps++;
      lastSeq = seq;
      if (m[3] === "log" && text.includes('"stream":"stdout"')) {
        if (stats.logs === 0) stats.firstAt = now;
        stats.lastAt = now;
        stats.logs++;
        stats.latencies.push(now - Date.parse(m[2]!));
      } else if (m[3] === "result") {
        finished = true;
        socket?.close();
        resolve(stats);
      }
    };
    stack.watch(id, onMessage).then((ws) => {
      socket = ws;
      if (finished) ws.close();
      ws.once("close", () => {
        if (!finished) reject(new Error(`a watcher closed early after ${stats.logs} log events`));
      });
    }, reject);
  });
}

async function run(stack: EdgeStack, watchers: number) {
  const id = await stack.startTask({ repo: stack.repo, agent: "shell", script: SCRIPT, timeoutSec: 600 });
  // All watchers connect at once, before the script prints much: each gets the replay, then live events.
  const workerd = await stack.workerdPids();
  const ticks = async () =>
    (await Promise.all(workerd.map((p) => cpuTicks(p).catch(() => 0)))).reduce((a, b) => a + b, 0);
  const ticks0 = await ticks();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const stats = await Promise.all(Array.from({ length: watchers }, () => watcher(stack, id)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // Clock ticks are 1/100 s on Linux (getconf CLK_TCK).
  const workerdCpu = (await ticks()) - ticks0;
  const benchCpu = (cpu.user + cpu.system) / 10_000;
  const rates = stats.map((s) => (s.logs - 1) / ((s.lastAt - s.firstAt) / 1000));
  const latencies = stats.flatMap((s) => s.latencies);
  const missing = stats.filter((s) => s.logs !== EVENTS).length;
  const gaps = stats.reduce((n, s) => n + s.gaps, 0);
  return { watchers, seconds, rates, latencies, missing, gaps, workerdCpu, benchCpu };
}

const stack = await startEdgeStack();
try {
  // Warm-up: starts the container and loads the sandbox runtime.
  await run(stack, 1).catch(() => {});
  const results = [];
  for (const w of [1, WATCHERS]) {
    const r = await run(stack, w);
    results.push(r);
    if (r.missing > 0 || r.gaps > 0)
      console.log(`  ! ${r.missing} watchers missed events, ${r.gaps} seq gaps (${w} watchers)`);
  }
  console.log(`edge fan-out: one shell task printing ${EVENTS} lines`);
  for (const r of results) {
    console.log(
      `  ${String(r.watchers).padStart(2)} watcher(s): per watcher median ${median(r.rates).toFixed(0)} events/s ` +
        `(min ${Math.min(...r.rates).toFixed(0)}), latency p50 ${percentile(r.latencies, 0.5).toFixed(1)} ms, ` +
        `p99 ${percentile(r.latencies, 0.99).toFixed(1)} ms, max ${r.latencies.reduce((a, b) => Math.max(a, b), 0).toFixed(1)} ms; ` +
        `task ${r.seconds.toFixed(2)} s; CPU workerd ${(r.workerdCpu / 100).toFixed(2)} s, watchers ${(r.benchCpu / 100).toFixed(2)} s`,
    );
  }
  const [one, many] = results as [Awaited<ReturnType<typeof run>>, Awaited<ReturnType<typeof run>>];
  console.log(
    `  ${WATCHERS} vs 1: rate ×${(median(many.rates) / median(one.rates)).toFixed(2)}, ` +
      `p99 ×${(percentile(many.latencies, 0.99) / percentile(one.latencies, 0.99)).toFixed(2)}; ` +
      "target ≥ 10000 events/s per watcher, p99 < 50 ms",
  );
} finally {
  await stack.stop();
}
process.exit(0);
