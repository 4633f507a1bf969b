import type { Phase } from "@openagents/protocol";
import { type Outcome, PHASE_ORDER } from "../run-state.ts";

interface Props {
  current: Phase | undefined;
  seen: readonly Phase[];
  outcome: Outcome | undefined;
}

const LABELS: Record<Phase, string> = {
  queued: "Queued",
  provisioning: "Provisioning",
  cloning: "Cloning",
  setup: "Setup",
  running: "Running",
  finalizing: "Finalizing",
};

/**
 * The task's phases as a row of steps: done, current (or where it failed), still ahead, or skipped
 * (a task without a setup command never enters `setup`).
 */
export function PhaseSteps({ current, seen, outcome }: Props) {
  const currentIndex = current ? PHASE_ORDER.indexOf(current) : -1;
  return (
    <ol class="phases" aria-label="Progress" data-testid="phases">
      {PHASE_ORDER.map((phase, i) => {
        let state = "ahead";
        if (phase === current) state = outcome ? (outcome === "succeeded" ? "done" : "stopped") : "current";
        else if (seen.includes(phase)) state = "done";
        else if (i < currentIndex) state = "skipped";
        return (
          <li
            key={phase}
            class={`phase phase-${state}`}
            aria-current={state === "current" ? "step" : undefined}
          >
            <span class="phase-dot" aria-hidden="true" />
            <span class="phase-label">{LABELS[phase]}</span>
          </li>
        );
      })}
      <li
        class={`phase phase-final phase-${outcome ? (outcome === "succeeded" ? "done" : "stopped") : "ahead"}`}
      >
        <span class="phase-dot" aria-hidden="true" />
        <span class="phase-label">{outcome ? outcome[0]!.toUpperCase() + outcome.slice(1) : "Done"}</span>
      </li>
    </ol>
  );
}
