import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import {
  type ContainerBackend,
  RUNNER_PORT,
  type StartOptions,
  type StopSignal,
} from "./container-backend.ts";

const SIGNALS: Record<StopSignal, number> = { SIGTERM: 15, SIGKILL: 9 };

/**
 * `ctx.container` (Cloudflare Containers) behind the ContainerBackend interface. The image's
 * entrypoint is `openagents runner serve`; it reads `PORT` and `RUNNER_TOKEN` from the environment.
 *
 * @example
 * const backend = new CloudflareContainerBackend(ctx.container);
 */
export class CloudflareContainerBackend implements ContainerBackend {
  readonly kind = "cloudflare";
  readonly #container: Container;

  constructor(container: Container) {
    this.#container = container;
  }

  async start(opts: StartOptions): Promise<Result<void>> {
    try {
      this.#container.start({ env: opts.env, enableInternet: opts.enableInternet });
      // monitor() rejects when the container exits abnormally; ContainerDO learns of the exit from
      // running(), so the rejection only needs catching here.
      this.#container.monitor().catch(() => {});
      return ok(undefined);
    } catch (e) {
      return err(ErrorCode.SandboxUnavailable, `could not start the container: ${(e as Error).message}`);
    }
  }

  async running(): Promise<boolean> {
    return this.#container.running;
  }

  async signal(signal: StopSignal): Promise<void> {
    if (this.#container.running) this.#container.signal(SIGNALS[signal]);
  }

  async destroy(): Promise<void> {
    if (this.#container.running) await this.#container.destroy();
  }

  fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    return this.#container
      .getTcpPort(RUNNER_PORT)
      .fetch(new Request(`http://container${url.pathname}${url.search}`, request));
  }
}
