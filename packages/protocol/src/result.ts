import type { ErrorCode } from "./error-codes.ts";

/** An error that can cross a wire: a stable code, a human message, and where in the input it applies. */
export interface AppError {
  code: ErrorCode;
  message: string;
  /** JSON path of the offending field, e.g. `network.allow[2]`, when the error is about input. */
  path?: string;
}

/**
 * What services return inside the system; only the edges (HTTP handlers, the CLI) throw.
 *
 * @example
 * const r = parseTask(body);
 * if (!r.ok) return c.json({ error: r.error }, httpStatusOf(r.error.code));
 */
export type Result<T, E = AppError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

export const err = (code: ErrorCode, message: string, path?: string): { ok: false; error: AppError } => ({
  ok: false,
  error: path === undefined ? { code, message } : { code, message, path },
});
