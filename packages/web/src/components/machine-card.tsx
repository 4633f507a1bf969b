import { formatAgo } from "../format.ts";
import {
  heartbeatLabel,
  loadFraction,
  loadLabel,
  type Machine,
  machineStatus,
  reposLabel,
} from "../machines.ts";
import { routeHref } from "../routes.ts";
import { AGENT_LABELS } from "../task-form.ts";

const agentLabel = (a: string) => (AGENT_LABELS as Record<string, string>)[a] ?? a;

/** One machine token and the machine behind it: status, capabilities, load, and revoke. */
export function MachineCard({
  machine: m,
  now,
  onRevoke,
  revoking,
}: {
  machine: Machine;
  now: number;
  onRevoke: (m: Machine) => void;
  revoking: boolean;
}) {
  const status = machineStatus(m, now);
  const live = status.state === "connected";
  const title = m.name && m.name !== m.label ? `${m.name} (${m.label})` : (m.name ?? m.label);
  return (
    <li class="card machine" data-testid="machine" data-machine={m.name ?? ""} data-state={status.state}>
      <div class="machine-head">
        <span class={`pill pill-plain pill-${status.tone}`} data-testid="machine-status">
          {live && <span class="pulse" aria-hidden="true" />}
          {status.label}
        </span>
        <h2 class="machine-name">{title}</h2>
        <button
          class="button danger small-button"
          type="button"
          disabled={revoking}
          onClick={() => onRevoke(m)}
        >
          {revoking ? "Revoking…" : "Revoke"}
        </button>
      </div>
      <p class="muted small machine-seen">{heartbeatLabel(m, now)}</p>
      <dl class="machine-facts">
        <div>
          <dt>Load</dt>
          <dd>
            <span class="meter" aria-hidden="true">
              <span style={{ width: `${Math.round(loadFraction(m) * 100)}%` }} />
            </span>
            <span data-testid="machine-load">{loadLabel(m)}</span>
          </dd>
        </div>
        <div>
          <dt>Agents</dt>
          <dd>{m.agents.length > 0 ? m.agents.map(agentLabel).join(", ") : "—"}</dd>
        </div>
        <div>
          <dt>Repositories</dt>
          <dd class={m.policy.allowRepos.includes("**") ? "" : "mono-list"}>
            {reposLabel(m.policy.allowRepos)}
          </dd>
        </div>
        {m.claimed && m.claimed.allowDirs.length > 0 && (
          <div>
            <dt>Local folders</dt>
            <dd class="mono-list">{m.claimed.allowDirs.join(", ")}</dd>
          </div>
        )}
        <div>
          <dt>Token</dt>
          <dd>
            created {formatAgo(m.created, now)}
            {m.lastUsed ? `, last used ${formatAgo(m.lastUsed, now)}` : ", never used"}
          </dd>
        </div>
      </dl>
      {m.tasks.length > 0 && (
        <p class="small machine-tasks">
          Running:{" "}
          {m.tasks.map((id, i) => (
            <span key={id}>
              {i > 0 && ", "}
              <a href={routeHref({ page: "task", id })}>{id}</a>
            </span>
          ))}
        </p>
      )}
    </li>
  );
}
