import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import type { KeysCreditsEnv } from "./keys-credits-env.ts";
import { ensureKeysCreditsSchema } from "./keys-credits-schema.ts";
import { CREDITS_PER_USD, Ledger } from "./ledger.ts";
import { type NwcUri, nwcRequest, parseNwcUri, toWalletInvoice, type WalletInvoice } from "./nwc.ts";

/** Default invoice lifetime (seconds), also what the wallet is asked for. */
export const INVOICE_EXPIRY_SEC = 3600;
/** The smallest and largest purchase, in credits ($0.01 … $1000). */
export const MIN_PURCHASE = CREDITS_PER_USD / 100;
export const MAX_PURCHASE = 1000 * CREDITS_PER_USD;

export type InvoiceStatus = "pending" | "settled" | "expired";

export interface CreditInvoice {
  /** The payment hash (hex): what the wallet and the ledger (`ref`) know the invoice by. */
  invoiceId: string;
  bolt11: string;
  amountMsats: number;
  credits: number;
  status: InvoiceStatus;
  created: string;
  expiresAt: string;
  settledAt: string | null;
}

/**
 * Millisatoshis for a number of credits at `satsPerUsd`, rounded up to a whole millisatoshi so a
 * purchase never costs less than its credits are worth.
 *
 * @example
 * msatsFor(1_000_000, 1000) // $1 at 1000 sats/$ → 1_000_000 msats
 */
export function msatsFor(credits: number, satsPerUsd: number): number {
  return Math.ceil((credits * satsPerUsd * 1000) / CREDITS_PER_USD);
}

/** The `SATS_PER_USD` var: a positive number of satoshis per US dollar. */
export function satsPerUsd(env: KeysCreditsEnv): Result<number> {
  const raw = env.SATS_PER_USD?.trim();
  const n = Number(raw);
  if (!raw || !Number.isFinite(n) || n <= 0)
    return err(
      ErrorCode.NotConfigured,
      "SATS_PER_USD is not set to a positive number: Lightning purchases are off",
    );
  return ok(n);
}

interface InvoiceRow {
  payment_hash: string;
  user_id: string;
  amount_msats: number;
  credits: number;
  bolt11: string;
  state: string;
  created: string;
  settled: string | null;
}

/** Expiry is not a column of `invoices` (0003): it is `created` plus the lifetime kept in `state`. */
const EXPIRY_STATE = /^pending:(\d+)$/;

function toInvoice(row: InvoiceRow): CreditInvoice {
  const createdMs = Date.parse(row.created);
  const expirySec = Number(EXPIRY_STATE.exec(row.state)?.[1] ?? INVOICE_EXPIRY_SEC);
  const status: InvoiceStatus =
    row.state === "settled" ? "settled" : row.state === "expired" ? "expired" : "pending";
  return {
    invoiceId: row.payment_hash,
    bolt11: row.bolt11,
    amountMsats: row.amount_msats,
    credits: row.credits,
    status,
    created: row.created,
    expiresAt: new Date(createdMs + expirySec * 1000).toISOString(),
    settledAt: row.settled,
  };
}

/**
 * Buying credits with Lightning through the platform's NIP-47 wallet (`PLATFORM_NWC_URI`): an invoice
 * from `make_invoice`, then `lookup_invoice` whenever the user asks, crediting a settled invoice
 * exactly once — the ledger entry's `ref` is `ln:<payment hash>`, unique per user, so duplicate and
 * concurrent checks add nothing more.
 *
 * @example
 * const ln = new LightningCredits(env);
 * const inv = await ln.create(user.id, { credits: 5_000_000 });
 * const now = await ln.check(user.id, inv.value.invoiceId); // status "settled" once paid
 */
export class LightningCredits {
  readonly #env: KeysCreditsEnv & { DB: D1Database };

  constructor(env: KeysCreditsEnv & { DB: D1Database }) {
    this.#env = env;
  }

  /** Whether this server sells credits at all (a wallet and a rate are configured). */
  static configured(env: KeysCreditsEnv): boolean {
    return Boolean(env.PLATFORM_NWC_URI?.trim()) && satsPerUsd(env).ok;
  }

