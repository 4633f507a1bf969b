import { type AppError, ErrorCode, err, ok, type Result } from "@openagents/protocol";
import { getPublicKey } from "nostr-tools/pure";
import type { EncryptionScheme } from "../encryption.ts";
import type { NostrEvent } from "../event.ts";
import { type CodingJob, codingJobTags, type JobResultContent, parseJobResultContent } from "../job-types.ts";
import { bolt11AmountMsats, type NwcClient } from "../nip47.ts";
import { buildJobRequest, JOB_FEEDBACK_KIND } from "../nip90.ts";
import { type JobFeedback, type JobResult, parseJobFeedback, verifyResultFor } from "../nip90-responses.ts";
import { RelayPool } from "../relay-pool.ts";
import { responseHub } from "./response-hub.ts";

/** The wallet call a customer needs (an `NwcClient` fits). */
export type CustomerWallet = Pick<NwcClient, "payInvoice">;

export interface SubmitOptions {
  secretKey: Uint8Array;
  relays: string[];
  /** Request kind (the skill's kind at the provider; see `DEFAULT_JOB_KINDS`). */
  kind: number;
  job: CodingJob;
  /** The most the customer pays, in millisatoshis. Without a bid nothing is ever paid. */
  bidMsats?: number;
  /** Hex public key of the one provider the job is for; required to encrypt. */
  provider?: string;
  encrypt?: EncryptionScheme;
  wallet?: CustomerWallet;
  /** Give up after this long (default 10 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Reuse an open pool (tests); by default one is opened and closed. */
  pool?: RelayPool;
  /** Called once the request is signed and accepted by a relay. */
  onRequest?(request: NostrEvent): void;
  /** Every verified feedback event (from any provider) about the request. */
  onFeedback?(fb: JobFeedback): void;
  /** A payment was made. */
  onPaid?(p: { provider: string; msats: number }): void;
  /** Something was refused: a result that failed verification, an invoice above the bid … */
  onRejected?(reason: string, event: NostrEvent): void;
}

export interface SubmitOutcome {
  request: NostrEvent;
  result: JobResult;
  content: JobResultContent;
  provider: string;
  paidMsats: number;
}

/** How long an `error` feedback waits for the result that may follow it (a failed script's log). */
const ERROR_GRACE_MS = 3_000;

/**
 * Posts a job request and follows it to a verified result: shows feedback, pays a
 * `payment-required` within the bid through NWC (never above the bid, and only when the bolt11's own
 * amount equals the asked amount), and accepts a result only when it is signed by the provider and
 * bound to this request (`verifyResultFor`). Never throws.
 *
 * @example
 * const r = await submitJob({ secretKey, relays, kind: 5930, job: { repo, instructions: "echo hi" } });
 * if (r.ok) console.log(r.value.content.log);
 */
export async function submitJob(opts: SubmitOptions): Promise<Result<SubmitOutcome>> {
  const built = buildJobRequest(
    {
      kind: opts.kind,
      ...codingJobTags(opts.job),
      ...(opts.bidMsats !== undefined ? { bidMsats: opts.bidMsats } : {}),
      ...(opts.provider ? { providers: [opts.provider] } : {}),
      ...(opts.encrypt ? { encrypt: opts.encrypt } : {}),
      relays: opts.relays,
    },
    opts.secretKey,
  );
  if (!built.ok) return built;
  const request = built.value;
  const pool = opts.pool ?? new RelayPool(opts.relays);
  try {
    return await follow(opts, request, pool);
  } finally {
    if (!opts.pool) pool.close();
  }
}

