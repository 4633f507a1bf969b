import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";
import { type EncryptionScheme, encryptFor } from "./encryption.ts";
import {
  checkSignedEvent,
  invalid,
  isHex64,
  type NostrEvent,
  nowSec,
  parseMsats,
  tagsNamed,
} from "./event.ts";
import {
  DELETION_KIND,
  INPUT_TYPES,
  type InputType,
  JOB_FEEDBACK_KIND,
  JOB_REQUEST_MAX,
  JOB_REQUEST_MIN,
  JOB_RESULT_OFFSET,
  type JobInput,
  type JobRequest,
  openContent,
  type ParseOptions,
  parseJobRequest,
} from "./nip90.ts";

/** Feedback statuses, spelled as NIP-90 spells them (what we emit). */
export const JOB_STATUSES = ["payment-required", "processing", "partial", "error", "success"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** An `["amount", msats, bolt11?]` tag: what the provider asks to be paid. */
export interface Amount {
  msats: number;
  bolt11?: string;
}

export interface JobFeedbackSpec {
  status: JobStatus;
  extraInfo?: string;
  amount?: Amount;
  /** Optional payload, e.g. a partial result; encrypted when the request was. */
  content?: string;
}

export interface JobFeedback {
  event: NostrEvent;
  id: string;
  provider: string;
  requestId: string;
  customer: string;
  status: JobStatus;
  extraInfo?: string;
  amount?: Amount;
  /** The (decrypted) content; `null` when encrypted and no key was given. */
  content: string | null;
  encryption: EncryptionScheme | null;
}

export interface JobResultSpec {
  content: string;
  amount?: Amount;
}

export interface JobResult {
  event: NostrEvent;
  id: string;
  provider: string;
  kind: number;
  requestKind: number;
  requestId: string;
  customer: string;
  /** The request as embedded in the `request` tag, when present (signature checked). */
  request?: NostrEvent;
  inputs: JobInput[];
  amount?: Amount;
  content: string | null;
  encryption: EncryptionScheme | null;
}

/** The request fields a response needs; a parsed `JobRequest` fits. */
export type RequestRef = Pick<JobRequest, "id" | "kind" | "customer" | "event" | "inputs" | "encryption">;

function amountTag(a: Amount): string[] {
  return a.bolt11 ? ["amount", String(a.msats), a.bolt11] : ["amount", String(a.msats)];
}

/** Encrypts `content` to the customer when the request was encrypted, with the request's own scheme. */
function seal(request: RequestRef, secretKey: Uint8Array, content: string, tags: string[][]): string {
  if (!request.encryption || content === "") return content;
  tags.push(["encrypted"]);
  return encryptFor(request.encryption, secretKey, request.customer, content);
}

/** Reads the `e`, `p` and `amount` tags every response carries. */
function readBinding(event: NostrEvent): Result<{ requestId: string; customer: string; amount?: Amount }> {
  const e = tagsNamed(event.tags, "e");
  if (e.length === 0) return invalid("tags", "missing e tag (the request id)");
  for (const { tag, index } of e) {
    if (!isHex64(tag[1])) return invalid(`tags[${index}][1]`, "e tag must be a 64-character hex event id");
    if (tag[1] !== e[0]!.tag[1]) return invalid(`tags[${index}][1]`, "e tags disagree on the request id");
  }
  const p = tagsNamed(event.tags, "p");
  if (p.length === 0) return invalid("tags", "missing p tag (the customer)");
  for (const { tag, index } of p) {
    if (!isHex64(tag[1])) return invalid(`tags[${index}][1]`, "p tag must be a 64-character hex public key");
    if (tag[1] !== p[0]!.tag[1]) return invalid(`tags[${index}][1]`, "p tags disagree on the customer");
  }
  const out: { requestId: string; customer: string; amount?: Amount } = {
    requestId: e[0]!.tag[1]!,
    customer: p[0]!.tag[1]!,
  };
  const amount = tagsNamed(event.tags, "amount")[0];
  if (amount) {
    const msats = parseMsats(amount.tag[1], `tags[${amount.index}][1]`);
    if (!msats.ok) return msats;
    const bolt11 = amount.tag[2];
    if (bolt11 !== undefined && bolt11 !== "" && !/^ln[a-z0-9]+$/i.test(bolt11)) {
      return invalid(`tags[${amount.index}][2]`, "amount invoice must be a bolt11 string (ln…)");
    }
    out.amount = bolt11 ? { msats: msats.value, bolt11 } : { msats: msats.value };
  }
  return ok(out);
}

function readContent(event: NostrEvent, customer: string, opts: ParseOptions) {
  if (tagsNamed(event.tags, "encrypted").length === 0 || event.content === "") {
    return ok({ scheme: null, plaintext: event.content as string | null });
  }
  return openContent(event, customer, opts.secretKey);
}

/**
 * Builds and signs a kind 7000 feedback event for a request (`e` → request, `p` → customer).
 *
 * @example
 * buildJobFeedback(req, { status: "payment-required", amount: { msats: 21_000, bolt11 } }, providerSk);
 */
export function buildJobFeedback(
  request: RequestRef,
  spec: JobFeedbackSpec,
  secretKey: Uint8Array,
  createdAt = nowSec(),
): Result<NostrEvent> {
  if (!(JOB_STATUSES as readonly string[]).includes(spec.status)) {
    return invalid("status", `status must be one of ${JOB_STATUSES.join(", ")}`);
  }
  const tags: string[][] = [
    spec.extraInfo ? ["status", spec.status, spec.extraInfo] : ["status", spec.status],
    ["e", request.id],
    ["p", request.customer],
  ];
  if (spec.amount) tags.push(amountTag(spec.amount));
  const content = seal(request, secretKey, spec.content ?? "", tags);
  const event = finalizeEvent({ kind: JOB_FEEDBACK_KIND, tags, content, created_at: createdAt }, secretKey);
  const check = parseJobFeedback(event);
  return check.ok ? ok(event) : check;
}

/**
 * Parses a kind 7000 feedback event. `payment_required` (NDK's spelling) is read as `payment-required`.
 * Never throws.
 *
 * @example
 * const fb = parseJobFeedback(event, { secretKey: customerSk });
 * if (fb.ok && fb.value.status === "payment-required") pay(fb.value.amount?.bolt11);
 */
export function parseJobFeedback(value: unknown, opts: ParseOptions = {}): Result<JobFeedback> {
  const checked = checkSignedEvent(value);
  if (!checked.ok) return checked;
  const event = checked.value;
  if (event.kind !== JOB_FEEDBACK_KIND)
    return invalid("kind", `kind ${event.kind} is not job feedback (7000)`);
  const status = tagsNamed(event.tags, "status")[0];
  if (!status) return invalid("tags", "missing status tag");
  const spelled = status.tag[1] === "payment_required" ? "payment-required" : status.tag[1];
  if (!(JOB_STATUSES as readonly (string | undefined)[]).includes(spelled)) {
    return invalid(
      `tags[${status.index}][1]`,
      `status must be one of ${JOB_STATUSES.join(", ")}, got ${JSON.stringify(status.tag[1])}`,
    );
  }
  const binding = readBinding(event);
  if (!binding.ok) return binding;
  const content = readContent(event, binding.value.customer, opts);
  if (!content.ok) return content;
  const fb: JobFeedback = {
    event,
    id: event.id,
    provider: event.pubkey,
    requestId: binding.value.requestId,
    customer: binding.value.customer,
    status: spelled as JobStatus,
    content: content.value.plaintext,
    encryption: content.value.scheme,
  };
  if (status.tag[2]) fb.extraInfo = status.tag[2];
  if (binding.value.amount) fb.amount = binding.value.amount;
  return ok(fb);
}

/**
 * Builds and signs a job result (request kind + 1000) carrying the request JSON, `e`, `p`, the clear
 * inputs and an optional `amount`. The content is encrypted when the request was.
 *
 * @example
 * buildJobResult(req, { content: JSON.stringify(resultContent), amount: { msats: 21_000 } }, providerSk);
 */
export function buildJobResult(
  request: RequestRef,
  spec: JobResultSpec,
  secretKey: Uint8Array,
  createdAt = nowSec(),
): Result<NostrEvent> {
  const tags: string[][] = [
    ["request", JSON.stringify(request.event)],
    ["e", request.id],
    ["p", request.customer],
  ];
  // Inputs of an encrypted request stay secret: they are not repeated in clear.
  if (!request.encryption) {
    for (const i of request.inputs) tags.push(["i", i.value, i.type, ...(i.relay ? [i.relay] : [])]);
  }
  if (spec.amount) tags.push(amountTag(spec.amount));
  const content = seal(request, secretKey, spec.content, tags);
  const kind = request.kind + JOB_RESULT_OFFSET;
  const event = finalizeEvent({ kind, tags, content, created_at: createdAt }, secretKey);
  const check = parseJobResult(event);
  return check.ok ? ok(event) : check;
}

/**
 * Parses a job result (kind 6000–6999). It checks structure and signature only; whether the result
 * answers *your* request is `verifyResultFor`'s job. Never throws.
 *
 * @example
 * const r = parseJobResult(event, { secretKey: customerSk });
 */
export function parseJobResult(value: unknown, opts: ParseOptions = {}): Result<JobResult> {
  const checked = checkSignedEvent(value);
  if (!checked.ok) return checked;
  const event = checked.value;
  if (event.kind < JOB_REQUEST_MIN + JOB_RESULT_OFFSET || event.kind > JOB_REQUEST_MAX + JOB_RESULT_OFFSET) {
    return invalid("kind", `kind ${event.kind} is not a job result (6000–6999)`);
  }
  const binding = readBinding(event);
  if (!binding.ok) return binding;
  const result: JobResult = {
    event,
    id: event.id,
    provider: event.pubkey,
    kind: event.kind,
    requestKind: event.kind - JOB_RESULT_OFFSET,
    requestId: binding.value.requestId,
    customer: binding.value.customer,
    inputs: [],
    content: null,
    encryption: null,
  };
  if (binding.value.amount) result.amount = binding.value.amount;
  const embedded = tagsNamed(event.tags, "request")[0];
  if (embedded) {
    const path = `tags[${embedded.index}][1]`;
    let json: unknown;
    try {
      json = JSON.parse(embedded.tag[1] ?? "");
    } catch {
      return invalid(path, "request tag must hold the request event as JSON");
    }
    const req = parseJobRequest(json);
    if (!req.ok)
      return invalid(path, `embedded request: ${req.error.path ?? ""} ${req.error.message}`.trim());
    if (req.value.id !== result.requestId) return invalid(path, "embedded request id differs from the e tag");
    if (req.value.kind !== result.requestKind)
      return invalid(path, "embedded request kind is not result kind − 1000");
    if (req.value.customer !== result.customer)
      return invalid(path, "embedded request author differs from the p tag");
    result.request = req.value.event;
  }
  for (const { tag, index } of tagsNamed(event.tags, "i")) {
    if (!tag[1] || !(INPUT_TYPES as readonly string[]).includes(tag[2] ?? "")) {
      return invalid(`tags[${index}]`, 'i tag must be ["i", value, url|text|job|event]');
    }
    result.inputs.push({ value: tag[1], type: tag[2] as InputType });
  }
  const content = readContent(event, result.customer, opts);
  if (!content.ok) return content;
  result.content = content.value.plaintext;
  result.encryption = content.value.scheme;
  return ok(result);
}

/**
 * Accepts `resultEvent` as the answer to `request` only when: the signature is valid, the kind is
 * the request kind + 1000, every `e` tag is the request id, every `p` tag is the customer, the
 * author is `expectedProvider` (when given) or one of the providers the request was addressed to.
 * This is what defeats a result replayed from another job or forged by another key.
 *
 * @example
 * const r = verifyResultFor(myRequest, incoming, providerPubkey, { secretKey: mySk });
 * if (!r.ok) return; // not ours, or forged
 */
export function verifyResultFor(
  request: NostrEvent,
  resultEvent: unknown,
  expectedProvider?: string,
  opts: ParseOptions = {},
): Result<JobResult> {
  const parsed = parseJobResult(resultEvent, opts);
  if (!parsed.ok) return parsed;
  const r = parsed.value;
  const reject = (path: string, message: string) => err(ErrorCode.Forbidden, message, path);
  if (r.kind !== request.kind + JOB_RESULT_OFFSET) {
    return reject("kind", `result kind ${r.kind} does not answer request kind ${request.kind}`);
  }
  if (r.requestId !== request.id) return reject("tags", "result is bound to another request (e tag)");
  if (r.customer !== request.pubkey) return reject("tags", "result is addressed to another customer (p tag)");
  if (expectedProvider !== undefined && r.provider !== expectedProvider) {
    return reject("pubkey", "result is signed by a key other than the expected provider");
  }
  const addressed = request.tags.filter((t) => t[0] === "p").map((t) => t[1]);
  if (addressed.length > 0 && !addressed.includes(r.provider)) {
    return reject("pubkey", "result is signed by a provider the request was not addressed to");
  }
  return ok(r);
}

/**
 * Builds the customer's cancellation of a request: a NIP-09 deletion (kind 5) with `e` → request
 * and `k` → request kind. Only the request's author can cancel it.
 *
 * @example
 * const del = buildJobCancellation(req, customerSk, "no longer needed");
 */
export function buildJobCancellation(
  request: Pick<JobRequest, "id" | "kind" | "customer">,
  secretKey: Uint8Array,
  reason = "",
  createdAt = nowSec(),
): Result<NostrEvent> {
  if (getPublicKey(secretKey) !== request.customer) {
    return err(ErrorCode.Forbidden, "only the customer who posted a request can cancel it", "pubkey");
  }
  const tags = [
    ["e", request.id],
    ["k", String(request.kind)],
  ];
  return ok(finalizeEvent({ kind: DELETION_KIND, tags, content: reason, created_at: createdAt }, secretKey));
}

/**
 * True when `event` is a valid, signed deletion of `request` by its own customer (a provider must
 * stop work on it). A deletion by anyone else is ignored.
 *
 * @example
 * if (isCancellationOf(event, running.request)) running.abort();
 */
export function isCancellationOf(event: unknown, request: Pick<JobRequest, "id" | "customer">): boolean {
  const checked = checkSignedEvent(event);
  if (!checked.ok) return false;
  const e = checked.value;
  return (
    e.kind === DELETION_KIND &&
    e.pubkey === request.customer &&
    e.tags.some((t) => t[0] === "e" && t[1] === request.id)
  );
}
