/**
 * NIP-90 round trip of a free `compute` job (`echo`), request published → verified result received,
 * against the relay's own publish → receive latency measured in the same run, on each local relay.
 *
 *   node bench/market-roundtrip.ts [jobs=30]
 *
 * Figures per relay: relay RTT (a kind-1 note from one connection to a subscriber on another), job
 * round trip, the job's own run time inside the runner (clone + script + patch), and the overhead
 * ratio (round trip − run time) / relay RTT, target ≤ 3.
 */
import { rmSync } from "node:fs";
import { finalizeEvent, generateSecretKey } from "nostr-tools/pure";
import { submitJob } from "../packages/nostr/src/customer/index.ts";
import { nowSec, RelayPool } from "../packages/nostr/src/index.ts";
import { localRepo, startTestProvider } from "../packages/nostr/test/market-fixtures.ts";
import { startLocalRelay, startNostrRelay, type TestRelay } from "../packages/nostr/test/relays.ts";

const JOBS = Number(process.argv[2] ?? 30);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (xs: number[]) => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms`;

async function relayRtt(url: string, n: number): Promise<number[]> {
  const sub = new RelayPool([url]);
  const pub = new RelayPool([url]);
  await Promise.all([sub.ready(), pub.ready()]);
  const sk = generateSecretKey();
  const tag = `bench-${Date.now()}`;
  const waiting = new Map<string, (t: number) => void>();
  await new Promise<void>((ready) =>
    sub.subscribe([{ kinds: [1], "#t": [tag] }], {
      onevent: (e) => waiting.get(e.id)?.(performance.now()),
      oneose: ready,
    }),
  );
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const ev = finalizeEvent({ kind: 1, tags: [["t", tag]], content: `ping ${i}`, created_at: nowSec() }, sk);
    const got = new Promise<number>((r) => waiting.set(ev.id, r));
    const t0 = performance.now();
    void pub.publish(ev);
    out.push((await got) - t0);
  }
  sub.close();
  pub.close();
  return out;
}

async function bench(relay: TestRelay, repo: ReturnType<typeof localRepo>) {
  const rtt = await relayRtt(relay.url, 50);
  const runTimes = new Map<string, number>();
  // The job's own run time: clone, script and patch inside the runner, as the provider sees it.
  const provider = await startTestProvider({
    relays: [relay.url],
    allowRoot: repo.root,
    maxJobs: 1,
    wrapRunTask: (inner) => async (task, onEvent, signal) => {
      const t0 = performance.now();
      const r = await inner(task, onEvent, signal);
      runTimes.set(task.script ?? "", performance.now() - t0);
      return r;
    },
  });
  const pool = new RelayPool([relay.url]);
  await pool.ready();
  const customer = generateSecretKey();
  const trips: number[] = [];
  const overhead: number[] = [];
  for (let i = 0; i < JOBS + 2; i++) {
    const script = `echo bench-${i}`;
    const t0 = performance.now();
    const r = await submitJob({
      secretKey: customer,
      relays: [relay.url],
      pool,
      kind: 5930,
      job: { repo: repo.url, instructions: script },
      provider: provider.provider.pubkey,
      timeoutMs: 30_000,
    });
    const trip = performance.now() - t0;
    if (!r.ok || r.value.content.log !== `bench-${i}`)
      throw new Error(`job ${i} failed: ${JSON.stringify(r)}`);
    if (i < 2) continue; // warm-up
    trips.push(trip);
    overhead.push(trip - runTimes.get(script)!);
  }
  pool.close();
  await provider.stop();
  const run = [...runTimes.values()].slice(2);
  const ratio = pct(overhead, 50) / pct(rtt, 50);
  console.log(`\n${relay.name} (${JOBS} jobs)`);
  console.log(`  relay publish→receive   ${fmt(rtt)}`);
  console.log(`  job round trip          ${fmt(trips)}`);
  console.log(`  job's own run time      ${fmt(run)}`);
  console.log(`  round trip − run time   ${fmt(overhead)}`);
  console.log(`  overhead / relay RTT    ${ratio.toFixed(2)}× (median; target ≤ 3×)`);
}

const repo = localRepo();
// LocalRelay rate-limits writers by default; the relay RTT burst alone would trip it.
const relays = await Promise.all([startNostrRelay(), startLocalRelay({ noRateLimit: true })]);
try {
  for (const r of relays) await bench(r, repo);
} finally {
  await Promise.all(relays.map((r) => r.stop()));
  rmSync(repo.root, { recursive: true, force: true });
}
// The sandbox runtime's proxies (a process-wide singleton) keep the event loop alive.
process.exit(0);
