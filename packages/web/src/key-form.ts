/** The model providers a user can store a key for (the edge's `PROVIDERS`). */
export const PROVIDERS = ["anthropic", "openai"] as const;
export type Provider = (typeof PROVIDERS)[number];

export const PROVIDER_LABELS: Record<Provider, string> = {
  anthropic: "Anthropic (Claude Code)",
  openai: "OpenAI (Codex)",
};

export interface KeyFormValues {
  provider: Provider;
  key: string;
  label: string;
}

/** Limits the edge enforces on `POST /api/keys`, checked here first so the key is not sent in vain. */
export const MAX_KEY_CHARS = 512;
export const MAX_LABEL_CHARS = 80;

/**
 * Checks the add-key form the way the edge will, and gives back the body to send. A pasted key often
 * carries a trailing newline or space: those are trimmed, not refused. The messages never quote the key.
 *
 * @example
 * validateKeyForm({ provider: "anthropic", key: " sk-ant-abc12345\n", label: "" }).body;
 * // { provider: "anthropic", key: "sk-ant-abc12345" }
 */
export function validateKeyForm(v: KeyFormValues): {
  body?: { provider: Provider; key: string; label?: string };
  errors: Partial<Record<keyof KeyFormValues, string>>;
  /** Not an error: the key does not look like the provider's (the user may have picked the wrong one). */
  warning?: string;
} {
  const errors: Partial<Record<keyof KeyFormValues, string>> = {};
  const key = v.key.trim();
  const label = v.label.trim();
  if (!(PROVIDERS as readonly string[]).includes(v.provider)) errors.provider = "Choose a provider";
  if (key === "") errors.key = "Paste the API key";
  else if (!/^[\x21-\x7e]+$/.test(key)) errors.key = "The key has spaces or characters an API key never has";
  else if (key.length < 8 || key.length > MAX_KEY_CHARS)
    errors.key = `An API key is 8 to ${MAX_KEY_CHARS} characters long`;
  if (label.length > MAX_LABEL_CHARS) errors.label = `At most ${MAX_LABEL_CHARS} characters`;
  if (Object.keys(errors).length > 0) return { errors };
  const body: { provider: Provider; key: string; label?: string } = { provider: v.provider, key };
  if (label !== "") body.label = label;
  const warning = keyWarning(v.provider, key);
  return warning ? { body, errors, warning } : { body, errors };
}

function keyWarning(provider: Provider, key: string): string | undefined {
  if (provider === "anthropic" && !key.startsWith("sk-ant-"))
    return "Anthropic keys usually start with sk-ant-. Check the provider.";
  if (provider === "openai" && (!key.startsWith("sk-") || key.startsWith("sk-ant-")))
    return "OpenAI keys usually start with sk- (and not sk-ant-). Check the provider.";
  return undefined;
}
