import { useState } from "preact/hooks";
import { formatClock } from "../format.ts";
import type { TimelineItem } from "../run-state.ts";
import { ToolCall } from "./tool-call.tsx";

/** Items rendered at first; older ones come on request, so a long run keeps a light page. */
const PAGE = 200;

const PHASE_TEXT: Record<string, string> = {
  queued: "Queued",
  provisioning: "Provisioning the runner",
  cloning: "Cloning",
  setup: "Running the setup command",
  running: "Agent running",
  finalizing: "Collecting the changes",
};

function Item({ item }: { item: TimelineItem }) {
  switch (item.kind) {
    case "status":
      return (
        <div class="tl-status">
          <span>{PHASE_TEXT[item.phase] ?? item.phase}</span>
          {item.message && <span class="muted"> · {item.message}</span>}
        </div>
      );
    case "message":
      return <div class="tl-message">{item.text}</div>;
    case "thinking":
      return (
        <details class="tl-thinking">
          <summary>Thinking</summary>
          <p>{item.text}</p>
        </details>
      );
    case "tool":
      return <ToolCall item={item} />;
    case "error":
      return (
        <div class="tl-error" role="alert">
          <strong>{item.code}</strong> {item.message}
        </div>
      );
    case "result":
      return (
        <div class={`tl-result ${item.ok ? "ok" : "bad"}`}>
          <strong>{item.ok ? "Finished" : "Failed"}</strong>
          {item.exitCode !== null && <span class="muted"> · exit {item.exitCode}</span>}
          {item.diffstat.filesChanged > 0 && (
            <span class="muted">
              {" "}
              · {item.diffstat.filesChanged} files, +{item.diffstat.insertions} −{item.diffstat.deletions}
            </span>
          )}
          {item.summary && <div class="tl-summary">{item.summary}</div>}
        </div>
      );
  }
}

/** What the task did, in order: phases, agent messages, tool calls (collapsed), errors, results. */
export function Timeline({ items }: { items: readonly TimelineItem[]; version: number }) {
  const [shown, setShown] = useState(PAGE);
  const start = Math.max(0, items.length - shown);
  if (items.length === 0) return <p class="muted">Waiting for the first event…</p>;
  return (
    <div class="timeline" data-testid="timeline">
      {start > 0 && (
        <button type="button" class="link" onClick={() => setShown(shown + PAGE)}>
          Show {Math.min(PAGE, start)} earlier of {start}
        </button>
      )}
      {items.slice(start).map((item) => (
        <div class={`tl-item tl-${item.kind}-row`} key={item.seq}>
          <time class="tl-time" dateTime={item.time}>
            {formatClock(item.time)}
          </time>
          <div class="tl-body">
            <Item item={item} />
          </div>
        </div>
      ))}
    </div>
  );
}
