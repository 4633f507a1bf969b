import { type AgentKind, isRemoteRepo, repoAllowed, type Task } from "@openagents/protocol";

/** A connected machine as dispatch sees it: its claims, the user's policy for it, and the edge's own count. */
export interface MachineSlot {
  tokenId: string;
  name: string;
  /** Claimed by the machine. */
  agents: AgentKind[];
  claimedMaxTasks: number;
  allowRepos: string[];
  allowDirs: string[];
  /** Set by the user on the machine's token; the edge enforces it whatever the machine claims. */
  policyRepos: string[];
  policyMaxTasks: number;
  /** Tasks the edge has assigned to the machine and not seen end (not what the machine reports). */
  running: number;
}

/** The tasks a machine may hold at once: the smaller of its claim and its token's policy. */
export const capacityOf = (m: MachineSlot): number => Math.min(m.claimedMaxTasks, m.policyMaxTasks);

/** True when `path` is `dir` or inside it (both absolute, `..`-free as the edge requires). */
const inside = (path: string, dir: string): boolean => {
  const base = dir.endsWith("/") ? dir : `${dir}/`;
  return path === dir || path.startsWith(base);
};

/** Why `machine` may not take `task` (null when it may), ignoring its load. */
export function refusal(task: Task, m: MachineSlot): string | null {
  if (task.machine !== undefined && task.machine !== m.name) return `it is not "${task.machine}"`;
  if (!m.agents.includes(task.agent)) return `it does not offer agent "${task.agent}"`;
  if (!repoAllowed(task.repo, m.policyRepos)) return "its token does not allow this repository";
  if (isRemoteRepo(task.repo)) {
    if (!repoAllowed(task.repo, m.allowRepos)) return "it does not allow this repository (--allow-repo)";
  } else {
    // A local path on the machine: absolute, no `..`, and under a directory the machine allows.
    if (!task.repo.startsWith("/") || task.repo.split("/").includes(".."))
      return "a local repository must be an absolute path";
    if (!m.allowDirs.some((d) => inside(task.repo, d)))
      return "the path is outside its --allow-dir directories";
  }
  return null;
}

/**
 * Picks the machine for a task: one that may take it with free capacity, the least loaded first
 * (ties: by name, so dispatch is predictable). Without one, says why the task waits.
 *
 * @example
 * const pick = chooseMachine(task, slots);
 * if (pick.ok) assign(pick.value); else log(`waiting for a machine: ${pick.reason}`);
 */
export function chooseMachine(
  task: Task,
  machines: readonly MachineSlot[],
): { ok: true; value: MachineSlot } | { ok: false; reason: string } {
  if (machines.length === 0)
    return { ok: false, reason: "none of your machines is connected (run openagents connect)" };
  const named = task.machine === undefined ? machines : machines.filter((m) => m.name === task.machine);
  if (named.length === 0) return { ok: false, reason: `machine "${task.machine}" is not connected` };
  const allowed = named.filter((m) => refusal(task, m) === null);
  if (allowed.length === 0) {
    const why = named.map((m) => `"${m.name}": ${refusal(task, m)}`).join("; ");
    return { ok: false, reason: `no connected machine may run it (${why})` };
  }
  const free = allowed.filter((m) => m.running < capacityOf(m));
  if (free.length === 0) return { ok: false, reason: "every machine that may run it is busy" };
  free.sort((a, b) => a.running / capacityOf(a) - b.running / capacityOf(b) || a.name.localeCompare(b.name));
  return { ok: true, value: free[0]! };
}
