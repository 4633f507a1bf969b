import { CreditsPanel } from "./credits-panel.tsx";
import { KeysPanel } from "./keys-panel.tsx";

/** Settings: the user's model keys, and what tasks cost them. */
export function SettingsPage() {
  return (
    <section class="stack narrow" data-testid="settings-page">
      <div class="page-head">
        <h1>Settings</h1>
      </div>
      <KeysPanel />
      <CreditsPanel />
    </section>
  );
}
