/**
 * A NIP-47 wallet *service* test double. Lightning cannot exist on this machine, so the ledger is
 * in memory — but everything between client and wallet is the real protocol over a real relay:
 * the 13194 info event, kind 23194 requests and 23195 responses, NIP-44 or NIP-04 payloads.
 * Invoices are bolt11-shaped (`lnbcrt<amount>p1…`), payment hashes are sha256 of a real preimage.
 */
import { createHash, randomBytes } from "node:crypto";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { bytesToHex } from "nostr-tools/utils";
import {
  bolt11AmountMsats,
  decryptFrom,
  encryptFor,
  type NostrEvent,
  NWC_INFO_KIND,
  NWC_REQUEST_KIND,
  NWC_RESPONSE_KIND,
  nowSec,
  RelayPool,
} from "../src/index.ts";

interface Invoice {
  invoice: string;
  payment_hash: string;
  preimage: string;
  amount: number;
  description: string;
  created_at: number;
  expires_at: number;
  settled_at?: number;
  type: "incoming" | "outgoing";
}

export interface WalletDoubleOptions {
  relays: string[];
  /** The `encryption` tag of the info event; `null` omits it (a NIP-04-only wallet). */
  encryption?: string | null;
  balanceMsats?: number;
}

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

function bolt11Shaped(msats: number): string {
  const data = Array.from(randomBytes(180), (b) => BECH32[b % 32]).join("");
  return `lnbcrt${msats * 10}p1${data}`;
}

export class NwcWalletDouble {
  readonly walletSecret = generateSecretKey();
  readonly walletPubkey = getPublicKey(this.walletSecret);
  readonly clientSecret = generateSecretKey();
  balanceMsats: number;
  readonly invoices = new Map<string, Invoice>();
  /** Every request seen, with the scheme it used (tests assert on the fallback). */
  readonly seen: Array<{ method: string; scheme: string }> = [];
  private readonly pool: RelayPool;
  private readonly opts: WalletDoubleOptions;

  private constructor(opts: WalletDoubleOptions) {
    this.opts = opts;
    this.balanceMsats = opts.balanceMsats ?? 0;
    this.pool = new RelayPool(opts.relays);
  }

  static async start(opts: WalletDoubleOptions): Promise<NwcWalletDouble> {
    const w = new NwcWalletDouble(opts);
    await w.pool.ready(opts.relays.length);
    const tags = opts.encryption === null ? [] : [["encryption", opts.encryption ?? "nip44_v2 nip04"]];
    const info = finalizeEvent(
      {
        kind: NWC_INFO_KIND,
        tags,
        content: "make_invoice lookup_invoice pay_invoice get_balance",
        created_at: nowSec(),
      },
      w.walletSecret,
    );
    await w.pool.publish(info);
    await new Promise<void>((ready) => {
      w.pool.subscribe([{ kinds: [NWC_REQUEST_KIND], "#p": [w.walletPubkey], since: nowSec() - 5 }], {
        onevent: (ev) => void w.answer(ev),
        oneose: ready,
      });
    });
    return w;
  }

  get uri(): string {
    const relays = this.opts.relays.map((r) => `relay=${encodeURIComponent(r)}`).join("&");
    return `nostr+walletconnect://${this.walletPubkey}?${relays}&secret=${bytesToHex(this.clientSecret)}`;
  }

  /** Marks an issued invoice paid, as if a payer's HTLC had settled. */
  settle(paymentHash: string): void {
    const inv = this.invoices.get(paymentHash);
    if (!inv) throw new Error(`no invoice ${paymentHash}`);
    if (inv.settled_at) return;
    inv.settled_at = nowSec();
    this.balanceMsats += inv.amount;
  }

  close(): void {
    this.pool.close();
  }

  private async answer(req: NostrEvent): Promise<void> {
    const opened = decryptFrom(this.walletSecret, req.pubkey, req.content);
    if (!opened.ok) return;
    const { scheme, plaintext } = opened.value;
    const { method, params } = JSON.parse(plaintext) as { method: string; params: Record<string, unknown> };
    this.seen.push({ method, scheme });
    const tagged = req.tags.find((t) => t[0] === "encryption")?.[1] === "nip44_v2";
    let body: { result_type: string; result?: unknown; error?: { code: string; message: string } };
    if (tagged !== (scheme === "nip44")) {
      body = {
        result_type: method,
        error: { code: "UNSUPPORTED_ENCRYPTION", message: "tag and payload disagree" },
      };
    } else if (req.pubkey !== getPublicKey(this.clientSecret)) {
      body = { result_type: method, error: { code: "UNAUTHORIZED", message: "unknown client" } };
    } else {
      body = { result_type: method, ...this.run(method, params) };
    }
    const content = encryptFor(scheme, this.walletSecret, req.pubkey, JSON.stringify(body));
    const tags = [
      ["p", req.pubkey],
      ["e", req.id],
    ];
    const res = finalizeEvent(
      { kind: NWC_RESPONSE_KIND, tags, content, created_at: nowSec() },
      this.walletSecret,
    );
    await this.pool.publish(res);
  }

  private run(
    method: string,
    p: Record<string, unknown>,
  ): { result?: unknown; error?: { code: string; message: string } } {
    const fail = (code: string, message: string) => ({ error: { code, message } });
    switch (method) {
      case "get_balance":
        return { result: { balance: this.balanceMsats } };
      case "make_invoice": {
        if (!Number.isSafeInteger(p.amount) || (p.amount as number) <= 0)
          return fail("OTHER", "amount must be positive msats");
        const preimage = randomBytes(32);
        const inv: Invoice = {
          type: "incoming",
          invoice: bolt11Shaped(p.amount as number),
          payment_hash: createHash("sha256").update(preimage).digest("hex"),
          preimage: preimage.toString("hex"),
          amount: p.amount as number,
          description: typeof p.description === "string" ? p.description : "",
          created_at: nowSec(),
          expires_at: nowSec() + (Number.isSafeInteger(p.expiry) ? (p.expiry as number) : 3600),
        };
        this.invoices.set(inv.payment_hash, inv);
        const { preimage: _secret, ...shown } = inv;
        return { result: shown };
      }
      case "lookup_invoice": {
        const inv = [...this.invoices.values()].find(
          (i) => i.payment_hash === p.payment_hash || i.invoice === p.invoice,
        );
        if (!inv) return fail("NOT_FOUND", "no such invoice");
        const { preimage, ...shown } = inv;
        return {
          result: {
            ...shown,
            state: inv.settled_at ? "settled" : "pending",
            ...(inv.settled_at ? { preimage } : {}),
          },
        };
      }
      case "pay_invoice": {
        const invoice = String(p.invoice ?? "");
        const amount =
          bolt11AmountMsats(invoice) ?? (Number.isSafeInteger(p.amount) ? (p.amount as number) : undefined);
        if (amount === undefined) return fail("OTHER", "invoice has no amount and none was given");
        if (amount > this.balanceMsats)
          return fail("INSUFFICIENT_BALANCE", `balance ${this.balanceMsats} < ${amount}`);
        this.balanceMsats -= amount;
        // Paying one of our own invoices settles it: the double is both sides of the channel.
        const own = [...this.invoices.values()].find((i) => i.invoice === invoice);
        if (own) this.settle(own.payment_hash);
        const preimage = own?.preimage ?? randomBytes(32).toString("hex");
        return { result: { preimage, fees_paid: 0 } };
      }
      default:
        return fail("NOT_IMPLEMENTED", `${method} is not supported`);
    }
  }
}
