import { useEffect, useState } from "preact/hooks";
import { api } from "../api.ts";
import type { GithubSignIn } from "../github-login.ts";

interface Props {
  error?: string;
  onLoggedIn: () => void;
}

/**
 * Sign-in with GitHub when the server offers it, and the API token that `openagents up` prints; both
 * end in a session cookie. GitHub's way is a full page load: the server sends the browser to GitHub,
 * which comes back through the server's callback (it sets the cookie) to `/`, where the app's
 * `GET /api/me` finds the session.
 */
export function LoginView({ error, onLoggedIn }: Props) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(error);
  const [github, setGithub] = useState<GithubSignIn | undefined>();

  useEffect(() => {
    // Without an answer there is no button: the token still works.
    api.githubSignIn().then(setGithub, () => setGithub(undefined));
  }, []);

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
        {github?.configured && (
          <>
            <a class="button primary wide" href={github.loginUrl} data-testid="github-login">
              Sign in with GitHub
            </a>
            <p class="login-or muted small">or use an API token</p>
          </>
        )}
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
        <button class={`button wide${github?.configured ? "" : " primary"}`} type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
