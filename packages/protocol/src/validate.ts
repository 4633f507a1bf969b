import { ErrorCode } from "./error-codes.ts";
import type { AppError } from "./result.ts";

/** Thrown only inside this package's parsers and turned into a `Result` before it leaves them. */
export class FieldError extends Error {
  readonly path: string;
  readonly code: ErrorCode;

  constructor(path: string, message: string, code: ErrorCode = ErrorCode.InvalidTask) {
    super(message);
    this.path = path;
    this.code = code;
  }

  toAppError(): AppError {
    return { code: this.code, message: this.message, path: this.path };
  }
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export const describe = (value: unknown): string => {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value}`;
};

export function expectObject(value: unknown, path: string, code?: ErrorCode): Record<string, unknown> {
  if (!isPlainObject(value))
    throw new FieldError(path, `${path || "body"} must be an object, got ${describe(value)}`, code);
  return value;
}

export function rejectUnknownKeys(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  prefix: string,
  code?: ErrorCode,
) {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      const where = prefix ? `${prefix}.${key}` : key;
      throw new FieldError(where, `unknown field "${where}" (allowed: ${allowed.join(", ")})`, code);
    }
  }
}

export function expectString(
  value: unknown,
  path: string,
  opts: { max: number; min?: number; pattern?: RegExp; patternHint?: string },
  code?: ErrorCode,
): string {
  if (typeof value !== "string")
    throw new FieldError(path, `${path} must be a string, got ${describe(value)}`, code);
  if (value.length < (opts.min ?? 1)) throw new FieldError(path, `${path} must not be empty`, code);
  if (value.length > opts.max)
    throw new FieldError(path, `${path} is longer than ${opts.max} characters`, code);
  if (opts.pattern && !opts.pattern.test(value)) {
    throw new FieldError(path, `${path} ${opts.patternHint ?? `does not match ${opts.pattern}`}`, code);
  }
  return value;
}

export function expectEnum<T extends string>(
  value: unknown,
  path: string,
  allowed: readonly T[],
  code?: ErrorCode,
): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    const got = typeof value === "string" ? `"${value}"` : describe(value);
    throw new FieldError(
      path,
      `${path} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${got}`,
      code,
    );
  }
  return value as T;
}

export function expectInteger(
  value: unknown,
  path: string,
  min: number,
  max: number,
  code?: ErrorCode,
): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new FieldError(path, `${path} must be an integer, got ${describe(value)}`, code);
  }
  if (value < min || value > max)
    throw new FieldError(path, `${path} must be between ${min} and ${max}, got ${value}`, code);
  return value;
}