  /** The platform wallet's connection (a secret binding), or why Lightning is off. */
  #wallet(): Result<NwcUri> {
    const uri = this.#env.PLATFORM_NWC_URI;
    if (!uri) return err(ErrorCode.NotConfigured, "PLATFORM_NWC_URI is not set: Lightning purchases are off");
    const conn = parseNwcUri(uri);
    if (!conn.ok) return err(ErrorCode.Internal, `PLATFORM_NWC_URI is invalid: ${conn.error.message}`);
    return conn;
  }

  /** One NIP-47 call that answers an invoice (make_invoice, lookup_invoice). */
  async #invoiceCall(
    uri: NwcUri,
    method: string,
    params: Record<string, unknown>,
  ): Promise<Result<WalletInvoice>> {
    const r = await nwcRequest(uri, method, params);
    return r.ok ? toWalletInvoice(r.value) : r;
  }

  async create(userId: string, p: { credits: number; expirySec?: number }): Promise<Result<CreditInvoice>> {
    const rate = satsPerUsd(this.#env);
    if (!rate.ok) return rate;
    const expirySec = p.expirySec ?? INVOICE_EXPIRY_SEC;
    const amountMsats = msatsFor(p.credits, rate.value);
    const wallet = this.#wallet();
    if (!wallet.ok) return wallet;
    const made = await this.#invoiceCall(wallet.value, "make_invoice", {
      amount: amountMsats,
      description: `OpenAgents Compute: ${p.credits} credits`,
      expiry: expirySec,
    });
    if (!made.ok)
      return err(
        made.error.code === ErrorCode.Timeout ? ErrorCode.Timeout : ErrorCode.Internal,
        `wallet: ${made.error.message}`,
      );
    if (!made.value.invoice)
      return err(ErrorCode.Internal, "wallet answered make_invoice without an invoice");
    const row: InvoiceRow = {
      payment_hash: made.value.paymentHash,
      user_id: userId,
      amount_msats: amountMsats,
      credits: p.credits,
      bolt11: made.value.invoice,
      state: `pending:${expirySec}`,
      created: new Date().toISOString(),
      settled: null,
    };
    await ensureKeysCreditsSchema(this.#env.DB);
    await this.#env.DB.prepare(
      "INSERT INTO invoices (payment_hash, user_id, amount_msats, credits, bolt11, state, created, settled) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    )
      .bind(row.payment_hash, userId, amountMsats, p.credits, row.bolt11, row.state, row.created)
      .run();
    return ok(toInvoice(row));
  }

  /**
   * The invoice's status, asking the wallet while it is pending; credits the user once when settled.
   * Another user's (or an unknown) invoice id is `not_found`.
   */
  async check(userId: string, invoiceId: string): Promise<Result<CreditInvoice>> {
    await ensureKeysCreditsSchema(this.#env.DB);
    const row = await this.#env.DB.prepare("SELECT * FROM invoices WHERE payment_hash = ? AND user_id = ?")
      .bind(invoiceId.toLowerCase(), userId)
      .first<InvoiceRow>();
    if (!row) return err(ErrorCode.NotFound, `no invoice ${invoiceId}`);
    const current = toInvoice(row);
    if (current.status !== "pending") return ok(current);

    const wallet = this.#wallet();
    if (!wallet.ok) return wallet;
    const looked = await this.#invoiceCall(wallet.value, "lookup_invoice", {
      payment_hash: row.payment_hash,
    });
    const now = new Date().toISOString();
    if (looked.ok && looked.value.paid) {
      // The ledger's unique (user, ref) makes this the one credit, however many checks race here.
      const added = await new Ledger(this.#env.DB).add(userId, "purchase", row.credits, {
        ref: `ln:${row.payment_hash}`,
        note: `Lightning purchase (${row.amount_msats} msats)`,
      });
      if (!added.ok) return added;
      const settled = looked.value.settledAt ? new Date(looked.value.settledAt * 1000).toISOString() : now;
      await this.#env.DB.prepare(
        "UPDATE invoices SET state = 'settled', settled = ? WHERE payment_hash = ? AND state LIKE 'pending%'",
      )
        .bind(settled, row.payment_hash)
        .run();
      return ok({ ...current, status: "settled", settledAt: settled });
    }
    // Lightning cannot settle an invoice past its expiry, so an unpaid one past it is final.
    if (Date.parse(current.expiresAt) <= Date.now()) {
      if (!looked.ok && looked.error.code !== ErrorCode.NotFound) {
        // The wallet did not answer: it might yet say "settled" (paid just before expiry), so stay pending.
        return err(ErrorCode.Timeout, `wallet: ${looked.error.message}`);
      }
      await this.#env.DB.prepare(
        "UPDATE invoices SET state = 'expired' WHERE payment_hash = ? AND state LIKE 'pending%'",
      )
        .bind(row.payment_hash)
        .run();
      return ok({ ...current, status: "expired" });
    }
    if (!looked.ok)
      return err(
        looked.error.code === ErrorCode.Timeout ? ErrorCode.Timeout : ErrorCode.Internal,
        `wallet: ${looked.error.message}`,
      );
    return ok(current);
  }
}
