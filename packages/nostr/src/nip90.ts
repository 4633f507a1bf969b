import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";
import { decryptFrom, detectScheme, type EncryptionScheme, encryptFor } from "./encryption.ts";
import {
  checkSignedEvent,
  invalid,
  isHex64,
  isRelayUrl,
  type NostrEvent,
  nowSec,
  parseMsats,
  tagsNamed,
} from "./event.ts";

/** NIP-90 kind ranges: requests 5000–5999, results = request kind + 1000, feedback 7000. */
export const JOB_REQUEST_MIN = 5000;
export const JOB_REQUEST_MAX = 5999;
export const JOB_RESULT_OFFSET = 1000;
export const JOB_FEEDBACK_KIND = 7000;
/** NIP-09 deletion, which NIP-90 uses to cancel a request. */
export const DELETION_KIND = 5;

export const INPUT_TYPES = ["url", "text", "job", "event"] as const;
export type InputType = (typeof INPUT_TYPES)[number];

/** `["i", value, type, relay?, marker?]`; a `job` input chains the output of an earlier request (its id). */
export interface JobInput {
  value: string;
  type: InputType;
  relay?: string;
  marker?: string;
}

/** `["param", name, value]`. Repeats are kept, in order. */
export interface JobParam {
  name: string;
  value: string;
}

/** What a customer asks for; `buildJobRequest` turns it into a signed kind 5xxx event. */
export interface JobRequestSpec {
  kind: number;
  inputs: JobInput[];
  params?: JobParam[];
  output?: string;
  bidMsats?: number;
  relays?: string[];
  /** Providers the request is addressed to (`p` tags). Encryption needs exactly one. */
  providers?: string[];
  /** Move `i` and `param` tags into encrypted content; NIP-44 is preferred, NIP-04 is the spec's text. */
  encrypt?: EncryptionScheme;
  /** NIP-40 expiration (seconds since epoch): providers ignore the request after it. */
  expiration?: number;
}

/** A parsed, signature-checked job request. */
export interface JobRequest {
  event: NostrEvent;
  id: string;
  customer: string;
  kind: number;
  createdAt: number;
  inputs: JobInput[];
  params: JobParam[];
  output?: string;
  bidMsats?: number;
  relays: string[];
  providers: string[];
  encryption: EncryptionScheme | null;
  /** True when the request is encrypted and no key to open it was given: inputs and params are hidden. */
  sealed: boolean;
  expiration?: number;
}

export interface ParseOptions {
  /** The reader's secret key, to open encrypted content (provider or the customer itself). */
  secretKey?: Uint8Array;
}

const isJobRequestKind = (k: number) => Number.isInteger(k) && k >= JOB_REQUEST_MIN && k <= JOB_REQUEST_MAX;

function inputTag(input: JobInput): string[] {
  const tag = ["i", input.value, input.type];
  if (input.relay !== undefined || input.marker !== undefined) tag.push(input.relay ?? "");
  if (input.marker !== undefined) tag.push(input.marker);
  return tag;
}

