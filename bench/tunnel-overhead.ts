/**
 * Overhead of the tunnel (issue 4): one shell task printing N lines, run on a machine served by a
 * real `openagents connect` process (connect → TunnelDO → TaskDO → a browser-style WebSocket
 * watcher on `/api/task/ws/:id`) against the same task on the local container host (compute
 * "cloud"), in the same run. Each task runs twice: as a burst (the script prints as fast as it can,
 * which measures queueing as much as delivery) and paced at R lines/s (the latency of a steady
 * stream). Per run: events/s over the log events as the watcher received them, and the delivery
 * latency of every log event — its `time` (stamped by the runner when it read the line; the runner
 * and the watcher share this machine's clock) to the moment the watcher received it.
 *
 * Reconnect: the connect process reaches the edge through a loopback TCP relay owned by this
 * benchmark; during a paced tunnel task the relay drops the machine's connection D times (both TCP
 * sockets destroyed, as a lost network would). Per drop: the time until the machine's next TCP
 * connection, and until the first event the runner produced after the drop reaches the watcher
 * (which can only have come through the new connection). The log must stay gap-free.
 *
 *   node bench/tunnel-overhead.ts [lines=50000] [pacedPerSec=5000] [drops=5]
 *
 * Targets: tunnel ≥ 0.7× the cloud throughput, p99 < 100 ms, reconnect < 2 s.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket, connect as tcpConnect } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Task } from "@openagents/protocol";
import type WebSocket from "ws";
import { cpuTicks, type EdgeStack, median, percentile, startEdgeStack } from "./support/edge-stack.ts";

const LINES = Number(process.argv[2] ?? 50_000);
const PACED = Number(process.argv[3] ?? 5_000);
const DROPS = Number(process.argv[4] ?? 5);
const CLI = path.resolve(import.meta.dirname, "../packages/cli/bin/openagents.js");

const burst = (n: number) => `for i in $(seq 1 ${n}); do echo "line $i of the tunnel benchmark"; done`;
/** `perSec` lines a second, in batches of a tenth of a second (a `sleep` per batch; forks are slow in the sandbox). */
const paced = (n: number, perSec: number) => {
  const batch = Math.max(1, Math.round(perSec / 10));
  return (
    `for i in $(seq 1 ${n}); do echo "line $i of the tunnel benchmark"; ` +
    `if [ $((i % ${batch})) = 0 ]; then sleep 0.1; fi; done`
  );
};

interface RunStats {
  logs: number;
  rate: number;
  latencies: number[];
  gaps: number;
  seconds: number;
  /** Receive time (ms) and runner time (ms) of every log event, in order. */
  received: Array<{ at: number; time: number }>;
  ok: boolean;
  /** Times the edge closed the watcher before the result (it reconnected each time). */
  watcherDrops: number;
}

/** Starts a task and watches it to its result with one watcher. */
async function run(stack: EdgeStack, task: Task, during?: (id: string) => Promise<void>): Promise<RunStats> {
  const t0 = performance.now();
  const id = await stack.startTask({ timeoutSec: 600, ...task });
  const stats: RunStats = {
    logs: 0,
    rate: 0,
    latencies: [],
    gaps: 0,
    seconds: 0,
    received: [],
    ok: false,
    watcherDrops: 0,
  };
  let lastSeq = 0;
  let socket: WebSocket | undefined;
  const done = new Promise<void>((resolve, reject) => {
    let finished = false;
    const onMessage = (text: string) => {
      const now = Date.now();
      const m = /^\{"seq":(\d+),"time":"([^"]+)","type":"(\w+)"/.exec(text);
      if (!m) return reject(new Error(`unexpected message ${text.slice(0, 80)}`));
      const seq = Number(m[1]);
      if (seq !== lastSeq + 1) stats.gaps++;
      lastSeq = seq;
      if (m[3] === "log" && text.includes('"stream":"stdout"')) {
        const time = Date.parse(m[2]!);
        stats.logs++;
        stats.latencies.push(now - time);
        stats.received.push({ at: now, time });
      } else if (m[3] === "result") {
        finished = true;
        stats.ok = text.includes('"ok":true');
        socket?.close();
        resolve();
      }
    };
    // A browser reconnects a dropped watcher from the last seq it has (`?after=`); so does this one,
    // and the drops are reported (they show as latency of the events caught up after them).
    const open = () =>
      stack.watch(id, onMessage, lastSeq).then((ws) => {
        socket = ws;
        if (finished) ws.close();
        ws.once("close", (code, reason) => {
          if (finished) return;
          if (++stats.watcherDrops > 10)
            return reject(new Error(`the watcher closed after ${stats.logs} log events: ${code} ${reason}`));
          open().catch(reject);
        });
      });
    open().catch(reject);
  });
  await Promise.all([done, during?.(id)]);
  stats.seconds = (performance.now() - t0) / 1000;
  const r = stats.received;
  stats.rate = r.length > 1 ? (r.length - 1) / ((r.at(-1)!.at - r[0]!.at) / 1000) : 0;
  return stats;
}

