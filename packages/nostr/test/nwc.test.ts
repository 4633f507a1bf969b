import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bolt11AmountMsats, NwcClient, parseNwcUri } from "../src/index.ts";
import { NwcWalletDouble } from "./nwc-wallet.ts";
import { startLocalRelay, startNostrRelay, type TestRelay } from "./relays.ts";

let relays: TestRelay[] = [];

beforeAll(async () => {
  relays = await Promise.all([startNostrRelay(), startLocalRelay()]);
}, 30_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
});

function client(wallet: NwcWalletDouble): NwcClient {
  const conn = parseNwcUri(wallet.uri);
  if (!conn.ok) throw new Error(conn.error.message);
  return new NwcClient(conn.value, { timeoutMs: 8_000 });
}

describe.each([
  {
    name: "NIP-44 wallet over both relays",
    encryption: "nip44_v2 nip04" as string | null,
    expect: "nip44",
    relayIdx: [0, 1],
  },
  {
    name: "NIP-04-only wallet (no encryption tag) over nostr-relay",
    encryption: null,
    expect: "nip04",
    relayIdx: [0],
  },
  { name: "NIP-04-only wallet over LocalRelay", encryption: "nip04", expect: "nip04", relayIdx: [1] },
])("NWC: $name", ({ encryption, expect: scheme, relayIdx }) => {
  let wallet: NwcWalletDouble;
  let nwc: NwcClient;

  beforeAll(async () => {
    wallet = await NwcWalletDouble.start({
      relays: relayIdx.map((i) => relays[i]!.url),
      encryption,
      balanceMsats: 100_000,
    });
    nwc = client(wallet);
  });
  afterAll(() => {
    nwc.close();
    wallet.close();
  });

  it("picks the encryption the wallet advertises", async () => {
    expect(await nwc.encryption()).toBe(scheme);
  });

  it("make_invoice → settle via the double → lookup_invoice says paid", async () => {
    const inv = await nwc.makeInvoice({ amountMsats: 21_000, description: "job 5932" });
    if (!inv.ok) throw new Error(inv.error.message);
    expect(inv.value).toMatchObject({
      type: "incoming",
      amountMsats: 21_000,
      paid: false,
      description: "job 5932",
    });
    expect(bolt11AmountMsats(inv.value.invoice!)).toBe(21_000);

    const before = await nwc.lookupInvoice({ paymentHash: inv.value.paymentHash });
    expect(before).toMatchObject({ ok: true, value: { paid: false, state: "pending" } });

    wallet.settle(inv.value.paymentHash);
    const after = await nwc.lookupInvoice({ invoice: inv.value.invoice! });
    expect(after).toMatchObject({
      ok: true,
      value: { paid: true, state: "settled", paymentHash: inv.value.paymentHash },
    });
    expect(after.ok && after.value.preimage).toMatch(/^[0-9a-f]{64}$/);
    expect(await nwc.getBalance()).toEqual({ ok: true, value: { balanceMsats: 121_000 } });
    expect(wallet.seen.every((s) => s.scheme === scheme)).toBe(true);
  });

  it("pay_invoice debits the balance; too large a payment is INSUFFICIENT_BALANCE", async () => {
    const start = await nwc.getBalance();
    if (!start.ok) throw new Error(start.error.message);
    const paid = await nwc.payInvoice(`lnbcrt50n1${"q".repeat(60)}`);
    expect(paid).toMatchObject({ ok: true, value: { feesPaidMsats: 0 } });
    expect(paid.ok && paid.value.preimage).toMatch(/^[0-9a-f]{64}$/);
    expect(await nwc.getBalance()).toEqual({
      ok: true,
      value: { balanceMsats: start.value.balanceMsats - 5_000 },
    });

    const tooMuch = await nwc.payInvoice(`lnbcrt1m1${"q".repeat(60)}`);
    expect(tooMuch).toMatchObject({ ok: false, error: { code: "insufficient_credits" } });
    expect(!tooMuch.ok && tooMuch.error.message).toMatch(/^INSUFFICIENT_BALANCE:/);
  });

  it("an unknown invoice is NOT_FOUND", async () => {
    expect(await nwc.lookupInvoice({ paymentHash: "00".repeat(32) })).toMatchObject({
      ok: false,
      error: { code: "not_found" },
    });
  });
});

describe("NWC failure modes", () => {
  it("a wallet that never answers gives a timeout error, not a hang", async () => {
    const wallet = await NwcWalletDouble.start({ relays: [relays[1]!.url] });
    const conn = parseNwcUri(wallet.uri);
    wallet.close(); // the service is gone; the relay is still there
    if (!conn.ok) throw new Error(conn.error.message);
    const nwc = new NwcClient(conn.value, { timeoutMs: 1_000 });
    const t0 = Date.now();
    expect(await nwc.getBalance()).toMatchObject({ ok: false, error: { code: "timeout" } });
    expect(Date.now() - t0).toBeLessThan(4_000);
    nwc.close();
  });
});