function follow(opts: SubmitOptions, request: NostrEvent, pool: RelayPool): Promise<Result<SubmitOutcome>> {
  const me = getPublicKey(opts.secretKey);
  return new Promise((resolve) => {
    let settled = false;
    let paidTo: string | undefined;
    let paidMsats = 0;
    let paying = false;
    const errors: string[] = [];
    let errorTimer: ReturnType<typeof setTimeout> | undefined;
    const finish = (r: Result<SubmitOutcome>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(errorTimer);
      opts.signal?.removeEventListener("abort", onAbort);
      sub.close();
      resolve(r);
    };
    const fail = (code: AppError["code"], message: string) => finish(err(code, message));
    const timeoutMs = opts.timeoutMs ?? 600_000;
    const timer = setTimeout(() => {
      const heard = errors.length ? ` (providers said: ${errors.join("; ")})` : "";
      fail(ErrorCode.Timeout, `no verified result within ${Math.round(timeoutMs / 1000)} s${heard}`);
    }, timeoutMs);
    const onAbort = () => fail(ErrorCode.Cancelled, "interrupted");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    /** The provider whose result we accept: the addressed one, else the one we paid (if any). */
    const expected = () => opts.provider ?? paidTo;
    const reject = (reason: string, ev: NostrEvent) => opts.onRejected?.(reason, ev);

    const onPaymentRequired = async (fb: JobFeedback) => {
      if (paidTo !== undefined || paying) return reject("already paid for this job", fb.event);
      const asked = fb.amount?.msats;
      const bolt11 = fb.amount?.bolt11;
      const refuse = (why: string) => {
        reject(why, fb.event);
        // The one provider we asked cannot be paid: waiting longer cannot help.
        if (opts.provider) fail(ErrorCode.InsufficientCredits, why);
      };
      if (asked === undefined || !bolt11)
        return refuse("payment-required without an amount and a bolt11 invoice");
      const invoiced = bolt11AmountMsats(bolt11);
      if (invoiced === undefined) return refuse("the invoice has no readable amount; refusing to pay it");
      if (invoiced !== asked)
        return refuse(`the invoice asks ${invoiced} msats but the feedback says ${asked}`);
      if (opts.bidMsats === undefined) return refuse(`the provider asks ${asked} msats and no bid was set`);
      if (invoiced > opts.bidMsats)
        return refuse(`the provider asks ${invoiced} msats, above the bid of ${opts.bidMsats}`);
      if (!opts.wallet) return refuse(`the provider asks ${asked} msats; a wallet (--nwc) is needed to pay`);
      paying = true;
      const paid = await opts.wallet.payInvoice(bolt11);
      paying = false;
      if (!paid.ok) return refuse(`payment failed: ${paid.error.message}`);
      paidTo = fb.provider;
      paidMsats = invoiced;
      opts.onPaid?.({ provider: fb.provider, msats: invoiced });
    };

    const onEvent = (ev: NostrEvent) => {
      if (settled) return;
      if (ev.kind === JOB_FEEDBACK_KIND) {
        const fb = parseJobFeedback(ev, { secretKey: opts.secretKey });
        if (!fb.ok) return reject(`malformed feedback: ${fb.error.message}`, ev);
        if (fb.value.requestId !== request.id || fb.value.customer !== me) return;
        if (opts.provider && fb.value.provider !== opts.provider)
          return reject("feedback from another provider", ev);
        opts.onFeedback?.(fb.value);
        if (fb.value.status === "payment-required") void onPaymentRequired(fb.value);
        if (fb.value.status === "error") {
          errors.push(fb.value.extraInfo ?? "error");
          // An error from the provider this job depends on ends it, unless its result follows.
          const decisive = expected();
          if (decisive === fb.value.provider && !errorTimer) {
            errorTimer = setTimeout(
              () => fail(ErrorCode.AgentFailed, `provider error: ${fb.value.extraInfo ?? "no reason given"}`),
              ERROR_GRACE_MS,
            );
          }
        }
        return;
      }
      const checked = verifyResultFor(request, ev, expected(), { secretKey: opts.secretKey });
      if (!checked.ok) return reject(`result rejected: ${checked.error.message}`, ev);
      const content = parseJobResultContent(checked.value.content);
      if (!content.ok)
        return reject(`result content rejected: ${content.error.path}: ${content.error.message}`, ev);
      finish(
        ok({
          request,
          result: checked.value,
          content: content.value,
          provider: checked.value.provider,
          paidMsats,
        }),
      );
    };

    // One shared subscription set for all of this pool's open jobs (relays cap subscriptions).
    const sub = responseHub(pool, request.kind).watch(request.id, onEvent);
    // Publish once the relays hold our subscription, so a fast provider cannot answer unseen.
    void sub.ready.then(async () => {
      if (settled) return;
      const outcomes = await pool.publish(request, { timeoutMs: 5_000, retries: 2 });
      if (!outcomes.some((o) => o.ok)) {
        return fail(
          ErrorCode.Internal,
          `no relay accepted the request: ${outcomes.map((o) => `${o.relay} ${o.message}`).join("; ")}`,
        );
      }
      opts.onRequest?.(request);
    });
  });
}