/** Parses one tag list (clear tags or decrypted content) into `into`; `where` names the list in error paths. */
function readRequestTags(tags: string[][], where: string, into: JobRequest): Result<true> {
  for (const [i, tag] of tags.entries()) {
    const path = `${where}[${i}]`;
    if (!Array.isArray(tag) || tag.some((t) => typeof t !== "string")) {
      return invalid(path, "each tag must be an array of strings");
    }
    switch (tag[0]) {
      case "i": {
        const [, value, type, relay, marker] = tag;
        if (!value) return invalid(`${path}[1]`, "input value must not be empty");
        if (!(INPUT_TYPES as readonly string[]).includes(type ?? "")) {
          return invalid(
            `${path}[2]`,
            `input type must be one of ${INPUT_TYPES.join(", ")}, got ${JSON.stringify(type)}`,
          );
        }
        if ((type === "job" || type === "event") && !isHex64(value)) {
          return invalid(`${path}[1]`, `a ${type} input must be a 64-character hex event id`);
        }
        if (type === "url" && !URL.canParse(value))
          return invalid(`${path}[1]`, "a url input must be an absolute URL");
        if (relay && !isRelayUrl(relay))
          return invalid(`${path}[3]`, "input relay hint must be a ws:// or wss:// URL");
        const input: JobInput = { value, type: type as InputType };
        if (relay) input.relay = relay;
        if (marker) input.marker = marker;
        into.inputs.push(input);
        break;
      }
      case "param":
        if (!tag[1]) return invalid(`${path}[1]`, "param name must not be empty");
        if (tag[2] === undefined) return invalid(`${path}[2]`, `param "${tag[1]}" has no value`);
        into.params.push({ name: tag[1], value: tag[2] });
        break;
      case "output":
        if (!tag[1]) return invalid(`${path}[1]`, "output must name a MIME type");
        into.output = tag[1];
        break;
      case "bid": {
        const bid = parseMsats(tag[1], `${path}[1]`);
        if (!bid.ok) return bid;
        into.bidMsats = bid.value;
        break;
      }
      case "relays": {
        if (tag.length < 2) return invalid(path, "relays tag must list at least one relay");
        for (let j = 1; j < tag.length; j++) {
          if (!isRelayUrl(tag[j]!)) return invalid(`${path}[${j}]`, "relay must be a ws:// or wss:// URL");
          into.relays.push(tag[j]!);
        }
        break;
      }
      case "p":
        if (!isHex64(tag[1])) return invalid(`${path}[1]`, "p tag must be a 64-character hex public key");
        into.providers.push(tag[1]);
        break;
      case "expiration":
        if (!/^\d{1,12}$/.test(tag[1] ?? ""))
          return invalid(`${path}[1]`, "expiration must be a unix timestamp");
        into.expiration = Number(tag[1]);
        break;
    }
  }
  return ok(true);
}

/**
 * Builds and signs a job request (kind 5000–5999). With `encrypt`, the `i` and `param` tags travel
 * as encrypted JSON in the content, addressed to the single provider, with an `["encrypted"]` tag.
 *
 * @example
 * const r = buildJobRequest({ kind: 5932, inputs: [{ value: repoUrl, type: "url" }], bidMsats: 50_000 }, sk);
 * if (r.ok) await pool.publish(r.value);
 */
export function buildJobRequest(
  spec: JobRequestSpec,
  secretKey: Uint8Array,
  createdAt = nowSec(),
): Result<NostrEvent> {
  if (!isJobRequestKind(spec.kind)) return invalid("kind", "job request kind must be between 5000 and 5999");
  if (spec.bidMsats !== undefined && (!Number.isSafeInteger(spec.bidMsats) || spec.bidMsats < 0)) {
    return invalid("bidMsats", "bid must be a whole number of millisatoshis");
  }
  const providers = spec.providers ?? [];
  if (spec.encrypt && providers.length !== 1) {
    return invalid("providers", "an encrypted request must be addressed to exactly one provider");
  }
  const secret: string[][] = [
    ...spec.inputs.map(inputTag),
    ...(spec.params ?? []).map((p) => ["param", p.name, p.value]),
  ];
  const tags: string[][] = [];
  if (spec.output) tags.push(["output", spec.output]);
  if (spec.bidMsats !== undefined) tags.push(["bid", String(spec.bidMsats)]);
  if (spec.relays?.length) tags.push(["relays", ...spec.relays]);
  for (const p of providers) tags.push(["p", p]);
  if (spec.expiration !== undefined) tags.push(["expiration", String(spec.expiration)]);
  let content = "";
  if (spec.encrypt) {
    content = encryptFor(spec.encrypt, secretKey, providers[0]!, JSON.stringify(secret));
    tags.push(["encrypted"]);
  } else {
    tags.unshift(...secret);
  }
  const event = finalizeEvent({ kind: spec.kind, tags, content, created_at: createdAt }, secretKey);
  // Round-trip through the parser so a builder can never emit what the parser would refuse.
  const check = parseJobRequest(event, { secretKey });
  return check.ok ? ok(event) : check;
}

