import { useState } from "preact/hooks";
import { api } from "../api.ts";

interface Props {
  taskId: string;
  /** False while a turn is running: the server takes a follow-up only after the result. */
  ready: boolean;
  /** Called once the server accepted the message (the view then follows the new turn). */
  onSent: () => void;
}

/** A follow-up instruction for the agent, continuing in the same workspace. */
export function FollowUpBox({ taskId, ready, onSent }: Props) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();

  const submit = async (e: Event) => {
    e.preventDefault();
    if (text.trim() === "") return setError("Write a message first.");
    setBusy(true);
    setError(undefined);
    try {
      await api.sendMessage(taskId, text);
      setText("");
      onSent();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card follow-up" onSubmit={submit} data-testid="follow-up">
      <label class="field-label" for="follow-up-text">
        Follow-up
      </label>
      <textarea
        id="follow-up-text"
        rows={3}
        placeholder={ready ? "Ask for a change to the result…" : "You can reply once this turn has finished."}
        value={text}
        disabled={!ready || busy}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) void submit(e);
        }}
      />
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <div class="form-actions">
        <button class="button primary" type="submit" disabled={!ready || busy}>
          {busy ? "Sending…" : "Send"}
        </button>
      </div>
    </form>
  );
}
