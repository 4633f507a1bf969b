import { backoffDelay } from "./backoff.ts";
import { type CallFailure, type CreditInvoice, lightningOff } from "./lightning-buy.ts";

/** How often a pending invoice is checked (the panel's poll interval). */
export const CHECK_EVERY_MS = 3000;
/** After failed checks the next one waits longer, up to this. */
export const MAX_RETRY_MS = 60_000;

/**
 * A Lightning purchase in the credits panel:
 * - `form`: asking for an amount (`error`/`fieldError`: why the last try failed);
 * - `creating`: `POST /api/credits/invoice` in flight;
 * - `pending`: the invoice is shown and checked until it is paid or expires; `failures` checks in
 *   a row failed (`problem` says how), the next waits until `retryAt`;
 * - `settled` / `expired`: final, as the server said;
 * - `lost`: the server no longer knows the invoice (404);
 * - `off`: this server cannot sell credits (no Lightning wallet): no form any more.
 */
export type Purchase =
  | { phase: "form"; error?: string; fieldError?: string }
  | { phase: "creating" }
  | { phase: "pending"; invoice: CreditInvoice; failures: number; retryAt: number; problem?: string }
  | { phase: "settled"; invoice: CreditInvoice }
  | { phase: "expired"; invoice: CreditInvoice }
  | { phase: "lost"; invoice: CreditInvoice; message: string }
  | { phase: "off"; message: string };

/** An API answer: the invoice, or why there is none. */
export type InvoiceAnswer = { ok: true; invoice: CreditInvoice } | { ok: false; error: CallFailure };

const FIELDS = ["amountUsd", "credits"];

/** The phase an invoice's own status puts the purchase in. */
function byStatus(invoice: CreditInvoice, now: number): Purchase {
  if (invoice.status === "settled") return { phase: "settled", invoice };
  if (invoice.status === "expired") return { phase: "expired", invoice };
  return { phase: "pending", invoice, failures: 0, retryAt: now };
}

/**
 * The purchase after `POST /api/credits/invoice` answered.
 *
 * @example
 * created({ ok: true, invoice }, Date.now()).phase; // "pending"
 */
export function created(answer: InvoiceAnswer, now: number): Purchase {
  if (answer.ok) return byStatus(answer.invoice, now);
  const e = answer.error;
  if (lightningOff(e)) return { phase: "off", message: e.message };
  if (e.path !== undefined && FIELDS.includes(e.path)) return { phase: "form", fieldError: e.message };
  return { phase: "form", error: e.message };
}

/**
 * The purchase after a check of `invoiceId` answered. An answer about another invoice than the one
 * shown (the user moved on while it was in flight) changes nothing. A failed check keeps the invoice
 * and retries later and later (a wallet that does not answer now may answer soon; the server, not the
 * clock here, says when an invoice has expired), except a 404 (the invoice is gone) and a server
 * that cannot sell at all.
 *
 * @example
 * checked(pending, { ok: true, invoice: { ...invoice, status: "settled" } }, Date.now()).phase; // "settled"
 */
export function checked(
  state: Purchase,
  invoiceId: string,
  answer: InvoiceAnswer,
  now: number,
  random: () => number = Math.random,
): Purchase {
  if (state.phase !== "pending" || state.invoice.invoiceId !== invoiceId) return state;
  if (answer.ok) return byStatus(answer.invoice, now);
  const e = answer.error;
  if (e.status === 404) return { phase: "lost", invoice: state.invoice, message: e.message };
  if (lightningOff(e)) return { phase: "off", message: e.message };
  const failures = state.failures + 1;
  const wait = backoffDelay(failures - 1, { baseMs: CHECK_EVERY_MS * 2, maxMs: MAX_RETRY_MS }, random);
  return { ...state, failures, retryAt: now + wait, problem: e.message };
}

/**
 * Whether the poll that runs now should check the invoice: only a pending one, and not before a
 * failed check's wait is over.
 *
 * @example
 * if (dueForCheck(purchase, Date.now())) await check();
 */
export function dueForCheck(state: Purchase, now: number): state is Extract<Purchase, { phase: "pending" }> {
  return state.phase === "pending" && now >= state.retryAt;
}
