import type { Result } from "@openagents/protocol";
import { CloudflareContainerBackend } from "./cloudflare-container.ts";
import type { Env } from "./env.ts";
import { LocalContainerHostBackend } from "./local-container-host.ts";

/** The port `runner serve` listens on inside a container. */
export const RUNNER_PORT = 8080;

export type StopSignal = "SIGTERM" | "SIGKILL";

export interface StartOptions {
  /** Environment of the runner process; holds `RUNNER_TOKEN`, so it is never logged. */
  env: Record<string, string>;
  enableInternet: boolean;
}

/**
 * The verbs ContainerDO needs from whatever runs containers: Cloudflare's `ctx.container` in
 * production, the local container host (a loopback daemon) on a developer machine. Both speak to
 * the runner the same way, so ContainerDO's lifecycle logic is written once.
 */
export interface ContainerBackend {
  readonly kind: "cloudflare" | "local";
  /** Boots the container; returns once the start was accepted (not once the runner is ready). */
  start(opts: StartOptions): Promise<Result<void>>;
  /** True while the container's process is alive (it may not be listening yet). */
  running(): Promise<boolean>;
  signal(signal: StopSignal): Promise<void>;
  /** Stops the container for good and frees what it holds. */
  destroy(): Promise<void>;
  /** Sends `request` to the runner's port; only the path and query of its URL are used. */
  fetch(request: Request): Promise<Response>;
}

/**
 * Picks the backend for a ContainerDO: `ctx.container` when the object has one (a Cloudflare
 * deploy with a `containers` entry), else the local container host when `LOCAL_CONTAINER_HOST` is
 * set, else none (the caller reports `sandbox_unavailable`).
 *
 * @example
 * const backend = selectBackend(this.ctx, this.env, "u-local");
 */
export function selectBackend(ctx: DurableObjectState, env: Env, name: string): ContainerBackend | null {
  if (ctx.container) return new CloudflareContainerBackend(ctx.container);
  const host = env.LOCAL_CONTAINER_HOST?.trim();
  if (host) return new LocalContainerHostBackend(host, env.LOCAL_CONTAINER_HOST_TOKEN ?? "", name);
  return null;
}
