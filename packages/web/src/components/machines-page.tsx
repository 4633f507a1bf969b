import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { isLive, type Machine } from "../machines.ts";
import { usePoll } from "../use-poll.ts";
import { MachineCard } from "./machine-card.tsx";
import { MachineTokenForm } from "./machine-token-form.tsx";

/** How often the page asks which machines are connected (only while the tab is visible). */
const POLL_MS = 3000;

/** "My machines": the machines that run tasks with `openagents connect`, and their tokens. */
export function MachinesPage() {
  const [machines, setMachines] = useState<Machine[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [now, setNow] = useState(Date.now());
  const [revoking, setRevoking] = useState<string | undefined>();

  const refresh = () =>
    api.listMachines().then(
      (list) => {
        // Connected first, then by name: the machines that can take work lead the list.
        const t = Date.now();
        const sorted = [...list].sort(
          (a, b) =>
            Number(isLive(b, t)) - Number(isLive(a, t)) ||
            (a.name ?? a.label).localeCompare(b.name ?? b.label),
        );
        setMachines(sorted);
        setNow(t);
        setError(undefined);
      },
      (e: Error) => setError(e.message),
    );
  usePoll(refresh, POLL_MS);

  const revoke = async (m: Machine) => {
    const what = m.name ?? m.label;
    const warning = m.running > 0 ? `\n\n${m.running} running task(s) on it will lose their machine.` : "";
    if (!confirm(`Revoke the token of “${what}”? The machine is disconnected at once.${warning}`)) return;
    setRevoking(m.id);
    try {
      await api.revokeMachineToken(m.id);
      await refresh();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setRevoking(undefined);
    }
  };

  const live = machines?.filter((m) => isLive(m, now)).length ?? 0;
  return (
    <section class="stack narrow" data-testid="machines-page">
      <div class="page-head">
        <h1>My machines</h1>
        {machines && machines.length > 0 && (
          <span class="muted" data-testid="machines-count">
            {live} of {machines.length} connected
          </span>
        )}
      </div>
      <p class="muted page-intro">
        Tasks that run on <strong>My machine</strong> use your computer: your repositories, your agents and
        keys, no container cost.
      </p>
      {error && (
        <p class="banner banner-bad" role="alert">
          Could not load machines: {error}
        </p>
      )}
      {machines === undefined && !error && <p class="muted">Loading…</p>}
      {machines?.length === 0 && (
        <div class="card empty">
          <h2>No machines yet</h2>
          <p class="muted">Create a token below, then run the command it shows on the machine.</p>
        </div>
      )}
      {machines && machines.length > 0 && (
        <ul class="machine-list" data-testid="machine-list">
          {machines.map((m) => (
            <MachineCard key={m.id} machine={m} now={now} onRevoke={revoke} revoking={revoking === m.id} />
          ))}
        </ul>
      )}
      <MachineTokenForm onCreated={() => void refresh()} />
    </section>
  );
}
