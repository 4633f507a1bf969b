import { realpathSync } from "node:fs";
import path from "node:path";
import type { NetworkPolicy } from "@openagents/protocol";

/** What one task's processes may touch. Everything else is denied. */
export interface SandboxPolicy {
  /** The task's working tree: readable and writable, and the default working directory. */
  workspace: string;
  /** Further directories the task may write (its private HOME and TMPDIR, inside the task directory). */
  writable?: string[];
  /**
   * The directory that holds every task's directory. It is unreadable as a whole; only `workspace` and
   * `writable` are opened again inside it, so other tasks' workspaces — including ones created later —
   * stay out of reach.
   */
  workspacesRoot?: string;
  network: NetworkPolicy;
  /** Host loopback ports reachable whatever `network` says (the key proxy). Merged with the run's own. */
  hostPorts?: number[];
  /** Extra paths that must not be readable, on top of the defaults (~/.ssh, ~/.aws, ~/.config/openagents). */
  denyRead?: string[];
  /** The runner user's home whose secrets are denied. Default: `os.homedir()` when the sandbox is created. */
  home?: string;
}

/** The filesystem half of an srt per-command config, all paths absolute and resolved. */
export interface FilesystemRules {
  allowWrite: string[];
  denyWrite: string[];
  denyRead: string[];
  allowRead: string[];
}

/** Secrets of the runner's user: never readable from a sandbox. */
export const HOME_SECRETS = [".ssh", ".aws", ".config/openagents"] as const;

/**
 * srt makes these writable in every sandbox "as a convenience" (~/.npm/_logs, ~/.claude/debug of the
 * runner's home, /tmp/claude). Shared between tasks they would be a channel from one task to another,
 * so they are read-denied: srt then drops them from the write list, and a denied directory that exists
 * is covered by an empty mount private to the sandbox.
 */
const SRT_CONVENIENCE_DIRS = (home: string) => [
  path.join(home, ".npm/_logs"),
  path.join(home, ".claude/debug"),
  "/tmp/claude",
];

/** Ports srt's own bridges listen on inside the sandbox: a host port bridged there would collide. */
export const RESERVED_SANDBOX_PORTS: ReadonlySet<number> = new Set([3128, 1080]);

/** An absolute path with symlinks resolved where it exists (bubblewrap mounts real paths). */
export function resolvePath(p: string): string {
  if (!path.isAbsolute(p)) throw new Error(`sandbox policy: path must be absolute: ${p}`);
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

const isInside = (child: string, parent: string) => {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
};

/**
 * Turns a policy into srt's filesystem lists. srt ranks `allowRead` above `denyRead` (a more specific
 * deny still wins), so the task's own directories are re-opened inside the denied workspaces root.
 *
 * @example
 * filesystemRules({ workspace: "/w/t1/work", writable: ["/w/t1/home"], workspacesRoot: "/w", network: { mode: "none" } }, "/root")
 */
export function filesystemRules(policy: SandboxPolicy, home: string): FilesystemRules {
  const workspace = resolvePath(policy.workspace);
  const writable = [workspace, ...(policy.writable ?? []).map(resolvePath)];
  const denyRead = [
    ...HOME_SECRETS.map((p) => path.join(home, p)),
    ...SRT_CONVENIENCE_DIRS(home),
    ...(policy.denyRead ?? []).map(resolvePath),
  ];
  if (policy.workspacesRoot !== undefined) {
    const root = resolvePath(policy.workspacesRoot);
    const escapes = writable.find((w) => isInside(root, w));
    // A writable dir at or above the root would re-open every task's directory.
    if (escapes) throw new Error(`sandbox policy: ${escapes} contains the workspaces root ${root}`);
  }
  for (const w of writable) {
    // srt lets an allowRead re-open a denied parent: a writable dir inside a secret would expose it.
    const secret = denyRead.find((d) => isInside(w, d));
    if (secret) throw new Error(`sandbox policy: writable path ${w} lies inside the denied path ${secret}`);
  }
  if (policy.workspacesRoot !== undefined) denyRead.push(resolvePath(policy.workspacesRoot));
  return { allowWrite: writable, denyWrite: [], denyRead, allowRead: writable };
}

/** Validates host ports: integers in range, and not the ports srt's own bridges hold in the sandbox. */
export function checkHostPorts(ports: readonly number[]): number[] {
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`sandbox: invalid host port ${p}`);
    if (RESERVED_SANDBOX_PORTS.has(p))
      throw new Error(`sandbox: host port ${p} is reserved for the sandbox's own proxy bridge`);
  }
  return [...new Set(ports)];
}

