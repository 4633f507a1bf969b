import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import * as nip04 from "nostr-tools/nip04";
import * as nip44 from "nostr-tools/nip44";
import { finalizeEvent, getPublicKey, type VerifiedEvent, verifyEvent } from "nostr-tools/pure";
import { hexToBytes } from "nostr-tools/utils";

/*
 * A one-shot NIP-47 (Nostr Wallet Connect) client for the Worker. `@openagents/nostr`'s NwcClient does
 * run in workerd, but its long-lived RelayPool is written against Node's WebSocket typings
 * (`onopen`, Node timers) and reconnects in the background, which a Worker request must not outlive.
 * Here each call opens one WebSocket (the Worker's client), subscribes, publishes, reads one answer
 * and closes — everything inside the request that needs it.
 */

const INFO_KIND = 13194;
const REQUEST_KIND = 23194;
const RESPONSE_KIND = 23195;

export interface NwcUri {
  walletPubkey: string;
  relays: string[];
  secret: Uint8Array;
}

/**
 * Parses `nostr+walletconnect://<wallet pubkey>?relay=…&secret=<hex>`. Never throws.
 *
 * @example
 * const uri = parseNwcUri(env.PLATFORM_NWC_URI ?? "");
 */
export function parseNwcUri(text: string): Result<NwcUri> {
  const m = /^nostr\+walletconnect:(?:\/\/)?([0-9a-f]{64})\?(.*)$/i.exec(text.trim());
  if (!m)
    return err(ErrorCode.Internal, "NWC URI must be nostr+walletconnect://<64-hex pubkey>?relay=…&secret=…");
  const q = new URLSearchParams(m[2]);
  const relays = q.getAll("relay").filter((r) => /^wss?:\/\//.test(r));
  const secret = (q.get("secret") ?? "").toLowerCase();
  if (relays.length === 0) return err(ErrorCode.Internal, "NWC URI names no ws(s):// relay");
  if (!/^[0-9a-f]{64}$/.test(secret))
    return err(ErrorCode.Internal, "NWC URI secret must be 64 hex characters");
  return ok({ walletPubkey: m[1]!.toLowerCase(), relays, secret: hexToBytes(secret) });
}

/** An invoice as `make_invoice` / `lookup_invoice` answer it (the fields this platform reads). */
export interface WalletInvoice {
  invoice: string | null;
  paymentHash: string;
  amountMsats: number;
  expiresAt: number | null;
  settledAt: number | null;
  paid: boolean;
}

export function toWalletInvoice(r: Record<string, unknown>): Result<WalletInvoice> {
  if (typeof r.payment_hash !== "string" || !/^[0-9a-f]{64}$/i.test(r.payment_hash))
    return err(ErrorCode.Internal, "wallet invoice has no payment_hash");
  const num = (v: unknown) => (Number.isSafeInteger(v) ? (v as number) : null);
  return ok({
    invoice: typeof r.invoice === "string" ? r.invoice : null,
    paymentHash: r.payment_hash.toLowerCase(),
    amountMsats: num(r.amount) ?? 0,
    expiresAt: num(r.expires_at),
    settledAt: num(r.settled_at),
    paid: num(r.settled_at) !== null || r.state === "settled",
  });
}

type Scheme = "nip44" | "nip04";

/**
 * Sends one NIP-47 request to the wallet over its first reachable relay and returns the result, or
 * the wallet's error (`NOT_FOUND: …` keeps its NIP-47 code; NOT_FOUND becomes `not_found`).
 *
 * @example
 * const r = await nwcRequest(uri, "lookup_invoice", { payment_hash: hash });
 */
export async function nwcRequest(
  uri: NwcUri,
  method: string,
  params: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<Result<Record<string, unknown>>> {
  let last = "no relay";
  for (const relay of uri.relays) {
    const r = await requestVia(relay, uri, method, params, timeoutMs);
    if (r.ok || r.error.code !== ErrorCode.Timeout || !r.error.message.startsWith("relay ")) return r;
    last = r.error.message;
  }
  return err(ErrorCode.Timeout, `wallet unreachable: ${last}`);
}

function requestVia(
  relay: string,
  uri: NwcUri,
  method: string,
  params: Record<string, unknown>,
  timeoutMs: number,
): Promise<Result<Record<string, unknown>>> {
  const clientPubkey = getPublicKey(uri.secret);
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(relay);
    } catch (e) {
      resolve(err(ErrorCode.Timeout, `relay ${relay}: ${(e as Error).message}`));
      return;
    }
    let done = false;
    let scheme: Scheme = "nip04";
    let requestId = "";
    const finish = (r: Result<Record<string, unknown>>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        finish(
          err(
            ErrorCode.Timeout,
            requestId ? `wallet did not answer ${method}` : `relay ${relay}: no connection`,
          ),
        ),
      timeoutMs,
    );
    const send = (msg: unknown[]) => ws.send(JSON.stringify(msg));
    ws.addEventListener("open", () => {
      // The wallet's info event says whether it speaks NIP-44; without it, NIP-04 (NIP-47's rule).
      send(["REQ", "info", { kinds: [INFO_KIND], authors: [uri.walletPubkey], limit: 1 }]);
    });
    ws.addEventListener("error", () => finish(err(ErrorCode.Timeout, `relay ${relay}: connection failed`)));
    ws.addEventListener("close", () => finish(err(ErrorCode.Timeout, `relay ${relay}: closed`)));
    ws.addEventListener("message", (m) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (!Array.isArray(msg)) return;
      const [type, sub, ev] = msg as [unknown, unknown, unknown];
      if (type === "EVENT" && sub === "info" && isEvent(ev, INFO_KIND, uri.walletPubkey)) {
        const enc = ev.tags.find((t) => t[0] === "encryption")?.[1] ?? "";
        if (enc.split(/\s+/).includes("nip44_v2")) scheme = "nip44";
      } else if (type === "EOSE" && sub === "info") {
        send(["CLOSE", "info"]);
        const tags = [["p", uri.walletPubkey]];
        if (scheme === "nip44") tags.push(["encryption", "nip44_v2"]);
        const plaintext = JSON.stringify({ method, params });
        const content =
          scheme === "nip44"
            ? nip44.encrypt(plaintext, nip44.getConversationKey(uri.secret, uri.walletPubkey))
            : nip04.encrypt(uri.secret, uri.walletPubkey, plaintext);
        const req = finalizeEvent(
          { kind: REQUEST_KIND, tags, content, created_at: Math.floor(Date.now() / 1000) },
          uri.secret,
        );
        requestId = req.id;
        // Subscribe before publishing, so a fast wallet cannot answer unseen.
        send(["REQ", "answer", { kinds: [RESPONSE_KIND], authors: [uri.walletPubkey], "#e": [req.id] }]);
        send(["EVENT", req]);
      } else if (type === "OK" && sub === requestId && msg[2] === false) {
        finish(err(ErrorCode.Internal, `relay refused the ${method} request: ${String(msg[3] ?? "")}`));
      } else if (type === "EVENT" && sub === "answer" && isEvent(ev, RESPONSE_KIND, uri.walletPubkey)) {
        if (!ev.tags.some((t) => t[0] === "e" && t[1] === requestId)) return;
        if (!ev.tags.some((t) => t[0] === "p" && t[1] === clientPubkey)) return;
        const r = readAnswer(ev.content, scheme, uri, method);
        if (r) finish(r);
      }
    });
  });
}

