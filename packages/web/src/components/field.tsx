import type { ComponentChildren } from "preact";

interface Props {
  label: string;
  /** The id of the control inside, so the label and the error are tied to it. */
  id: string;
  error?: string;
  hint?: ComponentChildren;
  children: ComponentChildren;
}

/** A labelled form control with its hint and its validation error. */
export function Field({ label, id, error, hint, children }: Props) {
  return (
    <div class={`field${error ? " has-error" : ""}`}>
      <label class="field-label" for={id}>
        {label}
      </label>
      {children}
      {error ? (
        <p class="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      ) : (
        hint && <p class="field-hint">{hint}</p>
      )}
    </div>
  );
}