/** A loopback TCP relay to the edge that this benchmark can cut: `drop()` destroys every live pair. */
async function startRelay(targetPort: number) {
  const pairs = new Set<[Socket, Socket]>();
  const accepts: number[] = [];
  const server = createServer((client) => {
    accepts.push(Date.now());
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    accepts,
    /** Destroys the live connections; the number dropped. */
    drop(): number {
      const n = pairs.size;
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5000).unref());
  if ((await Promise.race([exited, timeout])) === "timeout") {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    await exited;
  }
}

/** A real `openagents connect` (tunnel mode) reaching the edge through `relayPort`; resolves once connected. */
async function startMachine(stack: EdgeStack, relayPort: number, home: string) {
  const res = await stack.api("/api/tunnel/tokens", { body: { label: "bench" } });
  if (res.status !== 201) throw new Error(`token: ${res.status} ${await res.text()}`);
  const { token } = (await res.json()) as { token: string };
  const child = spawn(
    process.execPath,
    [
      CLI,
      "connect",
      "--url",
      `http://127.0.0.1:${relayPort}`,
      "--token",
      token,
      "--name",
      "bench",
      "--max-tasks",
      "2",
      "--agent",
      "shell",
      "--allow-dir",
      path.dirname(stack.repo),
    ],
    {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own state directory: buffers and workspaces of the benchmark stay out of the user's.
      env: {
        ...process.env,
        XDG_STATE_HOME: path.join(home, "state"),
        XDG_CONFIG_HOME: path.join(home, "config"),
      },
    },
  );
  let output = "";
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { machines } = (await (await stack.api("/api/tunnel/machines")).json()) as {
      machines: Array<{ name: string | null; connected: boolean }>;
    };
    if (machines.some((m) => m.name === "bench" && m.connected)) break;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`openagents connect did not connect:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output };
}

const fmt = (label: string, s: RunStats) =>
  `  ${label.padEnd(22)} ${s.rate.toFixed(0).padStart(6)} events/s, latency p50 ${percentile(s.latencies, 0.5).toFixed(1)} ms, ` +
  `p99 ${percentile(s.latencies, 0.99).toFixed(1)} ms, max ${s.latencies.reduce((a, b) => Math.max(a, b), 0).toFixed(0)} ms; ` +
  `${s.logs} lines, task ${s.seconds.toFixed(2)} s${s.gaps > 0 ? `, ${s.gaps} seq gaps!` : ""}${s.watcherDrops > 0 ? `, watcher dropped ${s.watcherDrops}×` : ""}${s.ok ? "" : ", FAILED"}`;

const home = mkdtempSync(path.join(os.tmpdir(), "oa-bench-tunnel-"));
const stack = await startEdgeStack();
const relay = await startRelay(Number(new URL(stack.url).port));
let machine: Awaited<ReturnType<typeof startMachine>> | undefined;
try {
  machine = await startMachine(stack, relay.port, home);
  const cloud = (script: string): Task => ({ repo: stack.repo, agent: "shell", script });
  const tunnel = (script: string): Task => ({ ...cloud(script), compute: "tunnel" });
  // Warm-up: starts the container, loads the sandbox runtime on both sides.
  await run(stack, cloud(burst(1000)));
  await run(stack, tunnel(burst(1000)));

  const pacedLines = Math.min(LINES, PACED * 5);
  const results: Array<[string, RunStats]> = [];
  const workerd = await stack.workerdPids();
  const ticks = async (pids: number[]) =>
    (await Promise.all(pids.map((p) => cpuTicks(p).catch(() => 0)))).reduce((a, b) => a + b, 0);
  const cpu: string[] = [];
  for (const [label, task] of [
    ["cloud, burst", cloud(burst(LINES))],
    ["tunnel, burst", tunnel(burst(LINES))],
    [`cloud, ${PACED}/s`, cloud(paced(pacedLines, PACED))],
    [`tunnel, ${PACED}/s`, tunnel(paced(pacedLines, PACED))],
  ] as const) {
    const [w0, c0] = [await ticks(workerd), await ticks([machine.child.pid!])];
    results.push([label, await run(stack, task)]);
    // Clock ticks are 1/100 s on Linux.
    const [w, c] = [(await ticks(workerd)) - w0, (await ticks([machine.child.pid!])) - c0];
    cpu.push(`${label}: workerd ${(w / 100).toFixed(1)} s, connect ${(c / 100).toFixed(1)} s`);
  }

  // Reconnect: a paced tunnel task, its connection dropped every 1.5 s.
  // Below what the tunnel sustains, so a backlog does not stand in for the reconnect time.
  const reconnectRate = 500;
  const reconnectLines = reconnectRate * (2 + DROPS * 1.5);
  const drops: number[] = [];
  const withDrops = await run(stack, tunnel(paced(reconnectLines, reconnectRate)), async () => {
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < DROPS; i++) {
      drops.push(Date.now());
      if (relay.drop() === 0) console.log("  ! nothing to drop: the machine was not connected");
      await new Promise((r) => setTimeout(r, 1500));
    }
  });
  const reconnects = drops.map((t) => {
    const accept = relay.accepts.find((a) => a > t);
    const flow = withDrops.received.find((e) => e.time > t);
    return { tcp: accept === undefined ? Number.NaN : accept - t, flow: flow ? flow.at - t : Number.NaN };
  });

  console.log(`tunnel overhead: one shell task, same run, ${os.cpus().length} cores`);
  for (const [label, s] of results) console.log(fmt(label, s));
  console.log(`  CPU — ${cpu.join("; ")}`);
  const [cb, tb, cp, tp] = results.map(([, s]) => s) as [RunStats, RunStats, RunStats, RunStats];
  console.log(
    `  tunnel vs cloud: burst ×${(tb.rate / cb.rate).toFixed(2)} throughput, paced ×${(tp.rate / cp.rate).toFixed(2)}; ` +
      `tunnel p99 burst ${percentile(tb.latencies, 0.99).toFixed(1)} ms, paced ${percentile(tp.latencies, 0.99).toFixed(1)} ms`,
  );
  console.log(fmt(`tunnel, ${DROPS} drops`, withDrops));
  console.log(
    `  reconnect after a drop: next TCP connection ${reconnects.map((r) => r.tcp.toFixed(0)).join(", ")} ms; ` +
      `first new event at the watcher ${reconnects.map((r) => r.flow.toFixed(0)).join(", ")} ms ` +
      `(median ${median(reconnects.map((r) => r.flow)).toFixed(0)}, max ${Math.max(...reconnects.map((r) => r.flow)).toFixed(0)})`,
  );
  console.log("  targets: tunnel ≥ 0.7× cloud throughput, p99 < 100 ms, reconnect < 2000 ms");
} catch (e) {
  console.error(e);
  if (machine) console.error(`openagents connect output:\n${machine.output()}`);
  process.exitCode = 1;
} finally {
  if (machine) await stopGroup(machine.child);
  await relay.close();
  await stack.stop();
  rmSync(home, { recursive: true, force: true });
}
process.exit();
