/**
 * NIP-90 throughput: N free `compute` jobs posted at once to one provider with `--max-jobs 4`, on a
 * local relay. Checks that every job completes, none is run or answered twice, and reports jobs/minute.
 *
 *   node bench/market-throughput.ts [jobs=200] [relay=nostr-sdk|nostr-relay]
 */
import { rmSync } from "node:fs";
import { generateSecretKey } from "nostr-tools/pure";
import { submitJob } from "../packages/nostr/src/customer/index.ts";
import { RelayPool } from "../packages/nostr/src/index.ts";
import { localRepo, startTestProvider } from "../packages/nostr/test/market-fixtures.ts";
import { startLocalRelay, startNostrRelay } from "../packages/nostr/test/relays.ts";

const JOBS = Number(process.argv[2] ?? 200);
const which = process.argv[3] ?? "nostr-sdk";
const MAX_JOBS = 4;

const repo = localRepo();
const relay =
  which === "nostr-relay" ? await startNostrRelay() : await startLocalRelay({ noRateLimit: true });
const runs = new Map<string, number>();
let concurrent = 0;
let peak = 0;
const provider = await startTestProvider({
  relays: [relay.url],
  allowRoot: repo.root,
  maxJobs: MAX_JOBS,
  maxAgeSec: 3_600,
  paymentTimeoutSec: 3_600,
  wrapRunTask: (inner) => async (task, onEvent, signal) => {
    runs.set(task.script ?? "", (runs.get(task.script ?? "") ?? 0) + 1);
    peak = Math.max(peak, ++concurrent);
    try {
      return await inner(task, onEvent, signal);
    } finally {
      concurrent--;
    }
  },
});
const pool = new RelayPool([relay.url]);
await pool.ready();
const customer = generateSecretKey();
try {
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: JOBS }, (_, i) =>
      submitJob({
        secretKey: customer,
        relays: [relay.url],
        pool,
        kind: 5930,
        job: { repo: repo.url, instructions: `echo job-${i}` },
        provider: provider.provider.pubkey,
        timeoutMs: 30 * 60_000,
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const ok = results.filter((r, i) => r.ok && r.value.content.log === `job-${i}`).length;
  const ids = results.flatMap((r) => (r.ok ? [r.value.request.id] : []));
  const resultEvents = await pool.query([{ kinds: [6930], "#e": ids }], 10_000);
  const perRequest = new Map<string, number>();
  for (const e of resultEvents) {
    const id = e.tags.find((t) => t[0] === "e")![1]!;
    perRequest.set(id, (perRequest.get(id) ?? 0) + 1);
  }
  const doubledRuns = [...runs.values()].filter((n) => n > 1).length;
  const doubledResults = [...perRequest.values()].filter((n) => n > 1).length;
  const attempts = ids.map((id) => provider.store.get(id)?.attempts ?? 0);
  console.log(`\n${relay.name}: ${JOBS} compute jobs, --max-jobs ${MAX_JOBS}`);
  console.log(`  completed with the right output  ${ok}/${JOBS}`);
  console.log(
    `  runs started                     ${[...runs.values()].reduce((a, b) => a + b, 0)} (doubled: ${doubledRuns})`,
  );
  console.log(`  result events on the relay       ${resultEvents.length} (doubled: ${doubledResults})`);
  console.log(`  attempts per job                 max ${Math.max(...attempts)}`);
  console.log(`  peak concurrent runs             ${peak} (limit ${MAX_JOBS})`);
  console.log(`  wall time                        ${seconds.toFixed(1)} s`);
  console.log(`  throughput                       ${((JOBS / seconds) * 60).toFixed(0)} jobs/minute`);
  if (ok !== JOBS || doubledRuns || doubledResults || peak > MAX_JOBS) process.exitCode = 1;
} finally {
  pool.close();
  await provider.stop();
  await relay.stop();
  rmSync(repo.root, { recursive: true, force: true });
}
// The sandbox runtime's proxies (a process-wide singleton) keep the event loop alive.
process.exit();
