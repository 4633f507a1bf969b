/**
 * NIP-47 Nostr Wallet Connect client: `make_invoice`, `lookup_invoice`, `pay_invoice`, `get_balance`.
 * Requests are kind 23194, responses 23195 (both ephemeral). The wallet's info event (13194) says
 * which encryptions it speaks; NIP-44 is used when it lists `nip44_v2`, NIP-04 otherwise.
 */
import {
  type AppError,
  ErrorCode,
  type ErrorCode as ErrorCodeT,
  err,
  ok,
  type Result,
} from "@openagents/protocol";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";
import { hexToBytes } from "nostr-tools/utils";
import { decryptFrom, type EncryptionScheme, encryptFor } from "./encryption.ts";
import { checkSignedEvent, invalid, isHex64, isRelayUrl, type NostrEvent, nowSec } from "./event.ts";
import { RelayPool } from "./relay-pool.ts";

export const NWC_INFO_KIND = 13194;
export const NWC_REQUEST_KIND = 23194;
export const NWC_RESPONSE_KIND = 23195;

export interface NwcConnection {
  walletPubkey: string;
  relays: string[];
  /** The client's secret key (hex in the URI); it signs requests and is never sent anywhere. */
  secret: Uint8Array;
  lud16?: string;
}

/**
 * Parses `nostr+walletconnect://<wallet pubkey>?relay=…&relay=…&secret=<hex>[&lud16=…]`. Never throws.
 *
 * @example
 * const c = parseNwcUri(process.env.NWC_URI ?? "");
 * if (!c.ok) fail(c.error.message);
 */
export function parseNwcUri(uri: string): Result<NwcConnection> {
  const m = /^nostr\+walletconnect:(?:\/\/)?([^?]*)\?(.*)$/i.exec(uri.trim());
  if (!m) return invalid("uri", "NWC URI must look like nostr+walletconnect://<pubkey>?relay=…&secret=…");
  const walletPubkey = m[1]!.toLowerCase();
  if (!isHex64(walletPubkey)) return invalid("uri.pubkey", "wallet pubkey must be 64 hex characters");
  const q = new URLSearchParams(m[2]);
  const relays = q.getAll("relay");
  if (relays.length === 0) return invalid("uri.relay", "NWC URI must name at least one relay");
  for (const r of relays)
    if (!isRelayUrl(r)) return invalid("uri.relay", `relay ${JSON.stringify(r)} is not a ws(s):// URL`);
  const secret = (q.get("secret") ?? "").toLowerCase();
  if (!isHex64(secret)) return invalid("uri.secret", "secret must be 64 hex characters");
  const conn: NwcConnection = { walletPubkey, relays, secret: hexToBytes(secret) };
  const lud16 = q.get("lud16");
  if (lud16) conn.lud16 = lud16;
  return ok(conn);
}

/** Reads the wallet's info event: its methods, and whether it speaks NIP-44 (`nip44_v2`). */
export function parseWalletInfo(
  value: unknown,
): Result<{ methods: string[]; encryption: EncryptionScheme[] }> {
  const checked = checkSignedEvent(value);
  if (!checked.ok) return checked;
  if (checked.value.kind !== NWC_INFO_KIND) return invalid("kind", "not an NWC info event (13194)");
  const methods = checked.value.content.split(/\s+/).filter(Boolean);
  const tag = checked.value.tags.find((t) => t[0] === "encryption")?.[1];
  // No encryption tag means a wallet from before NIP-44 support: NIP-04 only (NIP-47 says so).
  const names = tag ? tag.split(/\s+/) : ["nip04"];
  const encryption: EncryptionScheme[] = [];
  if (names.includes("nip44_v2")) encryption.push("nip44");
  if (names.includes("nip04")) encryption.push("nip04");
  return ok({ methods, encryption });
}

/** An invoice as `make_invoice` / `lookup_invoice` describe it. */
export interface NwcInvoice {
  type: "incoming" | "outgoing";
  invoice?: string;
  paymentHash: string;
  amountMsats: number;
  description?: string;
  createdAt?: number;
  expiresAt?: number;
  settledAt?: number;
  preimage?: string;
  state?: string;
  /** True once settled (`settled_at` set, or state `settled`). */
  paid: boolean;
}

/** Wallet error codes (NIP-47) and the error code each becomes when it crosses our wire. */
const WALLET_ERRORS: Record<string, ErrorCodeT> = {
  RATE_LIMITED: ErrorCode.RateLimited,
  INSUFFICIENT_BALANCE: ErrorCode.InsufficientCredits,
  QUOTA_EXCEEDED: ErrorCode.InsufficientCredits,
  RESTRICTED: ErrorCode.Forbidden,
  UNAUTHORIZED: ErrorCode.Unauthorized,
  NOT_FOUND: ErrorCode.NotFound,
  NOT_IMPLEMENTED: ErrorCode.InvalidRequest,
  UNSUPPORTED_ENCRYPTION: ErrorCode.InvalidRequest,
};

