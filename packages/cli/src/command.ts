import type { Writable } from "node:stream";

/** A mistake of the user (bad flag, missing file): printed as one line, no stack, exit code 2. */
export class UserError extends Error {
  override name = "UserError";
}

export interface OptionSpec {
  name: string;
  type: "string" | "boolean";
  /** Placeholder shown in help, e.g. `URL`. */
  value?: string;
  description: string;
  multiple?: boolean;
  short?: string;
}

export type ParsedOptions = Record<string, string | boolean | string[] | undefined>;

/** What a command reads and writes; tests pass their own to call the CLI in-process. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  /** Whether stdout is an interactive terminal (live progress line). */
  isTTY: boolean;
}

/**
 * A CLI command is data: its words, options and handler. The dispatcher builds `--help` from it.
 *
 * @example
 * export const hello: Command = { path: ["hello"], summary: "Say hello", options: [], handler: async (_o, io) => { io.stdout.write("hi\n"); return 0; } };
 */
export interface Command {
  /** The words that select it, e.g. `["runner", "serve"]`. */
  path: string[];
  summary: string;
  /** Extra usage text after the generated option list. */
  details?: string;
  options: OptionSpec[];
  handler(options: ParsedOptions, io: CliIo): Promise<number>;
}

export const str = (o: ParsedOptions, name: string): string | undefined => {
  const v = o[name];
  return typeof v === "string" ? v : undefined;
};
export const list = (o: ParsedOptions, name: string): string[] => {
  const v = o[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
};
export const flag = (o: ParsedOptions, name: string): boolean => o[name] === true;

/** Parses a positive integer option, or throws a UserError naming the flag. */
export function intOption(o: ParsedOptions, name: string, min: number, max: number): number | undefined {
  const raw = str(o, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError(`--${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}
