import { spawn } from "node:child_process";
import { descendants } from "./process-tree.ts";

export interface ProcessOptions {
  cwd: string;
  /** The complete environment of the child: nothing of this process's environment is inherited. */
  env: Record<string, string>;
  /**
   * Aborting stops the whole process tree: SIGTERM to the group, then SIGKILL after `graceMs`; a
   * descendant that left the group (a sandbox) is killed at once.
   */
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
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid !== undefined) signalPid(-child.pid, sig);
    };
    // Once the leader is reaped its pid may be reused: then only its group (which keeps the id) is hit.
    const stop = (sig: NodeJS.Signals) => (exited ? killGroup(sig) : stopTree(child.pid, sig));
    const onAbort = () => {
      aborted = true;
      stop("SIGTERM");
      killTimer = setTimeout(() => stop("SIGKILL"), opts.graceMs ?? DEFAULT_GRACE_MS);
      killTimer.unref();
      limitDrain();
    };
    // Once stopped and exited, the output is waited for one grace more: a process that still holds
    // the pipes then is out of our reach, and must not keep the caller (a task, a shutdown) forever.
    const limitDrain = () => {
      if (!aborted || !exited || drainTimer) return;
      drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, opts.graceMs ?? DEFAULT_GRACE_MS);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("exit", () => {
      exited = true;
      limitDrain();
    });

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
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      // Whatever the leader left behind in its group goes with it.
      killGroup("SIGKILL");
      flushOut();
      flushErr();
      resolve({ exitCode, signal, aborted });
    });
  });
}

const signalPid = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
};

/**
 * Signals the process group led by `pid` and everything under it. A descendant can leave the group:
 * bubblewrap's sandbox init calls setsid() and, being a pid namespace's init, takes no signal but
 * SIGKILL and SIGSTOP from outside. bubblewrap's --die-with-parent kills it when the outer bwrap dies,
 * but only once it got that far in its setup; stopped earlier (a task cancelled as it starts) the
 * sandbox lives on, its proxy bridges never exit, and it holds our pipes. So: the group is stopped
 * (nothing in it can fork any more), the descendants outside it are found, stopped and killed, and
 * only then does the group get `sig`.
 */
function stopTree(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  signalPid(-pid, "SIGSTOP");
  const escaped = new Set<number>();
  for (let pass = 0; pass < 8; pass++) {
    let found = false;
    for (const p of descendants(pid)) {
      if (escaped.has(p.pid) || (p.pgid === pid && !p.nestedPidNamespace)) continue;
      // Stopped, not killed yet: a dead process's children go to init, out of the next walk's sight.
      signalPid(p.pid, "SIGSTOP");
      escaped.add(p.pid);
      found = true;
    }
    if (!found) break;
  }
  for (const p of escaped) signalPid(p, "SIGKILL");
  signalPid(-pid, sig);
  signalPid(-pid, "SIGCONT");
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
