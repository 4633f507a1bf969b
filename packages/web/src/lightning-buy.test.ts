import { describe, expect, it } from "vitest";
import {
  formatSats,
  lightningOff,
  parseBuyAmount,
  purchaseLimits,
  restoreInvoice,
  toInvoice,
} from "./lightning-buy.ts";

const HASH = "ab".repeat(32);
const INVOICE = {
  invoiceId: HASH,
  bolt11: "lnbcrt25000000p1pjexample",
  amountMsats: 2_500_000,
  credits: 2_500_000,
  status: "pending",
  created: "2026-01-01T00:00:00.000Z",
  expiresAt: "2026-01-01T01:00:00.000Z",
  settledAt: null,
};

describe("parseBuyAmount", () => {
  it("reads dollars into the body the edge takes, with the credits they buy", () => {
    expect(parseBuyAmount("2.50")).toEqual({ ok: true, body: { amountUsd: 2.5 }, credits: 2_500_000 });
    expect(parseBuyAmount(" $5 ")).toEqual({ ok: true, body: { amountUsd: 5 }, credits: 5_000_000 });
    expect(parseBuyAmount("1,000")).toEqual({ ok: true, body: { amountUsd: 1000 }, credits: 1_000_000_000 });
    expect(parseBuyAmount("0.01")).toEqual({ ok: true, body: { amountUsd: 0.01 }, credits: 10_000 });
    expect(parseBuyAmount("0.07").ok && parseBuyAmount("0.07")).toMatchObject({ credits: 70_000 });
  });

  it("refuses what the edge would refuse, before sending it", () => {
    for (const bad of ["", "  ", "abc", "-1", "1e3", "1.2.3", "5 dollars", "0.0000001"]) {
      expect(parseBuyAmount(bad), bad).toEqual({
        ok: false,
        message: "Enter an amount in dollars, like 5 or 2.50",
      });
    }
    for (const out of ["0", "0.009", "1000.01", "5000"]) {
      expect(parseBuyAmount(out), out).toEqual({ ok: false, message: "A purchase is from $0.01 to $1,000" });
    }
  });

  it("follows the server's credits per dollar", () => {
    expect(purchaseLimits(1000)).toEqual({ min: 10, max: 1_000_000 });
    expect(parseBuyAmount("2", 1000)).toMatchObject({ ok: true, credits: 2000 });
  });
});

describe("toInvoice", () => {
  it("reads the edge's invoice", () => {
    expect(toInvoice(INVOICE)).toEqual({
      invoiceId: HASH,
      bolt11: "lnbcrt25000000p1pjexample",
      amountMsats: 2_500_000,
      credits: 2_500_000,
      status: "pending",
      expiresAt: "2026-01-01T01:00:00.000Z",
      settledAt: null,
    });
    expect(toInvoice({ ...INVOICE, status: "settled", settledAt: "2026-01-01T00:10:00.000Z" })).toMatchObject(
      {
        status: "settled",
        settledAt: "2026-01-01T00:10:00.000Z",
      },
    );
  });

  it("refuses an answer it could not poll, show or trust", () => {
    for (const broken of [
      null,
      [],
      "lnbc1",
      { ...INVOICE, invoiceId: "../etc" },
      { ...INVOICE, invoiceId: undefined },
      { ...INVOICE, bolt11: "" },
      { ...INVOICE, bolt11: "javascript:alert(1)" },
      { ...INVOICE, status: "paid" },
      { ...INVOICE, credits: "2500000" },
      { ...INVOICE, amountMsats: -1 },
    ]) {
      expect(toInvoice(broken), JSON.stringify(broken)).toBeUndefined();
    }
  });
});

describe("formatSats", () => {
  it("shows satoshis, to the millisatoshi when not whole", () => {
    expect(formatSats(2_500_000)).toBe("2,500 sats");
    expect(formatSats(1_000_001)).toBe("1,000.001 sats");
    expect(formatSats(1000)).toBe("1 sat");
    expect(formatSats(0)).toBe("0 sats");
  });
});

describe("lightningOff", () => {
  it("recognises the edge's answer for a server without a Lightning wallet", () => {
    const off = (message: string) => ({ status: 501, code: "not_configured", message });
    expect(
      lightningOff(off("SATS_PER_USD is not set to a positive number: Lightning purchases are off")),
    ).toBe(true);
    expect(lightningOff(off("PLATFORM_NWC_URI is not set: Lightning purchases are off"))).toBe(true);
  });

  it("does not take a wallet failure or another error for it", () => {
    expect(lightningOff({ status: 500, code: "internal", message: "wallet: relay refused" })).toBe(false);
    expect(lightningOff({ status: 504, code: "timeout", message: "wallet: no answer" })).toBe(false);
    expect(lightningOff({ status: 500, code: "internal", message: "PLATFORM_NWC_URI is invalid: bad" })).toBe(
      false,
    );
    expect(
      lightningOff({ status: 400, code: "invalid_request", message: "Lightning purchases are off" }),
    ).toBe(false);
  });
});

describe("restoreInvoice", () => {
  it("picks up a remembered pending invoice, and nothing else", () => {
    expect(restoreInvoice(JSON.stringify(INVOICE))).toMatchObject({ invoiceId: HASH, status: "pending" });
    expect(restoreInvoice(null)).toBeUndefined();
    expect(restoreInvoice("{")).toBeUndefined();
    expect(restoreInvoice(JSON.stringify({ ...INVOICE, status: "settled" }))).toBeUndefined();
    expect(restoreInvoice(JSON.stringify({ ...INVOICE, bolt11: 1 }))).toBeUndefined();
  });
});
