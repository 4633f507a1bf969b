import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import * as nip04 from "nostr-tools/nip04";
import * as nip44 from "nostr-tools/nip44";

/** The two payload encryptions NIP-90 and NIP-47 use: NIP-04 (deprecated, still the NIP-90 text) and NIP-44 v2. */
export type EncryptionScheme = "nip04" | "nip44";

const NIP04_PAYLOAD = /^[A-Za-z0-9+/]+={0,2}\?iv=[A-Za-z0-9+/]{22}==$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** NIP-44 v2 bounds on the base64 payload length (version + nonce + 32..65536 padded bytes + mac). */
const NIP44_MIN = 132;
const NIP44_MAX = 87472;

/**
 * Tells which scheme produced a payload from its format alone, so a peer can answer in the scheme
 * the other side used: NIP-04 is `base64?iv=base64`, NIP-44 v2 is one base64 blob whose first byte is 2.
 *
 * @example
 * detectScheme(event.content) // "nip44" | "nip04" | null
 */
export function detectScheme(payload: string): EncryptionScheme | null {
  if (NIP04_PAYLOAD.test(payload)) return "nip04";
  if (payload.length < NIP44_MIN || payload.length > NIP44_MAX || !BASE64.test(payload)) return null;
  // The first base64 character carries the top six bits of the version byte; 0x02 → "A".
  if (payload[0] !== "A") return null;
  return Buffer.from(payload.slice(0, 4), "base64")[0] === 2 ? "nip44" : null;
}

/**
 * Encrypts `plaintext` from the holder of `secretKey` to `pubkey`.
 *
 * @example
 * const payload = encryptFor("nip44", mySecret, theirPubkey, JSON.stringify(tags));
 */
export function encryptFor(
  scheme: EncryptionScheme,
  secretKey: Uint8Array,
  pubkey: string,
  plaintext: string,
): string {
  if (scheme === "nip44") return nip44.encrypt(plaintext, nip44.getConversationKey(secretKey, pubkey));
  return nip04.encrypt(secretKey, pubkey, plaintext);
}

/**
 * Decrypts a payload between `secretKey` and `pubkey`, detecting the scheme from the payload. Never
 * throws: a bad MAC, bad padding or an unknown format is an `invalid_request` error.
 *
 * @example
 * const r = decryptFrom(mySecret, theirPubkey, event.content);
 * if (r.ok) console.log(r.value.scheme, r.value.plaintext);
 */
export function decryptFrom(
  secretKey: Uint8Array,
  pubkey: string,
  payload: string,
): Result<{ scheme: EncryptionScheme; plaintext: string }> {
  const scheme = detectScheme(payload);
  if (scheme === null) {
    return err(ErrorCode.InvalidRequest, "content is neither a NIP-04 nor a NIP-44 v2 payload", "content");
  }
  try {
    const plaintext =
      scheme === "nip44"
        ? nip44.decrypt(payload, nip44.getConversationKey(secretKey, pubkey))
        : nip04.decrypt(secretKey, pubkey, payload);
    return ok({ scheme, plaintext });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return err(ErrorCode.InvalidRequest, `${scheme} payload does not decrypt: ${why}`, "content");
  }
}
