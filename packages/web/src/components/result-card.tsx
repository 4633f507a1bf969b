import type { ResultBody } from "@openagents/protocol";
import type { Outcome } from "../run-state.ts";

interface Props {
  result: ResultBody;
  outcome: Outcome | undefined;
  error: { code: string; message: string } | undefined;
}

/** The outcome of the last turn: summary, exit code, the error that stopped it, and the diffstat. */
export function ResultCard({ result, outcome, error }: Props) {
  const tone = result.ok ? "good" : outcome === "cancelled" ? "warn" : "bad";
  return (
    <section class={`card side-card result result-${tone}`} data-testid="result">
      <h2>{result.ok ? "Succeeded" : outcome === "cancelled" ? "Cancelled" : "Failed"}</h2>
      {result.summary && <p class="result-summary">{result.summary}</p>}
      {!result.ok && error && !result.summary.includes(error.message) && (
        <p class="small">
          <code>{error.code}</code> {error.message}
        </p>
      )}
      <dl class="kv">
        <div>
          <dt>Exit code</dt>
          <dd>{result.exitCode ?? "—"}</dd>
        </div>
        <div>
          <dt>Files changed</dt>
          <dd>
            {result.diffstat.filesChanged} (<span class="ins">+{result.diffstat.insertions}</span>{" "}
            <span class="del">−{result.diffstat.deletions}</span>)
          </dd>
        </div>
      </dl>
    </section>
  );
}
