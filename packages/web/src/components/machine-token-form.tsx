import { useState } from "preact/hooks";
import { ApiError, api } from "../api.ts";
import { CopyButton } from "./copy-button.tsx";
import { Field } from "./field.tsx";

interface Created {
  label: string;
  token: string;
  command: string;
}

/**
 * Creates a machine token. Its secret and the `openagents connect` command are shown once, right
 * here; the page keeps them only until the user dismisses them or leaves.
 */
export function MachineTokenForm({ onCreated }: { onCreated: () => void }) {
  const [label, setLabel] = useState("");
  const [repos, setRepos] = useState("");
  const [maxTasks, setMaxTasks] = useState("4");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: string; message: string } | undefined>();
  const [created, setCreated] = useState<Created | undefined>();

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const allowRepos = repos.split(/[\s,]+/).filter((r) => r !== "");
    const max = Number(maxTasks.trim());
    if (!Number.isInteger(max) || max < 1) {
      setError({ field: "maxTasks", message: "A whole number, 1 or more" });
      return;
    }
    const init: { label?: string; allowRepos?: string[]; maxTasks: number } = { maxTasks: max };
    if (label.trim() !== "") init.label = label.trim();
    if (allowRepos.length > 0) init.allowRepos = allowRepos;
    setBusy(true);
    try {
      const t = await api.createMachineToken(init);
      setCreated({ label: t.label, token: t.token, command: t.command });
      setLabel("");
      setRepos("");
      onCreated();
    } catch (err) {
      const field = err instanceof ApiError && err.path ? err.path : "";
      setError({ field, message: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  const err = (field: string) => (error?.field === field ? error.message : undefined);

  if (created) {
    return (
      <section class="card side-card secret-once" data-testid="token-created" aria-live="polite">
        <h2>Connect “{created.label}”</h2>
        <p>
          Run this on the machine. <strong>It is shown only once</strong>: the token cannot be read again,
          only revoked.
        </p>
        <div class="secret-row">
          <code class="secret" data-testid="connect-command">
            {created.command}
          </code>
          <CopyButton text={created.command} label="Copy command" />
        </div>
        <details class="advanced">
          <summary>The token alone</summary>
          <div class="secret-row">
            <code class="secret">{created.token}</code>
            <CopyButton text={created.token} />
          </div>
        </details>
        <div class="form-actions">
          <button class="button" type="button" onClick={() => setCreated(undefined)}>
            Done, I copied it
          </button>
        </div>
      </section>
    );
  }

  return (
    <form class="card form" onSubmit={submit} noValidate data-testid="token-form">
      <h2>Add a machine</h2>
      <p class="muted small">
        A token lets one machine run your tasks with <code>openagents connect</code>. Revoking it disconnects
        the machine at once.
      </p>
      <div class="row-2">
        <Field label="Name" id="m-label" error={err("label")} hint="Empty: “machine”.">
          <input
            id="m-label"
            name="label"
            type="text"
            autocomplete="off"
            maxLength={64}
            placeholder="laptop"
            value={label}
            onInput={(e) => setLabel(e.currentTarget.value)}
          />
        </Field>
        <Field label="Tasks at once" id="m-max" error={err("maxTasks")}>
          <input
            id="m-max"
            name="maxTasks"
            type="text"
            inputMode="numeric"
            value={maxTasks}
            onInput={(e) => setMaxTasks(e.currentTarget.value)}
          />
        </Field>
      </div>
      <Field
        label="Repositories it may run"
        id="m-repos"
        error={err("allowRepos")}
        hint="Patterns separated by spaces or commas, e.g. https://github.com/me/*. Empty: any repository."
      >
        <input
          id="m-repos"
          name="allowRepos"
          type="text"
          autocomplete="off"
          spellcheck={false}
          placeholder="**"
          value={repos}
          onInput={(e) => setRepos(e.currentTarget.value)}
        />
      </Field>
      {error && error.field === "" && (
        <p class="banner banner-bad" role="alert">
          {error.message}
        </p>
      )}
      <div class="form-actions">
        <button class="button primary" type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create token"}
        </button>
      </div>
    </form>
  );
}
