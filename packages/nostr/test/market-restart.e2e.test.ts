/**
 * A provider killed hard (SIGKILL of its whole process group, mid-job) and started again on the same
 * state: history and earnings survive, the interrupted paid job is resumed and delivered once, and a
 * finished job replayed by the relay is not run again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { bytesToHex } from "nostr-tools/utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submitJob } from "../src/customer/index.ts";
import { type NostrEvent, NwcClient, parseNwcUri, RelayPool } from "../src/index.ts";
import { JobStore } from "../src/provider/index.ts";
import { localRepo } from "./market-fixtures.ts";
import { NwcWalletDouble } from "./nwc-wallet.ts";
import { startLocalRelay, startNostrRelay, type TestRelay } from "./relays.ts";

const HERE = import.meta.dirname;
const PRICE = 5_000;
let relays: TestRelay[] = [];
const repo = localRepo();

beforeAll(async () => {
  relays = await Promise.all([startNostrRelay(), startLocalRelay()]);
}, 30_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  rmSync(repo.root, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  log: string[];
}

async function startProviderProcess(config: object): Promise<Child> {
  const proc = spawn(process.execPath, [path.join(HERE, "provider-process.ts"), JSON.stringify(config)], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  proc.stderr!.on("data", (b: Buffer) => log.push(b.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`provider not ready:\n${log.join("")}`)), 20_000);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      log.push(line);
      if (line === "READY") {
        clearTimeout(t);
        resolve();
      }
    });
    proc.on("exit", (code) => reject(new Error(`provider exited (${code}):\n${log.join("\n")}`)));
  });
  return { proc, log };
}

function killGroup(child: Child, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resolve();
    child.proc.once("exit", () => resolve());
    process.kill(-child.proc.pid!, signal);
  });
}

const until = async (what: string, check: () => boolean, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.each(["nostr-relay", "nostr-sdk"] as const)("provider restart over %s", (relayName) => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "oa-provider-restart-"));
  const providerSecret = generateSecretKey();
  const customer = generateSecretKey();
  let wallet: NwcWalletDouble;
  let customerWallet: NwcClient;
  let pool: RelayPool;
  let child: Child | undefined;
  let url: string;
  let config: object;

  beforeAll(async () => {
    url = relays.find((r) => r.name === relayName)!.url;
    wallet = await NwcWalletDouble.start({ relays: [url], balanceMsats: 1_000_000 });
    const conn = parseNwcUri(wallet.uri);
    if (!conn.ok) throw new Error(conn.error.message);
    customerWallet = new NwcClient(conn.value, { timeoutMs: 8_000 });
    pool = new RelayPool([url]);
    await pool.ready();
    config = {
      relays: [url],
      stateDir,
      secretHex: bytesToHex(providerSecret),
      allowRoot: repo.root,
      priceMsats: PRICE,
      nwcUri: wallet.uri,
    };
  }, 30_000);

  afterAll(async () => {
    if (child) await killGroup(child, "SIGTERM");
    pool?.close();
    customerWallet?.close();
    wallet?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const submit = (instructions: string, onRequest?: (ev: NostrEvent) => void) =>
    submitJob({
      secretKey: customer,
      relays: [url],
      pool,
      kind: 5930,
      job: { repo: repo.url, instructions },
      provider: getPublicKey(providerSecret),
      bidMsats: 10_000,
      wallet: customerWallet,
      timeoutMs: 60_000,
      ...(onRequest ? { onRequest } : {}),
    });

  it("keeps history and earnings, resumes the interrupted paid job, runs nothing twice", async () => {
    child = await startProviderProcess(config);
    const first = await submit("echo first");
    if (!first.ok) throw new Error(`${first.error.message}\n${child.log.join("\n")}`);
    expect(first.value.content.log).toBe("first");

    let second: NostrEvent | undefined;
    const pending = submit("sleep 3; echo second", (ev) => {
      second = ev;
    });
    const store = JobStore.open(path.join(stateDir, "provider.sqlite"));
    try {
      await until(
        "the second job to run",
        () => second !== undefined && store.get(second.id)?.state === "running",
      );
      await killGroup(child, "SIGKILL");
      expect(store.get(second!.id)?.state).toBe("running");

      child = await startProviderProcess(config);
      const r = await pending;
      if (!r.ok) throw new Error(`${r.error.message}\n${child.log.join("\n")}`);
      expect(r.value.content.log).toBe("second");
      await until("delivered", () => store.get(second!.id)?.state === "done");

      // The first job was replayed by the relay's stored events after the restart: not run again.
      expect(store.get(first.value.request.id)).toMatchObject({ state: "done", attempts: 1 });
      // The second was interrupted by the kill and completed by the restarted provider: one result.
      expect(store.get(second!.id)).toMatchObject({ state: "done", attempts: 2 });
      expect(child.log.some((l) => l.startsWith(`resuming job ${second!.id.slice(0, 12)}`))).toBe(true);
      for (const id of [first.value.request.id, second!.id]) {
        expect(await pool.query([{ kinds: [6930], "#e": [id] }])).toHaveLength(1);
      }
      expect(store.stats()).toMatchObject({ earningsMsats: 2 * PRICE, paidJobs: 2, total: 2 });
      const pays = wallet.seen.filter((s) => s.method === "pay_invoice").length;
      expect(pays).toBe(2);
    } finally {
      store.close();
    }
  }, 120_000);
});