export interface NwcClientOptions {
  /** Reuse a pool (it must include the wallet's relays); by default the client opens its own. */
  pool?: RelayPool;
  timeoutMs?: number;
}

/**
 * A NIP-47 client. Every method returns a `Result`; wallet errors keep their NIP-47 code in the
 * message (`INSUFFICIENT_BALANCE: …`).
 *
 * @example
 * const wallet = new NwcClient(parseNwcUri(uri).value);
 * const inv = await wallet.makeInvoice({ amountMsats: 21_000, description: "job 5932" });
 * const state = await wallet.lookupInvoice({ paymentHash: inv.value.paymentHash });
 * wallet.close();
 */
export class NwcClient {
  readonly connection: NwcConnection;
  readonly clientPubkey: string;
  private readonly pool: RelayPool;
  private readonly ownPool: boolean;
  private readonly timeoutMs: number;
  private scheme: Promise<EncryptionScheme> | undefined;

  constructor(connection: NwcConnection, opts: NwcClientOptions = {}) {
    this.connection = connection;
    this.clientPubkey = getPublicKey(connection.secret);
    this.pool = opts.pool ?? new RelayPool(connection.relays);
    this.ownPool = !opts.pool;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /** The encryption to use: NIP-44 when the wallet's info event lists `nip44_v2`, NIP-04 otherwise. */
  encryption(): Promise<EncryptionScheme> {
    this.scheme ??= this.pool
      .query(
        [{ kinds: [NWC_INFO_KIND], authors: [this.connection.walletPubkey] }],
        Math.min(this.timeoutMs, 5_000),
      )
      .then((events) => {
        const newest = events.sort((a, b) => b.created_at - a.created_at)[0];
        const info = newest ? parseWalletInfo(newest) : undefined;
        return info?.ok && info.value.encryption.includes("nip44") ? "nip44" : "nip04";
      });
    return this.scheme;
  }

  async makeInvoice(p: {
    amountMsats: number;
    description?: string;
    expirySec?: number;
  }): Promise<Result<NwcInvoice>> {
    const params: Record<string, unknown> = { amount: p.amountMsats };
    if (p.description !== undefined) params.description = p.description;
    if (p.expirySec !== undefined) params.expiry = p.expirySec;
    const r = await this.request("make_invoice", params);
    return r.ok ? toInvoice(r.value) : r;
  }

  async lookupInvoice(p: { paymentHash?: string; invoice?: string }): Promise<Result<NwcInvoice>> {
    if (!p.paymentHash && !p.invoice) return invalid("paymentHash", "give a payment hash or an invoice");
    const params = p.paymentHash ? { payment_hash: p.paymentHash } : { invoice: p.invoice };
    const r = await this.request("lookup_invoice", params);
    return r.ok ? toInvoice(r.value) : r;
  }

  async payInvoice(
    invoice: string,
    amountMsats?: number,
  ): Promise<Result<{ preimage: string; feesPaidMsats: number }>> {
    const params: Record<string, unknown> = { invoice };
    if (amountMsats !== undefined) params.amount = amountMsats;
    const r = await this.request("pay_invoice", params);
    if (!r.ok) return r;
    if (typeof r.value.preimage !== "string")
      return err(ErrorCode.Internal, "wallet answered pay_invoice without a preimage");
    return ok({ preimage: r.value.preimage, feesPaidMsats: Number(r.value.fees_paid ?? 0) });
  }

  async getBalance(): Promise<Result<{ balanceMsats: number }>> {
    const r = await this.request("get_balance", {});
    if (!r.ok) return r;
    if (!Number.isSafeInteger(r.value.balance))
      return err(ErrorCode.Internal, "wallet answered get_balance without a balance");
    return ok({ balanceMsats: r.value.balance as number });
  }

  /** Sends one request and waits for the wallet's response bound to it (`e` tag = request id). */
  async request(method: string, params: Record<string, unknown>): Promise<Result<Record<string, unknown>>> {
    const scheme = await this.encryption();
    const { walletPubkey, secret } = this.connection;
    const tags = [
      ["p", walletPubkey],
      ["expiration", String(nowSec() + Math.ceil(this.timeoutMs / 1000))],
    ];
    if (scheme === "nip44") tags.push(["encryption", "nip44_v2"]);
    const content = encryptFor(scheme, secret, walletPubkey, JSON.stringify({ method, params }));
    const req = finalizeEvent({ kind: NWC_REQUEST_KIND, tags, content, created_at: nowSec() }, secret);

    return new Promise((resolve) => {
      let done = false;
      const finish = (r: Result<Record<string, unknown>>) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sub.close();
        resolve(r);
      };
      const timer = setTimeout(
        () => finish(err(ErrorCode.Timeout, `wallet did not answer ${method} within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      const filter = { kinds: [NWC_RESPONSE_KIND], authors: [walletPubkey], "#e": [req.id] };
      const sub = this.pool.subscribe([filter], {
        onevent: (ev) => {
          const r = readResponse(ev, secret, walletPubkey, method);
          if (r) finish(r);
        },
        // Publish only once the relays hold our subscription, so a fast wallet cannot answer unseen.
        oneose: async () => {
          const outcomes = await this.pool.publish(req, { timeoutMs: Math.min(this.timeoutMs, 5_000) });
          if (!outcomes.some((o) => o.ok)) {
            finish(
              err(
                ErrorCode.Internal,
                `no relay accepted the ${method} request: ${outcomes.map((o) => o.message).join("; ")}`,
              ),
            );
          }
        },
      });
    });
  }

  close(): void {
    if (this.ownPool) this.pool.close();
  }
}

/** Decodes a response; `undefined` for events that are not a usable answer (keep waiting). */
function readResponse(
  ev: NostrEvent,
  secret: Uint8Array,
  walletPubkey: string,
  method: string,
): Result<Record<string, unknown>> | undefined {
  const opened = decryptFrom(secret, walletPubkey, ev.content);
  if (!opened.ok) return undefined;
  let body: { result_type?: unknown; error?: { code?: unknown; message?: unknown } | null; result?: unknown };
  try {
    body = JSON.parse(opened.value.plaintext);
  } catch {
    return undefined;
  }
  if (body.result_type !== method) return undefined;
  if (body.error) {
    const code = String(body.error.code ?? "OTHER");
    const error: AppError = {
      code: WALLET_ERRORS[code] ?? ErrorCode.Internal,
      message: `${code}: ${String(body.error.message ?? "wallet error")}`,
    };
    return { ok: false, error };
  }
  if (typeof body.result !== "object" || body.result === null)
    return err(ErrorCode.Internal, `${method}: empty result`);
  return ok(body.result as Record<string, unknown>);
}

function toInvoice(r: Record<string, unknown>): Result<NwcInvoice> {
  if (typeof r.payment_hash !== "string")
    return err(ErrorCode.Internal, "wallet invoice has no payment_hash");
  const num = (v: unknown) => (Number.isSafeInteger(v) ? (v as number) : undefined);
  const inv: NwcInvoice = {
    type: r.type === "outgoing" ? "outgoing" : "incoming",
    paymentHash: r.payment_hash,
    amountMsats: num(r.amount) ?? 0,
    paid: num(r.settled_at) !== undefined || r.state === "settled",
  };
  if (typeof r.invoice === "string") inv.invoice = r.invoice;
  if (typeof r.description === "string") inv.description = r.description;
  if (typeof r.preimage === "string" && r.preimage) inv.preimage = r.preimage;
  if (typeof r.state === "string") inv.state = r.state;
  for (const [from, to] of [
    ["created_at", "createdAt"],
    ["expires_at", "expiresAt"],
    ["settled_at", "settledAt"],
  ] as const) {
    const v = num(r[from]);
    if (v !== undefined) inv[to] = v;
  }
  return ok(inv);
}

const BOLT11_MULTIPLIER: Record<string, number> = { m: 1e8, u: 1e5, n: 100 };

/**
 * The amount a bolt11 invoice asks for, in millisatoshis, read from its human-readable part;
 * `undefined` for an amountless or unreadable invoice. A customer checks it against the job's
 * `amount` tag before paying.
 *
 * @example
 * bolt11AmountMsats("lnbc2500u1p…") // 250_000_000
 */
export function bolt11AmountMsats(invoice: string): number | undefined {
  const m = /^ln(?:bc|tb|bcrt|tbs|sb)(\d+)([munp]?)1[02-9ac-hj-np-z]+$/.exec(invoice.toLowerCase());
  if (!m) return undefined;
  const amount = Number(m[1]);
  // Pico-bitcoin is a tenth of a millisatoshi: only multiples of ten are valid amounts.
  if (m[2] === "p") return amount % 10 === 0 ? amount / 10 : undefined;
  const msats = m[2] ? amount * BOLT11_MULTIPLIER[m[2]]! : amount * 1e11;
  return Number.isSafeInteger(msats) ? msats : undefined;
}
