const TONES: Record<string, string> = {
  queued: "neutral",
  provisioning: "info",
  cloning: "info",
  setup: "info",
  running: "info",
  finalizing: "info",
  succeeded: "good",
  failed: "bad",
  cancelled: "warn",
};

/** A task's status (or current phase) as a coloured pill; unknown statuses show in neutral. */
export function StatusPill({ status }: { status: string }) {
  const tone = TONES[status] ?? "neutral";
  const live = tone === "info";
  return (
    <span class={`pill pill-${tone}`} data-status={status}>
      {live && <span class="pulse" aria-hidden="true" />}
      {status}
    </span>
  );
}
