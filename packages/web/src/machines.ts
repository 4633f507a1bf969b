import { formatAgo } from "./format.ts";

/** A machine token and, once it connected, the machine behind it (`GET /api/tunnel/machines`). */
export interface Machine {
  /** The token's id: one machine per token. */
  id: string;
  label: string;
  /** The name the machine gave when it connected (`--name`), or null before its first connection. */
  name: string | null;
  connected: boolean;
  connectedAt: string | null;
  lastSeen: string | null;
  disconnectedAt: string | null;
  agents: string[];
  /** Tasks it may hold at once (its claim capped by the token's policy); null before it connected. */
  maxTasks: number | null;
  running: number;
  tasks: string[];
  /** What the machine said about itself when it connected. */
  claimed: { maxTasks: number; allowRepos: string[]; allowDirs: string[] } | null;
  /** What its token allows, whatever the machine claims. */
  policy: { allowRepos: string[]; maxTasks: number };
  created: string;
  lastUsed: string | null;
}

/**
 * How long a machine may stay silent before the page stops calling it connected. The edge drops a
 * machine after three missed heartbeats (15 s each by default), so the page uses the same 45 s:
 * a socket the edge has not yet noticed is dead is shown as "not responding", not as "connected".
 */
export const STALE_AFTER_MS = 45_000;

export type MachineState = "connected" | "silent" | "disconnected" | "never";

/**
 * Whether a machine is connected *now*: the edge holds its socket and its last heartbeat is fresh.
 *
 * @example
 * isLive({ connected: true, lastSeen: new Date().toISOString() }); // true
 */
export function isLive(m: Pick<Machine, "connected" | "lastSeen">, now = Date.now()): boolean {
  if (!m.connected || m.lastSeen === null) return false;
  const t = Date.parse(m.lastSeen);
  return !Number.isNaN(t) && now - t <= STALE_AFTER_MS;
}

export function machineState(
  m: Pick<Machine, "connected" | "lastSeen" | "connectedAt">,
  now = Date.now(),
): MachineState {
  if (isLive(m, now)) return "connected";
  if (m.connected) return "silent";
  return m.connectedAt === null ? "never" : "disconnected";
}

/** What the status pill says, with the pill's tone. */
export function machineStatus(
  m: Pick<Machine, "connected" | "lastSeen" | "connectedAt" | "disconnectedAt">,
  now = Date.now(),
): { state: MachineState; label: string; tone: "good" | "warn" | "neutral" } {
  const state = machineState(m, now);
  switch (state) {
    case "connected":
      return { state, label: "Connected", tone: "good" };
    case "silent":
      return { state, label: "Not responding", tone: "warn" };
    case "disconnected":
      return { state, label: "Disconnected", tone: "neutral" };
    case "never":
      return { state, label: "Never connected", tone: "neutral" };
  }
}

/**
 * "2 of 4 tasks", or "idle (4 slots)"; "—" when the machine never said how much it takes.
 *
 * @example
 * loadLabel({ running: 1, maxTasks: 4 }); // "1 of 4 tasks"
 */
export function loadLabel(m: Pick<Machine, "running" | "maxTasks">): string {
  if (m.maxTasks === null) return "—";
  if (m.running === 0) return `idle (${m.maxTasks} ${m.maxTasks === 1 ? "slot" : "slots"})`;
  return `${m.running} of ${m.maxTasks} ${m.maxTasks === 1 ? "task" : "tasks"}`;
}

/** Load as a fraction from 0 to 1, for a meter. */
export function loadFraction(m: Pick<Machine, "running" | "maxTasks">): number {
  if (m.maxTasks === null || m.maxTasks <= 0) return 0;
  return Math.min(1, Math.max(0, m.running / m.maxTasks));
}

/** The line under a machine's name: when it was last heard from, or when it went away. */
export function heartbeatLabel(
  m: Pick<Machine, "connected" | "lastSeen" | "connectedAt" | "disconnectedAt">,
  now = Date.now(),
): string {
  const state = machineState(m, now);
  if (state === "never") return "Not connected yet: run openagents connect with this token";
  if (state === "disconnected") {
    const when = m.disconnectedAt ?? m.lastSeen;
    return when ? `Disconnected ${formatAgo(when, now)}` : "Disconnected";
  }
  return m.lastSeen ? `Last heartbeat ${formatAgo(m.lastSeen, now)}` : "No heartbeat yet";
}

/**
 * The names the new-task form offers under "My machine": machines connected now, each once, sorted.
 *
 * @example
 * machineChoices([{ name: "laptop", connected: true, lastSeen: now }]); // ["laptop"]
 */
export function machineChoices(
  machines: ReadonlyArray<Pick<Machine, "name" | "connected" | "lastSeen">>,
  now = Date.now(),
): string[] {
  const names = machines.filter((m) => m.name !== null && isLive(m, now)).map((m) => m.name as string);
  return [...new Set(names)].sort((a, b) => a.localeCompare(b));
}

/**
 * The repositories a machine may run, for people: `**` (the default policy) reads "any repository".
 *
 * @example
 * reposLabel(["**"]); // "any repository"
 */
export function reposLabel(patterns: readonly string[]): string {
  if (patterns.length === 0) return "—";
  if (patterns.includes("**")) return "any repository";
  return patterns.join(", ");
}
