import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "../api.ts";
import { formatCredits } from "../credits.ts";
import { formatClock } from "../format.ts";
import {
  CHECK_EVERY_MS,
  checked,
  created,
  dueForCheck,
  type InvoiceAnswer,
  type Purchase,
} from "../invoice-poll.ts";
import {
  type CallFailure,
  formatSats,
  PENDING_INVOICE_KEY,
  parseBuyAmount,
  restoreInvoice,
} from "../lightning-buy.ts";
import { usePoll } from "../use-poll.ts";
import { CopyButton } from "./copy-button.tsx";
import { Field } from "./field.tsx";

// Once the server said it cannot sell, the form stays hidden for the rest of this page load (the
// settings page is left and opened again; the server's configuration does not change meanwhile).
let cannotSell: string | undefined;

const failure = (e: unknown): CallFailure =>
  e instanceof ApiError
    ? e
    : { status: 0, code: "network", message: e instanceof Error ? e.message : String(e) };

/** The purchase the panel opens with: the remembered unpaid invoice, the form, or why there is none. */
function initial(canSell: boolean): Purchase {
  if (!canSell) return { phase: "off", message: "No Lightning wallet is configured (PLATFORM_NWC_URI)." };
  if (cannotSell !== undefined) return { phase: "off", message: cannotSell };
  const invoice = restoreInvoice(storage()?.getItem(PENDING_INVOICE_KEY) ?? null);
  return invoice ? { phase: "pending", invoice, failures: 0, retryAt: 0 } : { phase: "form" };
}

/** localStorage, or undefined where the browser refuses it (some private modes throw on access). */
function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

const creditsLabel = (credits: number, perUsd: number) =>
  `${formatCredits(credits, perUsd)} (${credits.toLocaleString("en-US")} credits)`;

/**
 * Buying credits with Lightning: an amount in dollars, then the invoice to pay (copyable, and a
 * `lightning:` link for a wallet on this device), checked every few seconds until the server says it
 * is paid (`onCredited` then reloads the balance) or expired.
 */
