import { useState } from "preact/hooks";
import { api, type ContainerState } from "../api.ts";
import { usePoll } from "../use-poll.ts";

const LABELS: Record<ContainerState, string> = {
  cold: "Container cold",
  starting: "Container starting",
  running: "Container running",
  sleeping: "Container sleeping",
};

const HINTS: Record<ContainerState, string> = {
  cold: "No container yet: the next task starts one (a cold start takes a little longer).",
  starting: "The container is starting.",
  running: "The container is up and takes tasks at once.",
  sleeping: "The container went idle and sleeps; the next task wakes it.",
};

/** The user's cloud container: cold, starting, running or sleeping; polled while the tab is visible. */
export function ContainerBadge() {
  const [state, setState] = useState<ContainerState | undefined>();
  const [failed, setFailed] = useState(false);
  usePoll(
    () =>
      api.containerState().then(
        (s) => {
          setState(s);
          setFailed(false);
        },
        () => setFailed(true),
      ),
    state === "starting" ? 2000 : 8000,
  );
  if (state === undefined) {
    return failed ? <span class="badge badge-unknown">Container unknown</span> : null;
  }
  return (
    <span class={`badge badge-${state}`} title={HINTS[state]} data-testid="container-badge">
      <span class="dot" aria-hidden="true" />
      <span class="badge-long">{LABELS[state]}</span>
      <span class="badge-short">{state}</span>
    </span>
  );
}
