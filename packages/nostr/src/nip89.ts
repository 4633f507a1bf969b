/**
 * NIP-89 handler announcements for NIP-90 providers, plus two things NIP-89 leaves open:
 *
 * Liveness. A kind 31990 announcement is addressable (replaceable per `d`), so it outlives a provider
 * that crashed. A live provider re-publishes it every `ttlSec / 3` with a fresh `created_at`, a
 * `["status", "online"]` tag and a NIP-40 `["expiration", created_at + ttlSec]` tag. Clients treat an
 * announcement as live only while it is `online` and unexpired; relays that honour NIP-40 drop the
 * stale ones by themselves. A provider shutting down cleanly re-publishes it with `offline`.
 *
 * Pings. A ping is an ordinary job request of a kind the provider announced, addressed to it with a
 * `p` tag, carrying `["param", "ping", "1"]` and a short NIP-40 expiration. Our providers answer with
 * kind 7000 feedback `success` / `pong` whose content is their load as JSON; a provider that does not
 * know the convention still proves it is alive by answering with any feedback (usually `error`).
 * No new kind is needed, and relays that already carry NIP-90 carry pings.
 */
import { ok, type Result } from "@openagents/protocol";
import { finalizeEvent } from "nostr-tools/pure";
import type { EncryptionScheme } from "./encryption.ts";
import { checkSignedEvent, invalid, isHex64, type NostrEvent, nowSec, tagsNamed } from "./event.ts";
import { buildJobRequest, JOB_REQUEST_MAX, JOB_REQUEST_MIN, type JobRequest, paramOf } from "./nip90.ts";
import { buildJobFeedback, type JobFeedback, parseJobFeedback } from "./nip90-responses.ts";

export const HANDLER_INFO_KIND = 31990;
/** Default liveness window of an announcement. */
export const DEFAULT_ANNOUNCE_TTL_SEC = 300;

/** The content JSON of our announcements. */
export interface HandlerInfo {
  name: string;
  about?: string;
  /** Skills offered, e.g. `["code", "analysis"]`. */
  skills: string[];
  /** Price in millisatoshis per job, keyed by request kind (as a string, it is JSON). */
  pricing: Record<string, number>;
  /** Encryptions the provider can open, preferred first. */
  encryption: EncryptionScheme[];
  maxJobs?: number;
}

export interface AnnouncementOptions {
  /** The `d` identifier; one provider may run several handlers. */
  d: string;
  kinds: number[];
  status?: "online" | "offline";
  ttlSec?: number;
  createdAt?: number;
}

export interface Announcement {
  event: NostrEvent;
  pubkey: string;
  d: string;
  kinds: number[];
  info: HandlerInfo;
  status: "online" | "offline" | "unknown";
  createdAt: number;
  expiresAt?: number;
}

/**
 * Builds and signs the announcement; call it again on every heartbeat.
 *
 * @example
 * const ev = buildAnnouncement(info, sk, { d: "openagents", kinds: [5932, 5933] });
 * setInterval(() => pool.publish(buildAnnouncement(info, sk, opts).value), (300 / 3) * 1000);
 */
export function buildAnnouncement(
  info: HandlerInfo,
  secretKey: Uint8Array,
  opts: AnnouncementOptions,
): Result<NostrEvent> {
  if (!opts.d) return invalid("d", "d identifier must not be empty");
  if (opts.kinds.length === 0) return invalid("kinds", "announce at least one kind");
  const createdAt = opts.createdAt ?? nowSec();
  const ttl = opts.ttlSec ?? DEFAULT_ANNOUNCE_TTL_SEC;
  const tags = [
    ["d", opts.d],
    ...opts.kinds.map((k) => ["k", String(k)]),
    ["status", opts.status ?? "online"],
    ["expiration", String(createdAt + ttl)],
  ];
  const event = finalizeEvent(
    { kind: HANDLER_INFO_KIND, tags, content: JSON.stringify(info), created_at: createdAt },
    secretKey,
  );
  const check = parseAnnouncement(event);
  return check.ok ? ok(event) : check;
}

/**
 * Parses an announcement. Never throws.
 *
 * @example
 * const a = parseAnnouncement(ev);
 * if (a.ok && isLive(a.value)) offer(a.value);
 */
export function parseAnnouncement(value: unknown): Result<Announcement> {
  const checked = checkSignedEvent(value);
  if (!checked.ok) return checked;
  const event = checked.value;
  if (event.kind !== HANDLER_INFO_KIND)
    return invalid("kind", `kind ${event.kind} is not a handler announcement (31990)`);
  const d = tagsNamed(event.tags, "d")[0];
  if (!d?.tag[1]) return invalid("tags", "missing d tag");
  const kinds: number[] = [];
  for (const { tag, index } of tagsNamed(event.tags, "k")) {
    const k = Number(tag[1]);
    if (!/^\d+$/.test(tag[1] ?? "") || k < JOB_REQUEST_MIN || k > JOB_REQUEST_MAX) {
      return invalid(`tags[${index}][1]`, "k tag must be a job request kind (5000–5999)");
    }
    kinds.push(k);
  }
  let info: unknown;
  try {
    info = JSON.parse(event.content);
  } catch {
    return invalid("content", "announcement content is not JSON");
  }
  const checkedInfo = checkInfo(info);
  if (!checkedInfo.ok) return checkedInfo;
  const status = tagsNamed(event.tags, "status")[0]?.tag[1];
  const ann: Announcement = {
    event,
    pubkey: event.pubkey,
    d: d.tag[1],
    kinds,
    info: checkedInfo.value,
    status: status === "online" || status === "offline" ? status : "unknown",
    createdAt: event.created_at,
  };
  const exp = tagsNamed(event.tags, "expiration")[0];
  if (exp) {
    if (!/^\d{1,12}$/.test(exp.tag[1] ?? ""))
      return invalid(`tags[${exp.index}][1]`, "expiration must be a unix timestamp");
    ann.expiresAt = Number(exp.tag[1]);
  }
  return ok(ann);
}

