import type { Task } from "@openagents/protocol";
import { useEffect, useState } from "preact/hooks";
import { api, type CostEstimate as Estimate } from "../api.ts";
import { estimateDetail, formatCredits } from "../credits.ts";
import { routeHref } from "../routes.ts";

/** Wait this long after the last keystroke before asking the edge for an estimate. */
const DEBOUNCE_MS = 500;

/**
 * What the task in the form should cost, asked of the edge (`POST /api/credits/estimate`) once the
 * user stops typing; a task the balance or a budget would refuse says so before "Start task".
 */
export function CostEstimate({ task }: { task: Task | undefined }) {
  const [estimate, setEstimate] = useState<Estimate | undefined>();
  const [error, setError] = useState<string | undefined>();
  // The task as a string: a new object with the same content must not ask again.
  const key = task && task.compute !== "tunnel" ? JSON.stringify(task) : "";

  useEffect(() => {
    if (key === "") return;
    let stale = false;
    const timer = setTimeout(() => {
      api.estimate(JSON.parse(key) as Task).then(
        (e) => {
          if (stale) return;
          setEstimate(e);
          setError(undefined);
        },
        (e: Error) => !stale && setError(e.message),
      );
    }, DEBOUNCE_MS);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [key]);

  if (task?.compute === "tunnel") {
    return (
      <p class="estimate muted small" data-testid="estimate">
        Runs on your machine with its own agents and keys: no credits are spent.
      </p>
    );
  }
  if (key === "" || (!estimate && !error)) return null;
  if (error) {
    return (
      <p class="estimate muted small" data-testid="estimate">
        No cost estimate: {error}
      </p>
    );
  }
  const e = estimate as Estimate;
  const detail = estimateDetail(e);
  if (!e.allowed) {
    // In dollars, like the rest of the page (the server's reason counts credits).
    const why =
      e.balance < e.credits
        ? `your balance is ${formatCredits(e.balance)}`
        : `your daily/weekly budget leaves ${formatCredits(e.spendable)}`;
    return (
      <div
        class="banner banner-bad estimate"
        role="alert"
        data-testid="estimate"
        data-allowed="false"
        title={e.reason}
      >
        <strong>Not enough credits for this task.</strong> It is estimated at up to {formatCredits(e.credits)}{" "}
        and {why}. <a href={routeHref({ page: "settings" })}>Credits and budgets</a>
      </div>
    );
  }
  return (
    <p class="estimate small" data-testid="estimate" data-allowed="true">
      <span>
        Estimated cost: <strong>at most {formatCredits(e.credits)}</strong>
        {detail && <span class="muted"> ({detail})</span>}
      </span>
      <span class="muted">
        {e.metered ? `Balance ${formatCredits(e.balance)}` : "Not billed on this account"}
      </span>
    </p>
  );
}
