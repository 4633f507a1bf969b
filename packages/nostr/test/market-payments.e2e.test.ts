/**
 * Paid market jobs through the NIP-47 wallet double over both relays (paid, unpaid, over-bid), and the
 * customer's defences: it never pays above its bid or an invoice whose amount differs from the ask,
 * and it rejects results forged by another key.
 */
import { rmSync } from "node:fs";
import { finalizeEvent, generateSecretKey, getEventHash, getPublicKey } from "nostr-tools/pure";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submitJob } from "../src/customer/index.ts";
import {
  buildJobFeedback,
  buildJobResult,
  DEFAULT_JOB_KINDS,
  type JobFeedback,
  NwcClient,
  nowSec,
  parseJobRequest,
  parseNwcUri,
  RelayPool,
} from "../src/index.ts";
import { localRepo, startTestProvider, type TestProvider } from "./market-fixtures.ts";
import { NwcWalletDouble } from "./nwc-wallet.ts";
import { startLocalRelay, startNostrRelay, type TestRelay } from "./relays.ts";

let relays: TestRelay[] = [];
const repo = localRepo();
const PRICE = 5_000;
const KIND = 5940;

beforeAll(async () => {
  relays = await Promise.all([startNostrRelay(), startLocalRelay()]);
}, 30_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  rmSync(repo.root, { recursive: true, force: true });
});

