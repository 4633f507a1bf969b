/**
 * Runner SSE throughput: how many events per second `runner serve` delivers to one SSE reader, against
 * the rate at which the same script's lines come through a plain pipe, measured in the same run.
 *
 *   node bench/runner-throughput.ts [lines=100000]
 *
 * Three figures:
 *   pipe    — `bash -c SCRIPT` with stdout on a pipe, lines counted by this process, first to last
 *             line (the ceiling); run before and after the task, the faster run counts, since the
 *             machine may be shared.
 *   live    — a shell task running SCRIPT in its sandbox; one SSE reader connected from the start;
 *             rate over the log events (first to last stdout line as the reader received them).
 *   replay  — the finished task's whole stream read again from seq 0 (the server alone, no producer).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createRunnerServer, credentialsFromEnv, TaskManager } from "@openagents/runner";
import { makeBareRepo } from "../packages/runner/test/git-fixtures.ts";

const LINES = Number(process.argv[2] ?? 100_000);
const SCRIPT = `for i in $(seq 1 ${LINES}); do echo "line $i of the benchmark output"; done`;

/** Lines per second through a pipe, first line to last, as the live figure is measured. */
function pipeRate(): Promise<{ lines: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
    let lines = 0;
    let rest = "";
    let first = 0;
    let last = 0;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      if (parts.length === 0) return;
      last = performance.now();
      if (lines === 0) first = last;
      lines += parts.length;
    });
    child.on("error", reject);
    child.on("close", () => resolve({ lines, seconds: (last - first) / 1000 }));
  });
}

interface SseCount {
  events: number;
  logEvents: number;
  firstLogAt: number;
  lastLogAt: number;
  endAt: number;
}

/** A lean SSE reader: counts frames, checks `id:` grows by one, notes when stdout lines arrive. */
function readStream(url: string, after = 0): Promise<SseCount> {
  return new Promise((resolve, reject) => {
    const out: SseCount = { events: 0, logEvents: 0, firstLogAt: 0, lastLogAt: 0, endAt: 0 };
    let expected = after + 1;
    let buffer = "";
    const req = request(`${url}?after=${after}`, { agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let start = 0;
        for (let cut = buffer.indexOf("\n\n"); cut !== -1; cut = buffer.indexOf("\n\n", start)) {
          const frame = buffer.slice(start, cut);
          start = cut + 2;
          if (!frame.startsWith("id: ")) continue; // a heartbeat comment
          const seq = Number(frame.slice(4, frame.indexOf("\n")));
          if (seq !== expected)
            return reject(new Error(`gap or duplicate: got ${seq}, expected ${expected}`));
          expected++;
          out.events++;
          if (frame.includes('"stream":"stdout"')) {
            const now = performance.now();
            if (out.logEvents === 0) out.firstLogAt = now;
            out.lastLogAt = now;
            out.logEvents++;
          }
        }
        buffer = buffer.slice(start);
      });
      res.on("end", () => {
        out.endAt = performance.now();
        resolve(out);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main() {
  const repo = makeBareRepo();
  const workRoot = mkdtempSync(path.join(os.tmpdir(), "oa-bench-"));
  const manager = new TaskManager({ workRoot, credentials: credentialsFromEnv({}) });
  const server = createRunnerServer({ manager });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const pipeBefore = await pipeRate();

    const t0 = performance.now();
    const post = await fetch(`${base}/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ repo: repo.bare, agent: "shell", script: SCRIPT }),
    });
    const { id } = (await post.json()) as { id: string };
    const live = await readStream(`${base}/tasks/${id}/events`);
    if (live.logEvents !== LINES) throw new Error(`expected ${LINES} log events, got ${live.logEvents}`);

    const pipeAfter = await pipeRate();
    const pipe = pipeBefore.seconds <= pipeAfter.seconds ? pipeBefore : pipeAfter;

    const r0 = performance.now();
    const replay = await readStream(`${base}/tasks/${id}/events`);
    const replaySeconds = (replay.endAt - r0) / 1000;

    const pipeRateLps = pipe.lines / pipe.seconds;
    const liveSeconds = (live.lastLogAt - live.firstLogAt) / 1000;
    const liveRate = live.logEvents / liveSeconds;
    const replayRate = replay.events / replaySeconds;
    console.log(`lines: ${fmt(LINES)}`);
    console.log(`pipe:   ${fmt(pipeRateLps)} lines/s  (${pipe.seconds.toFixed(3)} s)`);
    console.log(
      `live:   ${fmt(liveRate)} events/s  (${liveSeconds.toFixed(3)} s first→last line; ` +
        `${((live.endAt - t0) / 1000).toFixed(3)} s POST→end of stream incl. clone, ${fmt(live.events)} events)`,
    );
    console.log(
      `replay: ${fmt(replayRate)} events/s  (${replaySeconds.toFixed(3)} s, ${fmt(replay.events)} events)`,
    );
    console.log(`ratio live/pipe: ${(liveRate / pipeRateLps).toFixed(2)}`);
    console.log(
      JSON.stringify({
        bench: "runner-throughput",
        lines: LINES,
        pipeLinesPerSec: Math.round(pipeRateLps),
        liveEventsPerSec: Math.round(liveRate),
        replayEventsPerSec: Math.round(replayRate),
        ratio: Number((liveRate / pipeRateLps).toFixed(3)),
      }),
    );
  } finally {
    await server.shutdown();
    rmSync(workRoot, { recursive: true, force: true });
    rmSync(path.dirname(repo.bare), { recursive: true, force: true });
  }
}

await main();
// The sandbox runtime keeps process-wide proxies (and a socat child) alive for later tasks; a one-shot
// benchmark has no later task, so it exits rather than waiting on them.
process.exit(0);
