import { formatCost, formatCount } from "../format.ts";
import type { UsageTotals } from "../run-state.ts";

/** Tokens and cost of the task so far, summed over its agent turns. */
export function UsageCard({ usage }: { usage: UsageTotals }) {
  if (usage.reports === 0) return null;
  const rows: Array<[string, string]> = [
    ["Input tokens", formatCount(usage.inputTokens)],
    ["Output tokens", formatCount(usage.outputTokens)],
  ];
  if (usage.cacheReadTokens > 0) rows.push(["Cache read", formatCount(usage.cacheReadTokens)]);
  if (usage.cacheWriteTokens > 0) rows.push(["Cache write", formatCount(usage.cacheWriteTokens)]);
  rows.push(["Cost", formatCost(usage.costUsd)]);
  return (
    <section class="card side-card" data-testid="usage">
      <h2>Usage</h2>
      <dl class="kv">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {usage.models.length > 0 && <p class="muted small">{usage.models.join(", ")}</p>}
    </section>
  );
}
