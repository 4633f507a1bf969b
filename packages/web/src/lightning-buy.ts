import { CREDITS_PER_USD } from "./credits.ts";

/** Where a Lightning invoice for credits stands (`GET /api/credits/invoice/:id`). */
export type InvoiceStatus = "pending" | "settled" | "expired";

/** An invoice for credits, as `POST /api/credits/invoice` and `GET /api/credits/invoice/:id` answer it. */
export interface CreditInvoice {
  /** The payment hash (64 hex digits): the id to check the invoice by. */
  invoiceId: string;
  /** The BOLT11 payment request the user's wallet pays. */
  bolt11: string;
  amountMsats: number;
  credits: number;
  status: InvoiceStatus;
  expiresAt: string;
  settledAt: string | null;
}

/** A failed call as the app sees it (`ApiError` has this shape): HTTP status (0: no answer), code, message. */
export interface CallFailure {
  status: number;
  code: string;
  message: string;
  path?: string | undefined;
}

/** The smallest and largest purchase the edge accepts: $0.01 and $1000 (in credits, at `perUsd`). */
export const purchaseLimits = (perUsd = CREDITS_PER_USD) => ({ min: perUsd / 100, max: 1000 * perUsd });

/**
 * Reads the amount typed in dollars into the body of `POST /api/credits/invoice`, refusing what the
 * edge would refuse ($0.01 to $1000), so the user hears it before anything is sent.
 *
 * @example
 * parseBuyAmount("$2.50"); // { ok: true, body: { amountUsd: 2.5 }, credits: 2_500_000 }
 */
export function parseBuyAmount(
  text: string,
  perUsd = CREDITS_PER_USD,
): { ok: true; body: { amountUsd: number }; credits: number } | { ok: false; message: string } {
  const t = text
    .trim()
    .replace(/^\$\s*/, "")
    .replaceAll(",", "");
  if (t === "") return { ok: false, message: "Enter an amount in dollars, like 5 or 2.50" };
  if (!/^\d+(\.\d{1,6})?$/.test(t))
    return { ok: false, message: "Enter an amount in dollars, like 5 or 2.50" };
  const amountUsd = Number(t);
  // The edge rounds the same way: Math.round(amountUsd * creditsPerUsd).
  const credits = Math.round(amountUsd * perUsd);
  const { min, max } = purchaseLimits(perUsd);
  if (credits < min || credits > max) return { ok: false, message: "A purchase is from $0.01 to $1,000" };
  return { ok: true, body: { amountUsd }, credits };
}

const STATUSES: readonly string[] = ["pending", "settled", "expired"];

/**
 * Reads an invoice answer; `undefined` when it lacks what the panel needs (an id to poll, a
 * payment request to show, a known status).
 *
 * @example
 * toInvoice({ invoiceId: "ab…", bolt11: "lnbc…", amountMsats: 2_500_000, credits: 2_500_000,
 *   status: "pending", expiresAt: "2026-01-01T01:00:00.000Z", settledAt: null })?.status; // "pending"
 */
export function toInvoice(raw: unknown): CreditInvoice | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
  const amountMsats = num(o.amountMsats);
  const credits = num(o.credits);
  if (
    typeof o.invoiceId !== "string" ||
    !/^[0-9a-f]{64}$/i.test(o.invoiceId) ||
    typeof o.bolt11 !== "string" ||
    !/^ln[a-z0-9]+$/i.test(o.bolt11) ||
    typeof o.status !== "string" ||
    !STATUSES.includes(o.status) ||
    amountMsats === undefined ||
    credits === undefined
  )
    return undefined;
  return {
    invoiceId: o.invoiceId,
    bolt11: o.bolt11,
    amountMsats,
    credits,
    status: o.status as InvoiceStatus,
    expiresAt: typeof o.expiresAt === "string" ? o.expiresAt : "",
    settledAt: typeof o.settledAt === "string" ? o.settledAt : null,
  };
}

/**
 * Millisatoshis as satoshis, to the millisatoshi when it is not whole: "2,500 sats", "1,000.001 sats".
 *
 * @example
 * formatSats(2_500_000); // "2,500 sats"
 */
export function formatSats(msats: number): string {
  const sats = msats / 1000;
  const text = sats.toLocaleString("en-US", { maximumFractionDigits: 3 });
  return `${text} ${sats === 1 ? "sat" : "sats"}`;
}

/**
 * True when the failure says this server cannot sell credits at all: the edge answers
 * `not_configured` (501) when it has no wallet (`PLATFORM_NWC_URI`) or no rate (`SATS_PER_USD`).
 * A wallet that fails or does not answer is not this: that may pass.
 *
 * @example
 * lightningOff({ status: 501, code: "not_configured", message: "PLATFORM_NWC_URI is not set: Lightning purchases are off" }); // true
 */
export function lightningOff(e: CallFailure): boolean {
  return e.code === "not_configured";
}

/** Where the invoice being paid is remembered, so a reload or a closed tab picks its checks up again. */
export const PENDING_INVOICE_KEY = "openagents.pendingInvoice";

/**
 * The invoice remembered under `PENDING_INVOICE_KEY`, if it is one still worth checking. The edge
 * credits a paid invoice only when it is checked, so an invoice paid after the tab closed is credited
 * when the panel opens again.
 *
 * @example
 * restoreInvoice(localStorage.getItem(PENDING_INVOICE_KEY)); // CreditInvoice | undefined
 */
export function restoreInvoice(saved: string | null): CreditInvoice | undefined {
  if (saved === null) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(saved);
  } catch {
    return undefined;
  }
  const invoice = toInvoice(raw);
  return invoice?.status === "pending" ? invoice : undefined;
}
