import { useEffect, useState } from "preact/hooks";
import { ApiError, api, type KeyTest, type StoredKey } from "../api.ts";
import { formatAgo } from "../format.ts";
import {
  type KeyFormValues,
  PROVIDER_LABELS,
  PROVIDERS,
  type Provider,
  validateKeyForm,
} from "../key-form.ts";
import { Field } from "./field.tsx";

const providerLabel = (p: string) => (PROVIDER_LABELS as Record<string, string>)[p] ?? p;

/** Bring your own key: add (write-only), list masked, test and delete the user's model API keys. */
export function KeysPanel() {
  const [keys, setKeys] = useState<StoredKey[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [form, setForm] = useState<KeyFormValues>({ provider: "anthropic", key: "", label: "" });
  const [errors, setErrors] = useState<Partial<Record<keyof KeyFormValues, string>>>({});
  const [failure, setFailure] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [tests, setTests] = useState<Record<string, KeyTest | "testing" | { error: string }>>({});
  const [deleting, setDeleting] = useState<string | undefined>();

  const load = () =>
    api.listKeys().then(
      (list) => {
        setKeys(list);
        setLoadError(undefined);
      },
      (e: Error) => setLoadError(e.message),
    );
  useEffect(() => void load(), []);

  const warning = form.key.trim() === "" ? undefined : validateKeyForm(form).warning;

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    const { body, errors: errs } = validateKeyForm(form);
    setErrors(errs);
    if (!body) return;
    setBusy(true);
    try {
      await api.addKey(body);
      // The key leaves the page's state as soon as the server has it: it is never shown again.
      setForm({ provider: form.provider, key: "", label: "" });
      await load();
    } catch (err) {
      if (err instanceof ApiError && (err.path === "key" || err.path === "label" || err.path === "provider"))
        setErrors({ [err.path]: err.message });
      else setFailure(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const test = async (k: StoredKey) => {
    setTests((t) => ({ ...t, [k.id]: "testing" }));
    try {
      const r = await api.testKey(k.id);
      setTests((t) => ({ ...t, [k.id]: r }));
      setKeys((list) => list?.map((x) => (x.id === k.id ? { ...x, lastUsed: r.lastUsed ?? x.lastUsed } : x)));
    } catch (err) {
      setTests((t) => ({ ...t, [k.id]: { error: err instanceof Error ? err.message : String(err) } }));
    }
  };

  const remove = async (k: StoredKey) => {
    if (!confirm(`Delete the ${providerLabel(k.provider)} key “${k.label}” (…${k.last4})?`)) return;
    setDeleting(k.id);
    try {
      await api.deleteKey(k.id);
      await load();
    } catch (err) {
      setFailure(err instanceof Error ? err.message : String(err));
    } finally {
      setDeleting(undefined);
    }
  };

  return (
    <section class="card" data-testid="keys-panel">
      <div class="card-head">
        <h2>API keys</h2>
        <span class="muted small">Your own key pays the model instead of credits</span>
      </div>
      {loadError && (
        <p class="banner banner-bad pad" role="alert">
          Could not load keys: {loadError}
        </p>
      )}
      {keys?.length === 0 && <p class="muted pad">No keys stored. Tasks use platform credits.</p>}
      {keys && keys.length > 0 && (
        <ul class="key-list" data-testid="key-list">
          {keys.map((k) => {
            const t = tests[k.id];
            return (
              <li key={k.id} class="key-row" data-testid="key">
                <div class="key-what">
                  <strong>{k.label}</strong>
                  <span class="muted small">
                    {providerLabel(k.provider)} · <code>…{k.last4}</code>
                  </span>
                  <span class="muted small">
                    Added {formatAgo(k.created)} ·{" "}
                    {k.lastUsed ? `last used ${formatAgo(k.lastUsed)}` : "never used"}
                  </span>
                  {t && t !== "testing" && (
                    <span
                      class={`small ${"error" in t || !t.ok ? "del" : "ins"}`}
                      data-testid="key-test"
                      role="status"
                    >
                      {"error" in t
                        ? t.error
                        : t.ok
                          ? `Works${t.message ? `: ${t.message}` : ""}`
                          : `Refused: ${t.message}`}
                    </span>
                  )}
                </div>
                <div class="key-actions">
                  <button class="button" type="button" disabled={t === "testing"} onClick={() => test(k)}>
                    {t === "testing" ? "Testing…" : "Test"}
                  </button>
                  <button
                    class="button danger"
                    type="button"
                    disabled={deleting === k.id}
                    onClick={() => remove(k)}
                  >
                    Delete
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <form class="form key-form" onSubmit={submit} noValidate data-testid="key-form">
        <div class="row-2">
          <Field label="Provider" id="k-provider" error={errors.provider}>
            <select
              id="k-provider"
              name="provider"
              value={form.provider}
              onChange={(e) => setForm({ ...form, provider: e.currentTarget.value as Provider })}
            >
              {PROVIDERS.map((p) => (
                <option key={p} value={p}>
                  {PROVIDER_LABELS[p]}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Label" id="k-label" error={errors.label} hint="Optional, e.g. “work”.">
            <input
              id="k-label"
              name="label"
              type="text"
              autocomplete="off"
              maxLength={80}
              value={form.label}
              onInput={(e) => setForm({ ...form, label: e.currentTarget.value })}
            />
          </Field>
        </div>
        <Field
          label="API key"
          id="k-key"
          error={errors.key}
          hint={warning ?? "Stored encrypted; it is never shown again, only its last four characters."}
        >
          <input
            id="k-key"
            name="key"
            type="password"
            autocomplete="off"
            spellcheck={false}
            placeholder={form.provider === "anthropic" ? "sk-ant-…" : "sk-…"}
            value={form.key}
            aria-invalid={errors.key ? true : undefined}
            onInput={(e) => setForm({ ...form, key: e.currentTarget.value })}
          />
        </Field>
        {failure && (
          <p class="banner banner-bad" role="alert">
            {failure}
          </p>
        )}
        <div class="form-actions">
          <button class="button primary" type="submit" disabled={busy}>
            {busy ? "Saving…" : "Add key"}
          </button>
        </div>
      </form>
    </section>
  );
}
