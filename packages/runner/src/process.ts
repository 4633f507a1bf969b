import { spawn } from "node:child_process";

export interface ProcessOptions {
  cwd: string;
  /** The complete environment of the child: nothing of this process's environment is inherited. */
  env: Record<string, string>;
  /** Aborting stops the whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  signal?: AbortSignal;
  graceMs?: number;
  stdin?: string;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
}

export interface ProcessExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** True when the process was stopped because `signal` aborted. */
  aborted: boolean;
}

export const DEFAULT_GRACE_MS = 3000;

/**
 * Runs `argv` in its own process group and streams its output line by line. The promise settles when
 * the process exits and its output is drained; abort stops the whole tree, never only the leader.
 *
 * @example
 * const exit = await runProcess(["git", "status"], { cwd, env, onStdoutLine: console.log });
 */
export function runProcess(argv: readonly string[], opts: ProcessOptions): Promise<ProcessExit> {
  const [command, ...args] = argv;
  if (!command) return Promise.reject(new Error("runProcess: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // The group is already gone.
      }
    };
    const onAbort = () => {
      aborted = true;
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), opts.graceMs ?? DEFAULT_GRACE_MS);
      killTimer.unref();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });

    const flushOut = pipeLines(child.stdout, opts.onStdoutLine);
    const flushErr = pipeLines(child.stderr, opts.onStderrLine);
    child.stdin.on("error", () => {});
    child.stdin.end(opts.stdin ?? "");

    child.on("error", (e) => {
      opts.signal?.removeEventListener("abort", onAbort);
      reject(e);
    });
    child.on("close", (exitCode, signal) => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the leader left behind in its group goes with it.
      killGroup("SIGKILL");
      flushOut();
      flushErr();
      resolve({ exitCode, signal, aborted });
    });
  });
}

function pipeLines(stream: NodeJS.ReadableStream, onLine?: (line: string) => void): () => void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    if (!onLine) return;
    buffered += chunk;
    let start = 0;
    for (let nl = buffered.indexOf("\n", start); nl !== -1; nl = buffered.indexOf("\n", start)) {
      onLine(buffered.slice(start, nl));
      start = nl + 1;
    }
    buffered = buffered.slice(start);
  });
  return () => {
    if (onLine && buffered.length > 0) onLine(buffered);
    buffered = "";
  };
}
