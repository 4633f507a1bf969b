import { readdir, readFile } from "node:fs/promises";

/**
 * One process, named by pid *and* start time: a pid alone can be reused by an unrelated process
 * once the first one is gone, and the host must never signal a stranger.
 */
export interface ProcessId {
  pid: number;
  /** Clock ticks since boot at which the process started (`/proc/<pid>/stat` field 22); 0 when unknown. */
  start: number;
}

interface StatLine {
  ppid: number;
  pgrp: number;
  start: number;
  zombie: boolean;
}

/** `/proc` is Linux only; elsewhere the host falls back to process groups alone. */
export const canWalkProcesses = process.platform === "linux";

/** Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so split after the last `)`. */
function parseStat(text: string): StatLine | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // Fields from 3 on: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt,
  // cmajflt, utime, stime, cutime, cstime, priority, nice, num_threads, itrealvalue, starttime.
  const fields = text.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  const start = Number(fields[19]);
  if (!Number.isInteger(ppid) || !Number.isInteger(pgrp) || !Number.isFinite(start)) return undefined;
  return { ppid, pgrp, start, zombie: fields[0] === "Z" || fields[0] === "X" };
}

async function readStat(pid: number): Promise<StatLine | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Every living descendant of `root` (not `root` itself), found by walking parent links in `/proc`.
 * Descendants that started their own process group or session (the runner starts each task that way,
 * and bubblewrap calls `setsid`) are found too, which a signal to the container's group would miss.
 * Returns [] where `/proc` is not available.
 *
 * @example
 * const tree = await descendantsOf(child.pid);
 */
export async function descendantsOf(root: number): Promise<ProcessId[]> {
  const children = new Map<number, ProcessId[]>();
  for (const [pid, stat] of await livingProcesses()) {
    const list = children.get(stat.ppid);
    if (list) list.push({ pid, start: stat.start });
    else children.set(stat.ppid, [{ pid, start: stat.start }]);
  }
  const out: ProcessId[] = [];
  const queue = [root];
  const seen = new Set<number>([root]);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** Every process in `/proc` that is not a zombie, with its stat line; empty off Linux. */
async function livingProcesses(): Promise<Map<number, StatLine>> {
  const out = new Map<number, StatLine>();
  if (!canWalkProcesses) return out;
  let names: string[];
  try {
    names = await readdir("/proc");
  } catch {
    return out;
  }
  await Promise.all(
    names.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      const stat = await readStat(Number(name));
      if (stat && !stat.zombie) out.set(Number(name), stat);
    }),
  );
  return out;
}

/** The identity of a running process (pid and start time), or undefined when it is gone. */
export async function processId(pid: number): Promise<ProcessId | undefined> {
  if (!canWalkProcesses) return signalPid(pid, 0) ? { pid, start: 0 } : undefined;
  const stat = await readStat(pid);
  return stat && !stat.zombie ? { pid, start: stat.start } : undefined;
}

/** True while the process runs (a zombie has finished: it only waits to be reaped). */
export async function isAlive(p: ProcessId): Promise<boolean> {
  if (canWalkProcesses) {
    const stat = await readStat(p.pid);
    return stat !== undefined && !stat.zombie && (p.start === 0 || stat.start === p.start);
  }
  return signalPid(p.pid, 0);
}

/** Sends `signal` to `p` if it is still the process that was recorded. Returns whether it was sent. */
export async function signalProcess(p: ProcessId, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await isAlive(p))) return false;
  return signalPid(p.pid, signal);
}

/**
 * True while process group `pgid` has a running member. On Linux zombies do not count: an orphan
 * zombie waits for whoever PID 1 is to reap it, which in some containers never happens.
 */
export async function groupExists(pgid: number): Promise<boolean> {
  if (!signalPid(-pgid, 0)) return false;
  if (!canWalkProcesses) return true;
  for (const stat of (await livingProcesses()).values()) if (stat.pgrp === pgid) return true;
  return false;
}

/** Signals a whole process group; false when the group is gone. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): boolean => signalPid(-pgid, signal);

function signalPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    // ESRCH: gone. EPERM: not ours (a reused pid) — either way nothing to do.
    return false;
  }
}