/**
 * Parses and validates a job request: the signature, the kind, every NIP-90 tag. Encrypted content
 * is opened when `secretKey` belongs to the addressed provider (or the customer). Never throws.
 *
 * @example
 * const r = parseJobRequest(event, { secretKey: providerSk });
 * if (!r.ok) return log(`${r.error.path}: ${r.error.message}`);
 */
export function parseJobRequest(value: unknown, opts: ParseOptions = {}): Result<JobRequest> {
  const checked = checkSignedEvent(value);
  if (!checked.ok) return checked;
  const event = checked.value;
  if (!isJobRequestKind(event.kind))
    return invalid("kind", `kind ${event.kind} is not a job request (5000–5999)`);
  const req: JobRequest = {
    event,
    id: event.id,
    customer: event.pubkey,
    kind: event.kind,
    createdAt: event.created_at,
    inputs: [],
    params: [],
    relays: [],
    providers: [],
    encryption: null,
    sealed: false,
  };
  const clear = readRequestTags(event.tags, "tags", req);
  if (!clear.ok) return clear;
  if (tagsNamed(event.tags, "encrypted").length === 0) return ok(req);

  if (req.providers.length !== 1) return invalid("tags", "an encrypted request must have exactly one p tag");
  const opened = openContent(event, req.providers[0]!, opts.secretKey);
  if (!opened.ok) return opened;
  req.encryption = opened.value.scheme;
  if (opened.value.plaintext === null) {
    req.sealed = true;
    return ok(req);
  }
  let secretTags: unknown;
  try {
    secretTags = JSON.parse(opened.value.plaintext);
  } catch {
    return invalid("content", "decrypted content is not JSON");
  }
  if (!Array.isArray(secretTags)) return invalid("content", "decrypted content must be a JSON array of tags");
  const inner = readRequestTags(secretTags as string[][], "content", req);
  return inner.ok ? ok(req) : inner;
}

/**
 * Opens the encrypted content of an event exchanged between `event.pubkey` and `other`. The reader
 * is whichever of the two owns `secretKey`; without a key only the scheme is reported.
 *
 * @example
 * const r = openContent(resultEvent, customerPubkey, customerSk); // r.value.plaintext
 */
export function openContent(
  event: NostrEvent,
  other: string,
  secretKey: Uint8Array | undefined,
): Result<{ scheme: EncryptionScheme; plaintext: string | null }> {
  if (!secretKey) {
    const scheme = detectScheme(event.content);
    if (scheme === null) return invalid("content", "content is neither a NIP-04 nor a NIP-44 v2 payload");
    return ok({ scheme, plaintext: null });
  }
  const me = getPublicKey(secretKey);
  const counterpart = me === event.pubkey ? other : event.pubkey;
  if (me !== event.pubkey && me !== other) {
    return err(ErrorCode.Forbidden, "this key is not a party to the encrypted event", "content");
  }
  return decryptFrom(secretKey, counterpart, event.content);
}

/** The first value of a param, e.g. `paramOf(req, "ref")`. */
export const paramOf = (req: Pick<JobRequest, "params">, name: string): string | undefined =>
  req.params.find((p) => p.name === name)?.value;

/** True when the request carries a NIP-40 expiration that has passed. */
export const isExpired = (req: Pick<JobRequest, "expiration">, now = nowSec()): boolean =>
  req.expiration !== undefined && req.expiration <= now;

/** Filter for the results and feedback of one request (to follow a job, or to chain on it). */
export const jobResponsesFilter = (request: { id: string; kind: number }) => ({
  kinds: [request.kind + JOB_RESULT_OFFSET, JOB_FEEDBACK_KIND],
  "#e": [request.id],
});
