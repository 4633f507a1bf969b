import { useState } from "preact/hooks";
import { api } from "../api.ts";

interface Props {
  error?: string;
  onLoggedIn: () => void;
}

/** Asks for the API token that `openagents up` prints; the server answers with a session cookie. */
export function LoginView({ error, onLoggedIn }: Props) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(error);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (token.trim() === "") return setMessage("Paste your token first.");
    setBusy(true);
    try {
      await api.login(token.trim());
      onLoggedIn();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit}>
        <div class="login-brand">
          <img src="/favicon.svg" alt="" width={40} height={40} />
          <h1>OpenAgents Compute</h1>
        </div>
        <p class="muted">
          Paste the token that <code>openagents up</code> printed, or open the link it printed.
        </p>
        <label class="field">
          <span class="field-label">API token</span>
          <input
            type="password"
            name="token"
            autocomplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            aria-invalid={message ? true : undefined}
            aria-describedby={message ? "login-error" : undefined}
          />
        </label>
        {message && (
          <p class="field-error" id="login-error" role="alert">
            {message}
          </p>
        )}
        <button class="button primary wide" type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