function isEvent(ev: unknown, kind: number, author: string): ev is VerifiedEvent {
  if (typeof ev !== "object" || ev === null) return false;
  const e = ev as VerifiedEvent;
  return e.kind === kind && e.pubkey === author && Array.isArray(e.tags) && verifyEvent(e);
}

function readAnswer(
  content: string,
  scheme: Scheme,
  uri: NwcUri,
  method: string,
): Result<Record<string, unknown>> | undefined {
  let body: { result_type?: unknown; error?: { code?: unknown; message?: unknown } | null; result?: unknown };
  try {
    const plaintext =
      scheme === "nip44"
        ? nip44.decrypt(content, nip44.getConversationKey(uri.secret, uri.walletPubkey))
        : nip04.decrypt(uri.secret, uri.walletPubkey, content);
    body = JSON.parse(plaintext);
  } catch {
    return undefined; // not for us, or garbled: keep waiting
  }
  if (body.result_type !== method) return undefined;
  if (body.error) {
    const code = String(body.error.code ?? "OTHER");
    const message = `${code}: ${String(body.error.message ?? "wallet error")}`;
    return err(code === "NOT_FOUND" ? ErrorCode.NotFound : ErrorCode.Internal, message);
  }
  if (typeof body.result !== "object" || body.result === null)
    return err(ErrorCode.Internal, `${method}: empty result`);
  return ok(body.result as Record<string, unknown>);
}
