/**
 * Egress (key proxy) overhead on a streamed model response: time to first byte and total time of a
 * streamed `POST /v1/messages` answered by the scripted Messages API on loopback, through the key
 * proxy (which swaps the capability token for the real key) vs straight to the API, same run.
 *
 *   node bench/egress-proxy.ts [requests=200] [events-delay-ms=0]
 *
 * Target (issue 6): ≤ 1.1× and ≤ 5 ms added.
 */
import { startKeyProxy } from "@openagents/runner";
import { startScriptedAnthropic } from "../packages/runner/test/scripted-anthropic.ts";

const N = Number(process.argv[2] ?? 200);
const DELAY = Number(process.argv[3] ?? 0);
const KEY = "sk-ant-bench-key-0123456789";
const text = "word ".repeat(400);
const turns = Array.from({ length: 2 * N + 20 }, () => ({ content: [{ type: "text" as const, text }] }));
const api = await startScriptedAnthropic(turns, { apiKey: KEY, delayMs: DELAY });
const proxy = await startKeyProxy({ style: "anthropic", apiKey: KEY, upstream: api.url });

const body = JSON.stringify({
  model: "claude-scripted-1",
  max_tokens: 1024,
  stream: true,
  messages: [{ role: "user", content: "hi" }],
  tools: [{ name: "Bash", description: "run", input_schema: { type: "object" } }],
});

async function once(base: string, key: string): Promise<{ ttfb: number; total: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/messages?beta=true`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01" },
    body,
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const reader = res.body.getReader();
  let ttfb = 0;
  for (;;) {
    const { done } = await reader.read();
    if (!ttfb) ttfb = performance.now() - t0;
    if (done) break;
  }
  return { ttfb, total: performance.now() - t0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;
for (let i = 0; i < 10; i++) {
  await once(api.url, KEY);
  await once(proxy.url, proxy.token);
}
const direct = { ttfb: [] as number[], total: [] as number[] };
const proxied = { ttfb: [] as number[], total: [] as number[] };
for (let i = 0; i < N; i++) {
  // Interleaved, so both see the same machine load.
  const d = await once(api.url, KEY);
  const p = await once(proxy.url, proxy.token);
  direct.ttfb.push(d.ttfb);
  direct.total.push(d.total);
  proxied.ttfb.push(p.ttfb);
  proxied.total.push(p.total);
}
const row = (name: string, a: number[], b: number[]) =>
  console.log(
    `  ${name.padEnd(6)} direct median ${median(a).toFixed(2)} ms (p95 ${p95(a).toFixed(2)}), ` +
      `proxied median ${median(b).toFixed(2)} ms (p95 ${p95(b).toFixed(2)}): ` +
      `${(median(b) / median(a)).toFixed(2)}×, +${(median(b) - median(a)).toFixed(2)} ms`,
  );
console.log(
  `egress key proxy, ${N} streamed responses (~${text.length} chars each, event delay ${DELAY} ms):`,
);
row("TTFB", direct.ttfb, proxied.ttfb);
row("total", direct.total, proxied.total);
console.log("  target: ≤ 1.1× and ≤ 5 ms added");
await proxy.close();
await api.close();
process.exit(0);
