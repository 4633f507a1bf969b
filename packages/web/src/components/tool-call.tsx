import { useState } from "preact/hooks";
import { formatToolInput, toolSummary } from "../format.ts";
import type { ToolItem } from "../run-state.ts";

/** Output past this many characters is cut until the user asks for all of it. */
const OUTPUT_PREVIEW = 4000;

/** One tool call, collapsed to a line; open it for the input and the output. */
export function ToolCall({ item }: { item: ToolItem }) {
  const [open, setOpen] = useState(false);
  const [full, setFull] = useState(false);
  const state = !item.done
    ? "running"
    : item.isError
      ? "error"
      : item.output === undefined
        ? "no-result"
        : "ok";
  const output = item.output ?? "";
  const shown = full ? output : output.slice(0, OUTPUT_PREVIEW);
  return (
    <details class={`tool tool-${state}`} open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        <span class="tool-icon" aria-hidden="true" />
        <span class="tool-summary">{toolSummary(item.tool, item.input)}</span>
        <span class="tool-state">
          {state === "running"
            ? "running"
            : state === "error"
              ? "error"
              : state === "no-result"
                ? "no result"
                : ""}
        </span>
      </summary>
      {open && (
        <div class="tool-body">
          {item.input !== undefined && (
            <>
              <div class="tool-head">Input</div>
              <pre>{formatToolInput(item.input)}</pre>
            </>
          )}
          {item.output !== undefined && (
            <>
              <div class="tool-head">{item.isError ? "Error" : "Output"}</div>
              <pre>{shown || "(empty)"}</pre>
              {output.length > OUTPUT_PREVIEW && !full && (
                <button type="button" class="link" onClick={() => setFull(true)}>
                  Show all {output.length.toLocaleString()} characters
                </button>
              )}
            </>
          )}
        </div>
      )}
    </details>
  );
}
