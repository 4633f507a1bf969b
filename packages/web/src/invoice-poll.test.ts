import { describe, expect, it } from "vitest";
import {
  CHECK_EVERY_MS,
  checked,
  created,
  dueForCheck,
  MAX_RETRY_MS,
  type Purchase,
} from "./invoice-poll.ts";
import type { CallFailure, CreditInvoice } from "./lightning-buy.ts";

const NOW = Date.parse("2026-01-01T00:00:00.000Z");
const invoice: CreditInvoice = {
  invoiceId: "ab".repeat(32),
  bolt11: "lnbcrt25000000p1pjexample",
  amountMsats: 2_500_000,
  credits: 2_500_000,
  status: "pending",
  expiresAt: "2026-01-01T01:00:00.000Z",
  settledAt: null,
};
const fail = (status: number, code: string, message: string, path?: string) => ({
  ok: false as const,
  error: { status, code, message, path } satisfies CallFailure,
});
const OFF = fail(501, "not_configured", "PLATFORM_NWC_URI is not set: Lightning purchases are off");
const pending: Purchase = { phase: "pending", invoice, failures: 0, retryAt: NOW };
const half = () => 0.5; // no jitter

describe("created", () => {
  it("shows a new invoice and checks it on the next poll", () => {
    const s = created({ ok: true, invoice }, NOW);
    expect(s).toEqual({ phase: "pending", invoice, failures: 0, retryAt: NOW });
    expect(dueForCheck(s, NOW)).toBe(true);
  });

  it("puts an amount the server refused under the field, anything else on the form", () => {
    expect(created(fail(400, "invalid_request", "a purchase is from …", "amountUsd"), NOW)).toEqual({
      phase: "form",
      fieldError: "a purchase is from …",
    });
    expect(created(fail(504, "timeout", "wallet: no answer"), NOW)).toEqual({
      phase: "form",
      error: "wallet: no answer",
    });
    expect(created(fail(0, "network", "cannot reach the server"), NOW)).toMatchObject({ phase: "form" });
  });

  it("stops offering the form when the server has no Lightning wallet", () => {
    expect(created(OFF, NOW)).toEqual({ phase: "off", message: OFF.error.message });
  });
});

describe("checked", () => {
  it("polls a pending invoice until the server says settled or expired", () => {
    const still = checked(pending, invoice.invoiceId, { ok: true, invoice }, NOW + 3000);
    expect(still).toEqual({ phase: "pending", invoice, failures: 0, retryAt: NOW + 3000 });
    const paid = { ...invoice, status: "settled" as const, settledAt: "2026-01-01T00:01:00.000Z" };
    expect(checked(still, invoice.invoiceId, { ok: true, invoice: paid }, NOW + 6000)).toEqual({
      phase: "settled",
      invoice: paid,
    });
    const expired = { ...invoice, status: "expired" as const };
    expect(checked(still, invoice.invoiceId, { ok: true, invoice: expired }, NOW)).toEqual({
      phase: "expired",
      invoice: expired,
    });
  });

  it("waits longer after each failed check, up to a cap, and clears the problem once a check works", () => {
    let s: Purchase = pending;
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      s = checked(s, invoice.invoiceId, fail(504, "timeout", "wallet: no answer"), NOW, half);
      if (s.phase !== "pending") throw new Error(s.phase);
      waits.push(s.retryAt - NOW);
      expect(s.failures).toBe(i + 1);
      expect(s.problem).toBe("wallet: no answer");
    }
    expect(waits[0]).toBe(CHECK_EVERY_MS * 2);
    for (let i = 1; i < waits.length; i++) expect(waits[i]!).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(waits.at(-1)).toBe(MAX_RETRY_MS);
    expect(dueForCheck(s, NOW + MAX_RETRY_MS - 1)).toBe(false);
    expect(dueForCheck(s, NOW + MAX_RETRY_MS)).toBe(true);
    expect(checked(s, invoice.invoiceId, { ok: true, invoice }, NOW + MAX_RETRY_MS)).toEqual({
      phase: "pending",
      invoice,
      failures: 0,
      retryAt: NOW + MAX_RETRY_MS,
    });
  });

  it("gives up on an invoice the server no longer knows, and on a server that cannot sell", () => {
    expect(checked(pending, invoice.invoiceId, fail(404, "not_found", "no invoice x"), NOW)).toEqual({
      phase: "lost",
      invoice,
      message: "no invoice x",
    });
    expect(checked(pending, invoice.invoiceId, OFF, NOW)).toMatchObject({ phase: "off" });
  });

  it("ignores an answer that arrives after the user moved on", () => {
    const form: Purchase = { phase: "form" };
    expect(checked(form, invoice.invoiceId, { ok: true, invoice }, NOW)).toBe(form);
    const other = { ...pending, invoice: { ...invoice, invoiceId: "cd".repeat(32) } };
    expect(
      checked(other, invoice.invoiceId, { ok: true, invoice: { ...invoice, status: "settled" } }, NOW),
    ).toBe(other);
  });
});

describe("dueForCheck", () => {
  it("checks only a pending invoice", () => {
    for (const s of [
      { phase: "form" },
      { phase: "creating" },
      { phase: "settled", invoice },
      { phase: "expired", invoice },
      { phase: "off", message: "off" },
    ] as Purchase[]) {
      expect(dueForCheck(s, NOW), s.phase).toBe(false);
    }
  });
});
