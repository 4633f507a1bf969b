import type { Task } from "@openagents/protocol";
import { useState } from "preact/hooks";
import type { TaskRecord } from "../api.ts";
import { formatSeconds } from "../format.ts";
import { AGENT_LABELS } from "../task-form.ts";

const PREVIEW_CHARS = 280;

/** What the task was asked to do: repository, ref, agent, network, and the prompt or script. */
export function TaskDetails({ record }: { record: TaskRecord }) {
  const [full, setFull] = useState(false);
  const task: Partial<Task> = record.task ?? {};
  const seconds = record.usage?.containerSeconds;
  const text = task.prompt ?? task.script ?? "";
  const rows: Array<[string, string]> = [
    ["Agent", (AGENT_LABELS as Record<string, string>)[record.agent] ?? record.agent],
    ["Ref", task.ref ?? "default branch"],
    ["Runs on", record.compute === "cloud" ? "Cloud container" : record.compute],
    [
      "Network",
      task.network
        ? `${task.network.mode}${task.network.allow ? `: ${task.network.allow.join(", ")}` : ""}`
        : "none",
    ],
    ["Started", record.createdAt ? new Date(record.createdAt).toLocaleString() : "—"],
    ["Task id", record.id],
  ];
  if (seconds !== undefined && seconds > 0) rows.splice(5, 0, ["Container time", formatSeconds(seconds)]);
  return (
    <section class="card side-card" data-testid="details">
      <h2>Task</h2>
      <dl class="kv">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd class={k === "Task id" ? "mono small" : ""}>{v}</dd>
          </div>
        ))}
      </dl>
      {text && (
        <div class="instructions">
          <div class="field-label">{task.script !== undefined ? "Script" : "Prompt"}</div>
          <pre class={task.script !== undefined ? "mono" : "prose"}>
            {full || text.length <= PREVIEW_CHARS ? text : `${text.slice(0, PREVIEW_CHARS)}…`}
          </pre>
          {text.length > PREVIEW_CHARS && (
            <button type="button" class="link" onClick={() => setFull(!full)}>
              {full ? "Show less" : "Show all"}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
