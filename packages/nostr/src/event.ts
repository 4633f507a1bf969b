import { type AppError, ErrorCode, err, ok, type Result } from "@openagents/protocol";
import type { NostrEvent } from "nostr-tools/core";
import { verifyEvent } from "nostr-tools/pure";

export type { NostrEvent };

/** An unsigned event, as the builders produce it before signing. */
export interface EventTemplate {
  kind: number;
  tags: string[][];
  content: string;
  created_at: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

/** True for a lowercase 32-byte hex string: event ids and x-only public keys. */
export const isHex64 = (value: unknown): value is string => typeof value === "string" && HEX64.test(value);

/** Seconds since the epoch, the unit of `created_at`. */
export const nowSec = (): number => Math.floor(Date.now() / 1000);

/** A parse failure: always `invalid_request`, with the JSON path of the offending field. */
export const invalid = (path: string, message: string): { ok: false; error: AppError } =>
  err(ErrorCode.InvalidRequest, message, path);

/**
 * Checks that `value` has the shape of a Nostr event (NIP-01 field types and formats) without
 * checking the signature. Never throws.
 *
 * @example
 * const shape = checkEventShape(JSON.parse(line));
 * if (!shape.ok) console.error(shape.error.path, shape.error.message);
 */
export function checkEventShape(value: unknown): Result<NostrEvent> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid("", "event must be an object");
  }
  const e = value as Record<string, unknown>;
  if (typeof e.id !== "string" || !HEX64.test(e.id))
    return invalid("id", "id must be 64 lowercase hex characters");
  if (typeof e.pubkey !== "string" || !HEX64.test(e.pubkey)) {
    return invalid("pubkey", "pubkey must be 64 lowercase hex characters");
  }
  if (typeof e.sig !== "string" || !HEX128.test(e.sig)) {
    return invalid("sig", "sig must be 128 lowercase hex characters");
  }
  if (!Number.isSafeInteger(e.created_at) || (e.created_at as number) < 0) {
    return invalid("created_at", "created_at must be a non-negative integer");
  }
  if (!Number.isInteger(e.kind) || (e.kind as number) < 0 || (e.kind as number) > 65535) {
    return invalid("kind", "kind must be an integer between 0 and 65535");
  }
  if (typeof e.content !== "string") return invalid("content", "content must be a string");
  if (!Array.isArray(e.tags)) return invalid("tags", "tags must be an array");
  for (const [i, tag] of e.tags.entries()) {
    if (!Array.isArray(tag) || tag.length === 0)
      return invalid(`tags[${i}]`, "each tag must be a non-empty array");
    for (const [j, item] of tag.entries()) {
      if (typeof item !== "string") return invalid(`tags[${i}][${j}]`, "tag items must be strings");
    }
  }
  return ok({
    id: e.id,
    pubkey: e.pubkey,
    sig: e.sig,
    created_at: e.created_at as number,
    kind: e.kind as number,
    content: e.content,
    tags: (e.tags as string[][]).map((t) => [...t]),
  });
}

/**
 * Checks the shape, the id (hash of the serialised event) and the Schnorr signature. The check runs
 * on a fresh copy because nostr-tools caches a verdict on the object itself, so a verified object
 * whose tags were edited afterwards would otherwise still pass.
 *
 * @example
 * const checked = checkSignedEvent(untrusted);
 * if (checked.ok) handle(checked.value);
 */
export function checkSignedEvent(value: unknown): Result<NostrEvent> {
  const shape = checkEventShape(value);
  if (!shape.ok) return shape;
  if (!verifyEvent({ ...shape.value })) {
    return err(ErrorCode.Forbidden, "event id or signature does not verify", "sig");
  }
  return shape;
}

/** All tags named `name`, with their index in `tags` (for precise error paths). */
export function tagsNamed(tags: string[][], name: string): Array<{ tag: string[]; index: number }> {
  const out: Array<{ tag: string[]; index: number }> = [];
  for (const [index, tag] of tags.entries()) if (tag[0] === name) out.push({ tag, index });
  return out;
}

/** Parses a decimal millisatoshi amount: digits only, within the safe integer range. */
export function parseMsats(value: string | undefined, path: string): Result<number> {
  if (value === undefined || !/^\d{1,16}$/.test(value)) {
    return invalid(path, "amount must be a whole number of millisatoshis");
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) return invalid(path, "amount is too large");
  return ok(n);
}

/** True for a `ws://` or `wss://` URL. */
export function isRelayUrl(value: string): boolean {
  if (!/^wss?:\/\//i.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}