const until = async (what: string, check: () => boolean, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe.each(["nostr-relay", "nostr-sdk"] as const)("paid jobs over %s", (relayName) => {
  let url: string;
  let wallet: NwcWalletDouble;
  let providerWallet: NwcClient;
  let customerWallet: NwcClient;
  let paid: TestProvider;
  let pool: RelayPool;
  const customer = generateSecretKey();
  const pays = () => wallet.seen.filter((s) => s.method === "pay_invoice").length;

  beforeAll(async () => {
    url = relays.find((r) => r.name === relayName)!.url;
    wallet = await NwcWalletDouble.start({ relays: [url], balanceMsats: 1_000_000 });
    const conn = parseNwcUri(wallet.uri);
    if (!conn.ok) throw new Error(conn.error.message);
    providerWallet = new NwcClient(conn.value, { timeoutMs: 8_000 });
    customerWallet = new NwcClient(conn.value, { timeoutMs: 8_000 });
    paid = await startTestProvider({
      relays: [url],
      allowRoot: repo.root,
      kinds: { ...DEFAULT_JOB_KINDS, compute: KIND },
      prices: { compute: PRICE },
      wallet: providerWallet,
      paymentTimeoutSec: 3,
    });
    pool = new RelayPool([url]);
    await pool.ready();
  }, 30_000);

  afterAll(async () => {
    pool?.close();
    await paid?.stop();
    providerWallet?.close();
    customerWallet?.close();
    wallet?.close();
  });

  it("asks for payment, starts once lookup_invoice says paid, and counts the earnings", async () => {
    const before = paid.store.stats().earningsMsats;
    const feedback: JobFeedback[] = [];
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool,
      kind: KIND,
      job: { repo: repo.url, instructions: "echo paid-work" },
      provider: paid.provider.pubkey,
      bidMsats: 10_000,
      wallet: customerWallet,
      timeoutMs: 30_000,
      onFeedback: (fb) => feedback.push(fb),
    });
    if (!r.ok) throw new Error(`${r.error.message}\n${paid.logs.join("\n")}`);
    expect(r.value.content.log).toBe("paid-work");
    expect(r.value.paidMsats).toBe(PRICE);
    expect(r.value.result.amount?.msats).toBe(PRICE);
    const asked = feedback.find((f) => f.status === "payment-required")!;
    expect(asked.amount?.msats).toBe(PRICE);
    // Work started only after the payment: "started" comes after payment-required.
    const order = feedback.map((f) => `${f.status}:${f.extraInfo ?? ""}`);
    expect(order.indexOf("processing:started")).toBeGreaterThan(
      order.indexOf(`payment-required:${asked.extraInfo}`),
    );
    const job = paid.store.get(r.value.request.id)!;
    expect(job.paidAt).not.toBeNull();
    await until("done", () => paid.store.get(r.value.request.id)?.state === "done");
    expect(paid.store.stats().earningsMsats).toBe(before + PRICE);
  });

  it("never runs an unpaid job and expires it", async () => {
    const feedback: JobFeedback[] = [];
    // No wallet: the customer cannot pay; the addressed provider's ask ends the wait at once.
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool,
      kind: KIND,
      job: { repo: repo.url, instructions: "echo should-not-run" },
      provider: paid.provider.pubkey,
      bidMsats: 10_000,
      timeoutMs: 30_000,
      onFeedback: (fb) => feedback.push(fb),
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toMatch(/wallet/);
    const id = feedback[0]!.requestId;
    expect(paid.store.get(id)?.state).toBe("awaiting-payment");
    await until("expiry", () => paid.store.get(id)?.state === "expired", 10_000);
    expect(paid.store.get(id)).toMatchObject({ attempts: 0, paidAt: null });
    // The provider records the expiry only once a relay took its notice: it is there to read now.
    const errors = await pool.query([{ kinds: [7000], "#e": [id] }]);
    expect(errors.some((e) => e.tags.some((t) => t[0] === "status" && t[1] === "error"))).toBe(true);
  });

  it("refuses a bid below its price, and the customer pays nothing", async () => {
    const paysBefore = pays();
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool,
      kind: KIND,
      job: { repo: repo.url, instructions: "echo cheap" },
      provider: paid.provider.pubkey,
      bidMsats: 1_000,
      wallet: customerWallet,
      timeoutMs: 30_000,
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/price of a compute job is 5000 msats; the bid was 1000/);
    expect(pays()).toBe(paysBefore);
  });

  it("never pays above the bid, nor an invoice whose amount differs from the ask", async () => {
    // A greedy provider (not ours) asks more than the bid, then lies about the invoice amount.
    const greedy = generateSecretKey();
    for (const ask of [
      { tag: 50_000, invoice: 50_000, why: /above the bid of 10000/ },
      { tag: 5_000, invoice: 50_000, why: /invoice asks 50000 msats but the feedback says 5000/ },
    ]) {
      const paysBefore = pays();
      const invoice = await providerWallet.makeInvoice({ amountMsats: ask.invoice });
      if (!invoice.ok) throw new Error(invoice.error.message);
      const sub = pool.subscribe([{ kinds: [5950], since: nowSec() - 5 }], {
        onevent: (ev) => {
          const req = parseJobRequest(ev);
          if (!req.ok) return;
          const fb = buildJobFeedback(
            req.value,
            { status: "payment-required", amount: { msats: ask.tag, bolt11: invoice.value.invoice! } },
            greedy,
          );
          if (fb.ok) void pool.publish(fb.value);
        },
      });
      const rejected: string[] = [];
      const r = await submitJob({
        secretKey: customer,
        relays: [url],
        pool,
        kind: 5950,
        // Distinct instructions: two identical requests in the same second would be one event id.
        job: { repo: repo.url, instructions: `echo greedy ${ask.tag}` },
        provider: getPublicKey(greedy),
        bidMsats: 10_000,
        wallet: customerWallet,
        timeoutMs: 15_000,
        onRejected: (why) => rejected.push(why),
      });
      sub.close();
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(ask.why);
      expect(pays()).toBe(paysBefore);
      expect(wallet.invoices.get(invoice.value.paymentHash)?.settled_at).toBeUndefined();
    }
  });

  it("rejects a result forged by another key and accepts the provider's own", async () => {
    const provider = generateSecretKey();
    const forger = generateSecretKey();
    const sub = pool.subscribe([{ kinds: [5951], since: nowSec() - 5 }], {
      onevent: async (ev) => {
        const req = parseJobRequest(ev);
        if (!req.ok) return;
        const content = JSON.stringify({ ok: true, summary: "forged", exitCode: 0, log: "forged" });
        const forged = buildJobResult(req.value, { content }, forger);
        if (forged.ok) await pool.publish(forged.value);
        // A tampered copy of a real result: the forger's content under the provider's pubkey and
        // signature (its id recomputed, so relays do not take it for the real one).
        const real = buildJobResult(
          req.value,
          { content: JSON.stringify({ ok: true, summary: "real", exitCode: 0, log: "real" }) },
          provider,
        );
        if (!real.ok) return;
        const tampered = { ...real.value, content };
        tampered.id = getEventHash(tampered);
        // nostr-relay never answers OK to a bad signature: do not wait for one.
        void pool.publish(tampered, { timeoutMs: 1_000, retries: 0 });
        await new Promise((r) => setTimeout(r, 200));
        await pool.publish(real.value);
      },
    });
    const rejected: string[] = [];
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool,
      kind: 5951,
      job: { repo: repo.url, instructions: "echo trust" },
      provider: getPublicKey(provider),
      timeoutMs: 15_000,
      onRejected: (why) => rejected.push(why),
    });
    sub.close();
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.content.log).toBe("real");
    expect(rejected.some((w) => /signed by a key other than the expected provider/.test(w))).toBe(true);
    // The relay itself drops the tampered copy (bad id/signature) or our pool does: never accepted.
    expect(r.value.content.summary).toBe("real");
    // A fresh request with a forged result only: the customer keeps waiting and times out.
    const lone = pool.subscribe([{ kinds: [5952], since: nowSec() - 5 }], {
      onevent: async (ev) => {
        const req = parseJobRequest(ev);
        if (!req.ok) return;
        const forged = finalizeEvent(
          {
            kind: 6952,
            tags: [
              ["e", req.value.id],
              ["p", req.value.customer],
            ],
            content: JSON.stringify({ ok: true, summary: "forged", exitCode: 0 }),
            created_at: nowSec(),
          },
          forger,
        );
        await pool.publish(forged);
      },
    });
    const alone = await submitJob({
      secretKey: customer,
      relays: [url],
      pool,
      kind: 5952,
      job: { repo: repo.url, instructions: "echo alone" },
      provider: getPublicKey(provider),
      timeoutMs: 2_000,
    });
    lone.close();
    expect(alone.ok).toBe(false);
    if (!alone.ok) expect(alone.error.code).toBe("timeout");
  });
});