function checkInfo(v: unknown): Result<HandlerInfo> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    return invalid("content", "content must be an object");
  const o = v as Record<string, unknown>;
  if (typeof o.name !== "string" || !o.name)
    return invalid("content.name", "name must be a non-empty string");
  if (o.about !== undefined && typeof o.about !== "string")
    return invalid("content.about", "about must be a string");
  if (!Array.isArray(o.skills) || o.skills.some((s) => typeof s !== "string")) {
    return invalid("content.skills", "skills must be an array of strings");
  }
  if (typeof o.pricing !== "object" || o.pricing === null || Array.isArray(o.pricing)) {
    return invalid("content.pricing", "pricing must map kinds to millisatoshis");
  }
  for (const [k, price] of Object.entries(o.pricing)) {
    if (!Number.isSafeInteger(price) || (price as number) < 0) {
      return invalid(`content.pricing.${k}`, "price must be a whole number of millisatoshis");
    }
  }
  if (!Array.isArray(o.encryption) || o.encryption.some((s) => s !== "nip04" && s !== "nip44")) {
    return invalid("content.encryption", 'encryption must list "nip44" and/or "nip04"');
  }
  if (o.maxJobs !== undefined && (!Number.isSafeInteger(o.maxJobs) || (o.maxJobs as number) < 1)) {
    return invalid("content.maxJobs", "maxJobs must be a positive integer");
  }
  return ok(o as unknown as HandlerInfo);
}

/**
 * True while an announcement says `online` and its expiration has not passed. Announcements without
 * an expiration (other software) count as live for `DEFAULT_ANNOUNCE_TTL_SEC` after `created_at`.
 *
 * @example
 * const live = announcements.filter((a) => isLive(a));
 */
export function isLive(
  ann: Pick<Announcement, "status" | "createdAt" | "expiresAt">,
  now = nowSec(),
): boolean {
  if (ann.status === "offline") return false;
  return (ann.expiresAt ?? ann.createdAt + DEFAULT_ANNOUNCE_TTL_SEC) > now;
}

/**
 * Builds a ping to `provider`: a job request of an announced `kind`, addressed with `p`, marked
 * `["param", "ping", "1"]`, expiring after `ttlSec`.
 *
 * @example
 * const ping = buildPing(provider, 5932, sk);
 */
export function buildPing(
  provider: string,
  kind: number,
  secretKey: Uint8Array,
  ttlSec = 60,
): Result<NostrEvent> {
  if (!isHex64(provider)) return invalid("provider", "provider must be a 64-character hex public key");
  const now = nowSec();
  return buildJobRequest(
    {
      kind,
      inputs: [],
      params: [{ name: "ping", value: "1" }],
      providers: [provider],
      expiration: now + ttlSec,
    },
    secretKey,
    now,
  );
}

/** True when a parsed request is a ping (answer it with `buildPong`, never run it). */
export const isPing = (req: Pick<JobRequest, "params">): boolean => paramOf(req, "ping") === "1";

/** The load a provider reports in its pong. */
export interface ProviderLoad {
  activeJobs: number;
  maxJobs: number;
}

/**
 * Answers a ping with `success` / `pong` feedback carrying the provider's load.
 *
 * @example
 * if (isPing(req)) return pool.publish(buildPong(req, sk, { activeJobs: 1, maxJobs: 4 }).value);
 */
export function buildPong(ping: JobRequest, secretKey: Uint8Array, load: ProviderLoad): Result<NostrEvent> {
  return buildJobFeedback(
    ping,
    { status: "success", extraInfo: "pong", content: JSON.stringify(load) },
    secretKey,
  );
}

/**
 * Reads an answer to `ping`: any feedback from the pinged provider bound to the ping proves it is
 * alive; a pong from our providers also carries its load.
 *
 * @example
 * const p = parsePong(ev, ping); // p.value.load?.activeJobs
 */
export function parsePong(
  value: unknown,
  ping: NostrEvent,
): Result<{ feedback: JobFeedback; load?: ProviderLoad }> {
  const fb = parseJobFeedback(value);
  if (!fb.ok) return fb;
  const f = fb.value;
  const provider = ping.tags.find((t) => t[0] === "p")?.[1];
  if (f.requestId !== ping.id || f.customer !== ping.pubkey)
    return invalid("tags", "feedback does not answer this ping");
  if (f.provider !== provider) return invalid("pubkey", "feedback is not from the pinged provider");
  if (f.extraInfo !== "pong" || f.content === null) return ok({ feedback: f });
  try {
    const load = JSON.parse(f.content) as ProviderLoad;
    if (Number.isInteger(load.activeJobs) && Number.isInteger(load.maxJobs)) return ok({ feedback: f, load });
  } catch {
    // A malformed load is not a failure of liveness; the feedback itself is the proof.
  }
  return ok({ feedback: f });
}
