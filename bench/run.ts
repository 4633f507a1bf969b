/**
 * Runs the benchmarks one after another (each in its own process, so none measures another's
 * leftovers) and ends with one line per benchmark: its name, exit status and wall time.
 *
 *   npm run bench                      # all of them
 *   npm run bench -- egress-proxy tunnel-overhead
 *
 * Every benchmark prints its own baseline, measured in the same run, and the ratio against it.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

const here = import.meta.dirname;
const all = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(", ")} (have: ${all.join(", ")})`);
  process.exit(2);
}
const chosen = asked.length > 0 ? asked : all;
const summary: string[] = [];
let failed = 0;
for (const name of chosen) {
  console.log(`\n== ${name}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(here, `${name}.ts`)], { stdio: "inherit" });
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) failed++;
  summary.push(`${name.padEnd(20)} ${r.status === 0 ? "ok  " : `exit ${r.status ?? r.signal}`} ${seconds} s`);
}
console.log(`\n${summary.join("\n")}`);
process.exit(failed > 0 ? 1 : 0);
