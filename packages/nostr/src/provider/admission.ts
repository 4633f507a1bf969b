import { type AppError, ErrorCode, isRemoteRepo, ok, type Result } from "@openagents/protocol";
import { getPublicKey } from "nostr-tools/pure";
import { checkSignedEvent, invalid, isHex64, nowSec } from "../event.ts";
import { type CodingJob, type JobKinds, readCodingJob, type Skill, skillOfKind } from "../job-types.ts";
import { isPing } from "../nip89.ts";
import { isExpired, type JobRequest, parseJobRequest } from "../nip90.ts";

/** What a provider decides about one incoming event. */
export type Admission =
  /** Not for us, or already handled: no answer at all (answering would spam or leak). */
  | { action: "ignore"; reason: string }
  /** A ping addressed to us: answer with a pong, never run. */
  | { action: "pong"; request: JobRequest }
  /** Ours but unacceptable: answer with `error` feedback carrying `reason`. */
  | { action: "refuse"; request: JobRequest; skill: Skill | undefined; reason: string }
  | { action: "accept"; request: JobRequest; skill: Skill; job: CodingJob; priceMsats: number };

export interface AdmissionPolicy {
  secretKey: Uint8Array;
  /** Skills this provider sells; requests of other kinds are ignored. */
  skills: readonly Skill[];
  kinds: JobKinds;
  /** Price per job in millisatoshis, by skill; absent or 0 means free. */
  prices: Partial<Record<Skill, number>>;
  /** Glob patterns a job's repository URL must match; `*` stays within a path segment, `**` does not. */
  allowRepo: readonly string[];
  /** Requests older than this are stale (ignored): they were surely served or given up on. */
  maxAgeSec: number;
}

/**
 * Decides what to do with an incoming event, from the event alone (duplicate detection is the
 * store's job). Never throws: a malformed event of any shape is `ignore`.
 *
 * @example
 * const a = admit(event, policy);
 * if (a.action === "accept") queue(a);
 */
export function admit(event: unknown, policy: AdmissionPolicy, now = nowSec()): Admission {
  const me = getPublicKey(policy.secretKey);
  const parsed = parseJobRequest(event, { secretKey: policy.secretKey });
  if (!parsed.ok) return malformed(event, parsed.error, policy, me, now);
  const request = parsed.value;
  if (request.providers.length > 0 && !request.providers.includes(me)) {
    return { action: "ignore", reason: "addressed to another provider" };
  }
  if (request.sealed) return { action: "ignore", reason: "encrypted for another key" };
  if (isExpired(request, now)) return { action: "ignore", reason: "expired (NIP-40)" };
  if (request.createdAt < now - policy.maxAgeSec) return { action: "ignore", reason: "stale request" };
  if (request.createdAt > now + 600) return { action: "ignore", reason: "request dated in the future" };
  const skill = skillOfKind(policy.kinds, request.kind);
  if (!skill || !policy.skills.includes(skill)) return { action: "ignore", reason: "kind not offered" };
  if (isPing(request)) {
    return request.providers.includes(me)
      ? { action: "pong", request }
      : { action: "ignore", reason: "ping for someone else" };
  }
  const refuse = (reason: string): Admission => ({ action: "refuse", request, skill, reason });
  const chained = request.inputs.find((i) => i.type === "job" || i.type === "event");
  if (chained) return refuse(`input type "${chained.type}" is not supported by this provider`);
  const job = readCodingJob(request, skill);
  if (!job.ok) return refuse(`${job.error.path ?? "request"}: ${job.error.message}`);
  if (skill === "compute" && job.value.agent && job.value.agent !== "shell") {
    return refuse('a compute job runs a script; param "agent" must be "shell" or absent');
  }
  if (skill !== "compute" && job.value.agent === "shell") {
    return refuse(`a ${skill} job needs a coding agent, not "shell"`);
  }
  if (job.value.repo !== undefined) {
    const allowed = repoAllowed(job.value.repo, policy.allowRepo);
    if (!allowed.ok) return refuse(allowed.error.message);
  }
  const priceMsats = policy.prices[skill] ?? 0;
  if (request.bidMsats !== undefined && request.bidMsats < priceMsats) {
    return refuse(`the price of a ${skill} job is ${priceMsats} msats; the bid was ${request.bidMsats}`);
  }
  return { action: "accept", request, skill, job: job.value, priceMsats };
}

/**
 * A request that does not parse deserves an answer only when it is genuinely signed, of a kind we
 * offer, fresh, and for us (addressed to us or to anyone): the customer then learns what was wrong.
 * Anything else — a bad signature, garbage, someone else's job — is dropped without a word.
 */
function malformed(
  event: unknown,
  error: AppError,
  policy: AdmissionPolicy,
  me: string,
  now: number,
): Admission {
  const why = `${error.path ? `${error.path}: ` : ""}${error.message}`;
  const signed = checkSignedEvent(event);
  if (!signed.ok) return { action: "ignore", reason: `not a signed event: ${why}` };
  const ev = signed.value;
  const skill = skillOfKind(policy.kinds, ev.kind);
  if (!skill || !policy.skills.includes(skill)) return { action: "ignore", reason: "kind not offered" };
  if (ev.created_at < now - policy.maxAgeSec || ev.created_at > now + 600) {
    return { action: "ignore", reason: "stale malformed request" };
  }
  const providers = ev.tags.filter((t) => t[0] === "p").map((t) => t[1]);
  if (providers.length > 0 && !providers.includes(me))
    return { action: "ignore", reason: "addressed to another provider" };
  const request: JobRequest = {
    event: ev,
    id: ev.id,
    customer: ev.pubkey,
    kind: ev.kind,
    createdAt: ev.created_at,
    inputs: [],
    params: [],
    relays: [],
    providers: providers.filter(isHex64),
    encryption: null,
    sealed: false,
  };
  return { action: "refuse", request, skill, reason: `malformed request: ${why}` };
}

/** Compiles a repository glob: `*` matches within one path segment, `**` across segments. */
export function repoGlob(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether this provider may clone `repo`. Remote URLs (https, ssh, git) are allowed when no pattern
 * is configured; anything on the provider's own disk (`file:` URLs, paths) only when a pattern names
 * it explicitly, because a customer must never make a provider read its local files.
 *
 * @example
 * repoAllowed("https://github.com/acme/app", ["https://github.com/acme/*"]) // ok
 */
export function repoAllowed(repo: string, patterns: readonly string[]): Result<true> {
  const local = !isRemoteRepo(repo) || repo.startsWith("file:");
  if (repo.includes("..") && local) return invalid("repo", "repository path must not contain '..'");
  const normalised = repo.replace(/\/+$/, "");
  if (patterns.some((p) => repoGlob(p.replace(/\/+$/, "")).test(normalised))) return ok(true);
  if (patterns.length === 0 && !local) return ok(true);
  return {
    ok: false,
    error: {
      code: ErrorCode.Forbidden,
      message: local
        ? "this provider does not accept local repositories"
        : `repository ${repo} is not in this provider's allowlist`,
      path: "repo",
    },
  };
}
