import { ErrorCode } from "@openagents/protocol";
import { billTask, type TaskCharge } from "./billing.ts";
import { isEnded } from "./db/tasks.ts";
import type { TaskHost, TaskMeta } from "./task-meta.ts";

/**
 * A task's billing hook: bills usage to the owner's credits (billing.ts), in order and off the hot
 * path. When the credits or the budget run out, the running task is stopped: a system log line says
 * so at once, the runner is cancelled, and its `cancelled` error and result are reported as an
 * `insufficient_credits` error and a failed result (`meta.stopError`, task-turn.ts), so the task
 * ends `error`, then `result{ok:false}`, with status `failed`. A task the user is already
 * cancelling is left to that cancel.
 *
 * @example
 * const billing = new TaskBilling(host);
 * billing.bill(meta, { seconds: 42 });
 */
export class TaskBilling {
  readonly #host: TaskHost;
  #chain: Promise<void> = Promise.resolve();

  constructor(host: TaskHost) {
    this.#host = host;
  }

  bill(meta: TaskMeta, charge: TaskCharge): void {
    const host = this.#host;
    const { id, owner } = meta;
    this.#chain = this.#chain
      .then(() => billTask(host.env, owner, id, charge))
      .then(async (billed) => {
        const now = host.meta();
        if (!billed.exhausted || !now || isEnded(now.status) || now.cancelRequested || now.stopError) return;
        now.stopError = { code: ErrorCode.InsufficientCredits, message: billed.message };
        host.commit(now, { type: "log", stream: "system", text: `stopping: ${billed.message}` });
        await host.cancel();
      })
      .catch((e) => console.error(`task ${id}: billing failed: ${(e as Error).message}`));
  }
}
