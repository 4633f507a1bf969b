import type { LogStream } from "@openagents/protocol";

/** Most warnings a task view keeps (a runner sends one or two; a flood must not grow the page). */
export const MAX_WARNINGS = 5;

/**
 * The text of a runner warning, or `undefined`: a `system` log line that starts with `warning:`
 * (e.g. the repository holds `.env` or key files) is shown as a banner above the task, not buried
 * in the log. Lines the task itself prints (stdout/stderr) never become banners.
 *
 * @example
 * warningOf("system", "warning: the repository contains 1 file that may hold secrets: .env") // "the repository contains …"
 * warningOf("stdout", "warning: something") // undefined
 */
export function warningOf(stream: LogStream, text: string): string | undefined {
  if (stream !== "system") return undefined;
  const m = /^warning:\s*(\S[\s\S]*)$/.exec(text);
  return m ? m[1]!.trim() : undefined;
}

/** Adds a warning unless it is already shown or the list is full; true when it was added. */
export function addWarning(warnings: string[], text: string): boolean {
  if (warnings.includes(text) || warnings.length >= MAX_WARNINGS) return false;
  warnings.push(text);
  return true;
}