/** The proxy allow list of one run: the policy's domains (allowlist mode) plus each bridged host port. */
export function allowedDestinations(network: NetworkPolicy, bridgedPorts: readonly number[]): string[] {
  const domains = network.mode === "allowlist" ? (network.allow ?? []) : [];
  return [...domains, ...bridgedPorts.map((p) => `127.0.0.1:${p}`)];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** POSIX single-quoting: the word reaches the program byte for byte. */
export const shellQuote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

export interface InnerScriptInput {
  argv: readonly string[];
  socatPath: string;
  /** `user:token` for srt's HTTP proxy (port 3128 inside the sandbox). */
  proxyAuth: string;
  /** Host loopback ports to serve inside the sandbox's own loopback. */
  bridgedPorts: readonly number[];
  /** Variables to set after srt's (e.g. the caller's TMPDIR, which srt replaces with its own). */
  setEnv: Record<string, string>;
  unsetEnv: readonly string[];
}

/**
 * The script run inside the sandbox before the command. The sandbox has its own network namespace;
 * its only way out is srt's HTTP proxy. For each host port a socat listener on the sandbox's loopback
 * tunnels through that proxy (HTTP CONNECT to 127.0.0.1:PORT, which the run's allow list names), so
 * any client reaches `http://127.0.0.1:PORT/` as if it were on the host — proxy variables or not —
 * and every other host port stays unreachable. The script waits until each listener is up, then
 * `exec`s the command so its exit status is the run's.
 */
export function innerScript(input: InnerScriptInput): string {
  const socat = shellQuote(input.socatPath);
  const lines: string[] = [];
  for (const port of input.bridgedPorts) {
    const target = `PROXY:localhost:127.0.0.1:${port},proxyport=3128,proxyauth=${input.proxyAuth}`;
    // IPv6 with IPv4 mapped serves both `localhost` spellings; IPv4 alone where there is no IPv6.
    lines.push(
      `{ ${socat} TCP6-LISTEN:${port},ipv6only=0,fork,reuseaddr,backlog=1024 ${shellQuote(target)} || ` +
        `exec ${socat} TCP4-LISTEN:${port},fork,reuseaddr,backlog=1024 ${shellQuote(target)}; } >/dev/null 2>&1 </dev/null &`,
    );
  }
  if (input.bridgedPorts.length > 0) {
    const hex = input.bridgedPorts.map((p) => p.toString(16).toUpperCase().padStart(4, "0"));
    // A listener shows in /proc/net/tcp{,6} as `…:PORT 00…:0000 0A` (state 0A = LISTEN).
    lines.push(
      "_oa_n=0",
      `for _oa_p in ${hex.join(" ")}; do`,
      `  until grep -qs ":$_oa_p [0-9A-F:]* 0A" /proc/net/tcp /proc/net/tcp6; do`,
      "    _oa_n=$((_oa_n + 1)); [ $_oa_n -lt 500 ] || { echo 'sandbox: host port bridge did not start' >&2; exit 125; }",
      "    sleep 0.01",
      "  done",
      "done",
      "unset _oa_n _oa_p",
    );
  }
  for (const name of [...input.unsetEnv, ...Object.keys(input.setEnv)]) {
    if (!ENV_NAME.test(name))
      throw new Error(`sandbox: invalid environment variable name ${JSON.stringify(name)}`);
  }
  for (const name of input.unsetEnv) lines.push(`unset ${name}`);
  for (const [name, value] of Object.entries(input.setEnv)) lines.push(`export ${name}=${shellQuote(value)}`);
  lines.push(`exec ${input.argv.map(shellQuote).join(" ")}`);
  return lines.join("\n");
}
