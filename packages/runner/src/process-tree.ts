import { readdirSync, readFileSync } from "node:fs";

/** One process under a root, as /proc shows it. */
export interface TreeProcess {
  pid: number;
  /** Process group id. */
  pgid: number;
  /** True when the process lives in a pid namespace below ours (a bubblewrap sandbox's). */
  nestedPidNamespace: boolean;
}

const readProc = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined; // Gone meanwhile, or not ours to read.
  }
};

/**
 * Every descendant of `root` (not `root` itself), read from /proc; empty where there is no /proc.
 * A snapshot: processes may fork or exit while it is taken, so callers stop what they can first.
 *
 * @example
 * for (const p of descendants(child.pid)) if (p.pgid !== child.pid) process.kill(p.pid, "SIGKILL");
 */
export function descendants(root: number): TreeProcess[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const children = new Map<number, Array<{ pid: number; pgid: number }>>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProc(`/proc/${name}/stat`);
    if (!stat) continue;
    // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(fields[1]);
    const pgid = Number(fields[2]);
    if (!Number.isInteger(ppid) || !Number.isInteger(pgid)) continue;
    const list = children.get(ppid) ?? [];
    list.push({ pid: Number(name), pgid });
    children.set(ppid, list);
  }
  const out: TreeProcess[] = [];
  const queue = [root];
  const seen = new Set(queue);
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const c of children.get(parent) ?? []) {
      if (seen.has(c.pid)) continue;
      seen.add(c.pid);
      queue.push(c.pid);
      // `NSpid:` lists the pid in each namespace from ours down: more than one means a nested one.
      const nspid = /^NSpid:\s+(.+)$/m.exec(readProc(`/proc/${c.pid}/status`) ?? "")?.[1];
      out.push({ ...c, nestedPidNamespace: (nspid?.trim().split(/\s+/).length ?? 1) > 1 });
    }
  }
  return out;
}
