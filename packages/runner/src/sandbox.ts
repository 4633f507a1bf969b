import type { NetworkPolicy } from "@openagents/protocol";
import type { ProcessExit, ProcessOptions } from "./process.ts";

/** What one task's processes may touch. Everything else is denied. */
export interface SandboxPolicy {
  /** The only directory the task may write (plus a private temp dir). */
  workspace: string;
  network: NetworkPolicy;
  /** Extra paths that must not be readable, on top of the defaults (~/.ssh, ~/.aws, ~/.config/openagents, other workspaces). */
  denyRead?: string[];
}

export interface SandboxRunOptions extends Omit<ProcessOptions, "cwd"> {
  cwd?: string;
  /** Host loopback ports the process may reach (the key proxy), whatever the network policy. */
  hostPorts?: number[];
}

/** Runs processes of one task under @anthropic-ai/sandbox-runtime. */
export interface Sandbox {
  run(argv: readonly string[], opts: SandboxRunOptions): Promise<ProcessExit>;
}

// Implementation below is filled in by the sandbox work (see createSandbox).
export declare function createSandbox(policy: SandboxPolicy): Promise<Sandbox>;
