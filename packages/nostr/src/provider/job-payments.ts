import { nowSec } from "../event.ts";
import type { NwcClient } from "../nip47.ts";
import type { JobRequest } from "../nip90.ts";
import type { JobFeedbackSpec } from "../nip90-responses.ts";
import type { JobStore, ProviderJob } from "./job-store.ts";

/** The wallet calls a provider needs (an `NwcClient` fits). */
export type ProviderWallet = Pick<NwcClient, "makeInvoice" | "lookupInvoice">;

/**
 * What the provider lends its payment desk; a plain object, so the desk sees only what it needs.
 *
 * @example
 * const payments = new JobPayments({ store, wallet, paymentTimeoutSec: 600, stopping: () => false, ... });
 */
export interface PaymentHost {
  store: JobStore;
  /** Present whenever a job is priced (a priced provider cannot be built without one). */
  wallet: ProviderWallet | undefined;
  /** How long an invoice is valid and waited for. */
  paymentTimeoutSec: number;
  stopping: () => boolean;
  /** Re-parses a stored request (undefined when it no longer parses). */
  requestOf: (job: ProviderJob) => JobRequest | undefined;
  /** Whether a relay took the feedback. */
  feedback: (request: JobRequest, spec: JobFeedbackSpec) => Promise<boolean>;
  /** A paid job joins the run queue. */
  enqueue: (id: string, request: JobRequest) => void;
  log: (line: string) => void;
}

/**
 * The payment side of a priced provider: issues a job's invoice through the NWC wallet (with
 * `payment-required` feedback), and polls the jobs awaiting payment — a paid one is queued, an
 * overdue one expires once its customer has been told.
 *
 * @example
 * await payments.request(request, 1_000);
 * setInterval(() => void payments.poll(), 2_000);
 */
export class JobPayments {
  readonly #h: PaymentHost;
  /** Jobs whose invoice is being issued right now (the payment poll must not issue a second one). */
  readonly #invoicing = new Set<string>();
  /** Expired jobs whose notice no relay has taken yet (logged once, retried at every poll). */
  readonly #expiryUntold = new Set<string>();
  #polling = false;

  constructor(host: PaymentHost) {
    this.#h = host;
  }

  /** Issues the job's invoice and tells the customer; a wallet failure fails the job. */
  async request(request: JobRequest, priceMsats: number): Promise<void> {
    const h = this.#h;
    const expiry = h.paymentTimeoutSec;
    this.#invoicing.add(request.id);
    const inv = await h.wallet!.makeInvoice({
      amountMsats: priceMsats,
      description: `OpenAgents job ${request.id}`,
      expirySec: expiry,
    });
    this.#invoicing.delete(request.id);
    if (!inv.ok || !inv.value.invoice) {
      const why = inv.ok ? "the wallet returned no invoice" : inv.error.message;
      h.store.update(request.id, { state: "failed", error: `invoice: ${why}`, finishedAt: nowSec() });
      h.log(`job ${request.id.slice(0, 12)}: could not issue an invoice: ${why}`);
      await h.feedback(request, {
        status: "error",
        extraInfo: "the provider could not issue an invoice",
      });
      return;
    }
    h.store.update(request.id, {
      bolt11: inv.value.invoice,
      paymentHash: inv.value.paymentHash,
      payBy: nowSec() + expiry,
    });
    await h.feedback(request, {
      status: "payment-required",
      extraInfo: `pay ${priceMsats} msats to start`,
      amount: { msats: priceMsats, bolt11: inv.value.invoice },
    });
  }

  /** One pass over the jobs waiting for payment: start the paid ones, expire the overdue ones. */
  async poll(): Promise<void> {
    const h = this.#h;
    if (this.#polling || h.stopping()) return;
    this.#polling = true;
    try {
      for (const job of h.store.inStates(["awaiting-payment"])) {
        if (h.stopping()) return;
        const request = h.requestOf(job);
        if (!request || this.#invoicing.has(job.id)) continue;
        if (!job.paymentHash) {
          // Crashed between insert and invoice: issue it now rather than leave the job hanging.
          await this.request(request, job.priceMsats);
          continue;
        }
        const r = await h.wallet!.lookupInvoice({ paymentHash: job.paymentHash });
        if (h.store.get(job.id)?.state !== "awaiting-payment") continue; // cancelled meanwhile
        if (r.ok && r.value.paid) {
          h.store.update(job.id, { state: "queued", paidAt: nowSec() });
          h.log(`job ${job.id.slice(0, 12)} paid (${job.priceMsats} msats)`);
          h.enqueue(job.id, request);
        } else if (job.payBy !== null && nowSec() > job.payBy) {
          await this.#expire(job, request);
        }
      }
    } finally {
      this.#polling = false;
    }
  }

  async #expire(job: ProviderJob, request: JobRequest): Promise<void> {
    const h = this.#h;
    // Told first, recorded once a relay took the notice: after a crash or an outage it is sent
    // again (a harmless second copy), never lost with the job marked expired.
    const told = await h.feedback(request, {
      status: "error",
      extraInfo: "payment not received in time; job dropped",
    });
    if (!told) {
      if (!this.#expiryUntold.has(job.id))
        h.log(`job ${job.id.slice(0, 12)} expired unpaid; no relay took the notice yet, retrying`);
      this.#expiryUntold.add(job.id);
      return;
    }
    this.#expiryUntold.delete(job.id);
    if (h.store.get(job.id)?.state !== "awaiting-payment") return; // cancelled meanwhile
    h.store.update(job.id, { state: "expired", error: "not paid in time", finishedAt: nowSec() });
    h.log(`job ${job.id.slice(0, 12)} expired unpaid`);
  }
}
