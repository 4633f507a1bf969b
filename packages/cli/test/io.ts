import { Writable } from "node:stream";
import type { CliIo } from "../src/command.ts";

/** An in-memory CliIo for calling the CLI in-process. */
export function memoryIo(
  env: NodeJS.ProcessEnv,
  cwd: string,
): CliIo & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        append(String(chunk));
        done();
      },
    });
  return {
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }),
    env,
    cwd,
    signal: new AbortController().signal,
    isTTY: false,
    out: () => out,
    err: () => err,
  };
}
