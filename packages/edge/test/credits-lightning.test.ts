/// <reference path="./nwc-context.d.ts" />
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { LightningCredits } from "../src/lightning.ts";
import { api, newUser } from "./worker-helpers.ts";

interface Invoice {
  invoiceId: string;
  bolt11: string;
  amountMsats: number;
  credits: number;
  status: "pending" | "settled" | "expired";
  expiresAt: string;
  settledAt: string | null;
}

const balance = async (token: string) =>
  ((await (await api("/api/credits", { token })).json()) as { balance: number }).balance;

/** Pays an invoice, as a payer's HTLC settling at the platform's wallet would (the double's control API). */
const settle = (hash: string) => fetch(`${inject("nwc").control}/settle/${hash}`, { method: "POST" });

async function buy(token: string, body: unknown): Promise<Invoice> {
  const res = await api("/api/credits/invoice", { token, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Invoice;
}

describe("/api/credits/invoice (Lightning, through NIP-47 on a real relay)", () => {
  it("makes an invoice in the platform wallet; unpaid credits nothing, paid credits once even when polled concurrently", async () => {
    const { token } = await newUser();
    const inv = await buy(token, { amountUsd: 2.5 });
    // SATS_PER_USD is 1000 in the tests: $2.50 = 2500 sats = 2 500 000 msats.
    expect(inv).toMatchObject({
      amountMsats: 2_500_000,
      credits: 2_500_000,
      status: "pending",
      settledAt: null,
    });
    expect(inv.invoiceId).toMatch(/^[0-9a-f]{64}$/);
    expect(inv.bolt11).toMatch(/^lnbcrt25000000p1/);
    expect(Date.parse(inv.expiresAt) - Date.now()).toBeGreaterThan(3500_000);

    const unpaid = await api(`/api/credits/invoice/${inv.invoiceId}`, { token });
    expect(unpaid.status).toBe(200);
    expect(await unpaid.json()).toMatchObject({ status: "pending" });
    expect(await balance(token)).toBe(0);

    expect((await settle(inv.invoiceId)).status).toBe(204);
    const polls = await Promise.all(
      [1, 2, 3].map(() => api(`/api/credits/invoice/${inv.invoiceId}`, { token }).then((r) => r.json())),
    );
    for (const p of polls) expect(p).toMatchObject({ status: "settled", credits: 2_500_000 });
    expect(await balance(token)).toBe(2_500_000);
    // A later check answers from the database and adds nothing.
    expect(await (await api(`/api/credits/invoice/${inv.invoiceId}`, { token })).json()).toMatchObject({
      status: "settled",
    });
    expect(await balance(token)).toBe(2_500_000);
    const entries = (await (await api("/api/credits/entries", { token })).json()) as {
      entries: Array<{ kind: string; amount: number }>;
    };
    expect(entries.entries).toEqual([expect.objectContaining({ kind: "purchase", amount: 2_500_000 })]);
  });

  it("buys a number of credits; another user's invoice id is 404 and does not credit them", async () => {
    const a = await newUser();
    const b = await newUser();
    const inv = await buy(a.token, { credits: 1_000_001 });
    expect(inv.amountMsats).toBe(1_000_001); // rounded up: never less than the credits are worth
    expect((await settle(inv.invoiceId)).status).toBe(204);
    const stranger = await api(`/api/credits/invoice/${inv.invoiceId}`, { token: b.token });
    expect(stranger.status).toBe(404);
    expect(await stranger.json()).toMatchObject({ error: { code: "not_found" } });
    expect(await balance(b.token)).toBe(0);
    expect(
      await (await api(`/api/credits/invoice/${inv.invoiceId}`, { token: a.token })).json(),
    ).toMatchObject({
      status: "settled",
    });
    expect(await balance(a.token)).toBe(1_000_001);
    expect((await api(`/api/credits/invoice/${"0".repeat(64)}`, { token: a.token })).status).toBe(404);
    expect((await api("/api/credits/invoice/nope", { token: a.token })).status).toBe(404);
  });

  it("an unpaid invoice past its expiry is expired for good, and credits nothing", async () => {
    const { token } = await newUser();
    const inv = await buy(token, { amountUsd: 1, expirySec: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    const res = await api(`/api/credits/invoice/${inv.invoiceId}`, { token });
    expect(await res.json()).toMatchObject({ status: "expired", settledAt: null });
    expect(await balance(token)).toBe(0);
  });

  it("rejects bad purchases before asking the wallet", async () => {
    const { token } = await newUser();
    for (const body of [
      {},
      { amountUsd: 1, credits: 5 },
      { credits: 1.5 },
      { amountUsd: 0 },
      { amountUsd: 5000 },
      { credits: 10, x: 1 },
      { amountUsd: 1, expirySec: 0 },
    ]) {
      const res = await api("/api/credits/invoice", { token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await api("/api/credits/invoice", { body: { amountUsd: 1 } })).status).toBe(401);
  });

  it("a server without a wallet or a rate says so: not_configured (501), and lightning: false in /api/credits", async () => {
    const { user, token } = await newUser();
    expect(await (await api("/api/credits", { token })).json()).toMatchObject({ lightning: true });
    for (const missing of [{ PLATFORM_NWC_URI: "" }, { SATS_PER_USD: "" }]) {
      const off = { ...env, ...missing };
      expect(LightningCredits.configured(off)).toBe(false);
      const r = await new LightningCredits(off).create(user.id, { credits: 1_000_000 });
      expect(r.ok).toBe(false);
      if (!r.ok)
        expect(r.error).toMatchObject({ code: "not_configured", message: /Lightning purchases are off/ });
    }
    expect(LightningCredits.configured(env)).toBe(true);
  });
});
