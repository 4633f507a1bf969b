import { type NostrEvent, nowSec } from "../event.ts";
import type { JobResultContent } from "../job-types.ts";
import type { JobRequest } from "../nip90.ts";
import { buildJobFeedback, buildJobResult } from "../nip90-responses.ts";
import type { JobStore, ProviderJob } from "./job-store.ts";

/**
 * What the provider lends its result delivery; a plain object, so delivery sees only what it needs.
 *
 * @example
 * const delivery = new ResultDelivery({ store, secretKey, stopping: () => false, publish, log });
 */
export interface DeliveryHost {
  store: JobStore;
  secretKey: Uint8Array;
  stopping: () => boolean;
  /** Whether a relay took the event. */
  publish: (ev: NostrEvent) => Promise<boolean>;
  log: (line: string) => void;
}

/**
 * A finished job's way out: its result event (and, when it failed, an error feedback) is built and
 * stored first — the job is `delivering` from then on, so a restart publishes the same events —
 * then published until a relay acknowledges it (a relay may be restarting).
 *
 * @example
 * const unbuilt = delivery.stage(job, request, content);
 * if (unbuilt === null) await delivery.deliver(job.id);
 */
export class ResultDelivery {
  readonly #h: DeliveryHost;
  /** Retry waits and how to end each early; `stop` ends them all. */
  readonly #waits = new Map<ReturnType<typeof setTimeout>, () => void>();

  constructor(host: DeliveryHost) {
    this.#h = host;
  }

  /** Builds and stores the job's result events; returns why not when the result could not be built. */
  stage(job: ProviderJob, request: JobRequest, content: JobResultContent): string | null {
    const h = this.#h;
    const result = buildJobResult(
      request,
      {
        content: JSON.stringify(content),
        ...(job.priceMsats > 0 ? { amount: { msats: job.priceMsats } } : {}),
      },
      h.secretKey,
    );
    if (!result.ok) return result.error.message;
    const errorEvent = content.ok
      ? undefined
      : buildJobFeedback(request, { status: "error", extraInfo: content.summary.slice(0, 500) }, h.secretKey);
    h.store.update(job.id, {
      state: "delivering",
      ok: content.ok,
      exitCode: content.exitCode,
      summary: content.summary.slice(0, 2_000),
      resultEvent: JSON.stringify(result.value),
      errorEvent: errorEvent?.ok ? JSON.stringify(errorEvent.value) : null,
    });
    return null;
  }

  /** Publishes a stored result until a relay acknowledges it (a relay may be restarting). */
  async deliver(id: string, attempt = 0): Promise<void> {
    const h = this.#h;
    const job = h.store.get(id);
    if (!job?.resultEvent || job.state !== "delivering" || h.stopping()) return;
    if (job.errorEvent) await h.publish(JSON.parse(job.errorEvent) as NostrEvent);
    if (await h.publish(JSON.parse(job.resultEvent) as NostrEvent)) {
      h.store.update(id, { state: job.ok ? "done" : "failed", finishedAt: nowSec() });
      h.log(`job ${id.slice(0, 12)} ${job.ok ? "done" : "failed"}: ${job.summary ?? ""}`.trim());
      return;
    }
    if (h.stopping()) return;
    const delay = Math.min(10_000, 500 * 2 ** attempt);
    h.log(`job ${id.slice(0, 12)}: no relay took the result; retrying in ${delay} ms`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#waits.delete(t);
        resolve();
      }, delay);
      this.#waits.set(t, resolve);
    });
    // Woken by `stop`: the job stays `delivering` and a restart delivers it.
    await this.deliver(id, attempt + 1);
  }

  /**
   * Ends the retry waits at once (the provider is stopping; a restart delivers again), so that the
   * deliveries waiting on them settle and `Provider.stop` does not wait for them.
   */
  stop(): void {
    for (const [t, wake] of this.#waits) {
      clearTimeout(t);
      wake();
    }
    this.#waits.clear();
  }
}