export function BuyCredits({
  perUsd,
  canSell,
  onCredited,
}: {
  perUsd: number;
  /** From `GET /api/credits` (`lightning`): false shows why there is no form, before any attempt. */
  canSell: boolean;
  onCredited: () => void;
}) {
  const [purchase, setPurchase] = useState<Purchase>(() => initial(canSell));
  const [amount, setAmount] = useState("");
  const [amountError, setAmountError] = useState<string | undefined>();

  const settledId = purchase.phase === "settled" ? purchase.invoice.invoiceId : undefined;
  useEffect(() => {
    if (settledId !== undefined) onCredited();
  }, [settledId]);
  const pendingInvoice = purchase.phase === "pending" ? purchase.invoice : undefined;
  useEffect(() => {
    if (purchase.phase === "off") cannotSell = purchase.message;
  }, [purchase.phase]);
  useEffect(() => {
    // The edge credits a payment only when the invoice is checked: remember it until it is final.
    try {
      if (pendingInvoice) storage()?.setItem(PENDING_INVOICE_KEY, JSON.stringify(pendingInvoice));
      else storage()?.removeItem(PENDING_INVOICE_KEY);
    } catch {
      // Full or refused storage: the purchase goes on, it is only not picked up after a reload.
    }
  }, [pendingInvoice?.invoiceId]);

  usePoll(
    async () => {
      if (!dueForCheck(purchase, Date.now())) return;
      const id = purchase.invoice.invoiceId;
      let answer: InvoiceAnswer;
      try {
        answer = { ok: true, invoice: await api.checkInvoice(id) };
      } catch (e) {
        answer = { ok: false, error: failure(e) };
      }
      setPurchase((s) => checked(s, id, answer, Date.now()));
    },
    CHECK_EVERY_MS,
    purchase.phase === "pending",
  );

  const preview = parseBuyAmount(amount, perUsd);

  const submit = async (e: Event) => {
    e.preventDefault();
    const parsed = parseBuyAmount(amount, perUsd);
    if (!parsed.ok) return setAmountError(parsed.message);
    setAmountError(undefined);
    setPurchase({ phase: "creating" });
    let answer: InvoiceAnswer;
    try {
      answer = { ok: true, invoice: await api.createInvoice(parsed.body) };
    } catch (err) {
      answer = { ok: false, error: failure(err) };
    }
    setPurchase(created(answer, Date.now()));
  };
  const again = () => setPurchase({ phase: "form" });

  return (
    <div class="buy" data-testid="buy-credits">
      <h3 class="sub-head">Buy credits</h3>
      {purchase.phase === "off" && (
        <>
          <p class="banner banner-warn" role="status" data-testid="buy-off">
            This server cannot sell credits: it has no Lightning wallet set up.
          </p>
          <p class="muted small">Server: {purchase.message}</p>
        </>
      )}
      {(purchase.phase === "form" || purchase.phase === "creating") && (
        <form class="buy-form" onSubmit={submit} noValidate data-testid="buy-form">
          <Field
            label="Amount ($)"
            id="buy-amount"
            error={amountError ?? (purchase.phase === "form" ? purchase.fieldError : undefined)}
            hint={
              preview.ok
                ? `${creditsLabel(preview.credits, perUsd)}, paid with Lightning.`
                : "Paid with Lightning, from $0.01 to $1,000."
            }
          >
            <input
              id="buy-amount"
              type="text"
              inputMode="decimal"
              placeholder="5.00"
              value={amount}
              onInput={(e) => {
                // A new amount: the old one's error no longer applies, the hint shows what it buys.
                setAmount(e.currentTarget.value);
                setAmountError(undefined);
                if (purchase.phase === "form" && purchase.fieldError) setPurchase({ phase: "form" });
              }}
            />
          </Field>
          {purchase.phase === "form" && purchase.error && (
            <p class="banner banner-bad" role="alert">
              Could not make an invoice: {purchase.error}
            </p>
          )}
          <div class="form-actions">
            <button class="button" type="submit" disabled={purchase.phase === "creating"}>
              {purchase.phase === "creating" ? "Making the invoice…" : "Buy with Lightning"}
            </button>
          </div>
        </form>
      )}
      {purchase.phase === "pending" && (
        <div class="invoice" data-testid="invoice">
          <p>
            Pay <strong>{formatSats(purchase.invoice.amountMsats)}</strong> for{" "}
            {creditsLabel(purchase.invoice.credits, perUsd)}
            {purchase.invoice.expiresAt && `, before ${formatClock(purchase.invoice.expiresAt)}`}.
          </p>
          <div class="secret-row">
            <code class="secret" data-testid="bolt11">
              {purchase.invoice.bolt11}
            </code>
            <CopyButton text={purchase.invoice.bolt11} label="Copy invoice" />
          </div>
          <div class="form-actions">
            <span
              class={`small ${purchase.problem ? "del" : "muted"}`}
              role="status"
              data-testid="invoice-state"
            >
              {purchase.problem
                ? `Could not check the payment (${purchase.problem}); trying again.`
                : "Waiting for the payment…"}
            </span>
            <button class="button" type="button" onClick={again}>
              Cancel
            </button>
            <a class="button primary" href={`lightning:${purchase.invoice.bolt11}`}>
              Open in wallet
            </a>
          </div>
        </div>
      )}
      {purchase.phase === "settled" && (
        <div class="invoice-end">
          <p class="banner banner-good" role="status" data-testid="buy-done">
            Paid: credited {creditsLabel(purchase.invoice.credits, perUsd)}.
          </p>
          <button class="button" type="button" onClick={again}>
            Buy more
          </button>
        </div>
      )}
      {purchase.phase === "expired" && (
        <div class="invoice-end">
          <p class="banner banner-warn" role="status" data-testid="buy-expired">
            The invoice expired unpaid; nothing was credited or charged.
          </p>
          <button class="button" type="button" onClick={again}>
            New invoice
          </button>
        </div>
      )}
      {purchase.phase === "lost" && (
        <div class="invoice-end">
          <p class="banner banner-bad" role="alert">
            The server no longer knows this invoice ({purchase.message}).
          </p>
          <button class="button" type="button" onClick={again}>
            Start over
          </button>
        </div>
      )}
    </div>
  );
}
