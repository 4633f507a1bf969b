const hex = (bytes: ArrayBuffer | Uint8Array): string =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * A random secret for tokens and session ids: 32 bytes, hex, with a readable prefix.
 *
 * @example
 * const token = randomToken("oa_"); // "oa_5f2c…"
 */
export const randomToken = (prefix = ""): string => prefix + hex(crypto.getRandomValues(new Uint8Array(32)));

/**
 * SHA-256 of a secret, hex. Tokens and sessions are stored only as this hash, so a leaked
 * database row cannot be replayed as a credential.
 *
 * @example
 * await sha256Hex("oa_…"); // "9b74…"
 */
export async function sha256Hex(value: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)));
}

/** A new task id: `t_` and 24 hex digits (96 random bits). */
export const newTaskId = (): string => `t_${hex(crypto.getRandomValues(new Uint8Array(12)))}`;

/** True for strings shaped like `newTaskId()` output; anything else cannot name a task. */
export const isTaskId = (value: string): boolean => /^t_[0-9a-f]{24}$/.test(value);
