/**
 * A provider in its own process, so a test can kill it hard (SIGKILL) and start it again on the same
 * state: `node provider-process.ts '<json config>'`. Prints `READY` once listening, then its log.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { credentialsFromEnv, TaskManager } from "@openagents/runner";
import { hexToBytes } from "nostr-tools/utils";
import { DEFAULT_JOB_KINDS, NwcClient, parseNwcUri } from "../src/index.ts";
import { JobStore, Provider } from "../src/provider/index.ts";
import { runnerRunTask } from "./market-fixtures.ts";

interface Config {
  relays: string[];
  stateDir: string;
  secretHex: string;
  allowRoot: string;
  priceMsats: number;
  nwcUri: string;
}

const config = JSON.parse(process.argv[2] ?? "{}") as Config;
const workRoot = path.join(config.stateDir, "runs");
const manager = new TaskManager({ workRoot, credentials: credentialsFromEnv({}) });
const store = JobStore.open(path.join(config.stateDir, "provider.sqlite"));
const conn = parseNwcUri(config.nwcUri);
if (!conn.ok) throw new Error(conn.error.message);
const wallet = new NwcClient(conn.value, { timeoutMs: 8_000 });
const provider = new Provider({
  secretKey: hexToBytes(config.secretHex),
  relays: config.relays,
  skills: ["compute"],
  kinds: { ...DEFAULT_JOB_KINDS },
  prices: { compute: config.priceMsats },
  allowRepo: [`${pathToFileURL(config.allowRoot).href}/**`],
  store,
  wallet,
  runTask: runnerRunTask(manager, workRoot),
  paymentPollMs: 300,
  partialIntervalMs: 300,
  backoff: { initialMs: 100, maxMs: 1_000 },
  log: (line) => process.stdout.write(`${line}\n`),
});
await provider.start();
process.stdout.write("READY\n");
process.on("SIGTERM", async () => {
  await provider.stop();
  await manager.shutdown();
  wallet.close();
  store.close();
  process.exit(0);
});
