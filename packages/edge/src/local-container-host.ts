import { ErrorCode, err, ok, type Result } from "@openagents/protocol";
import type { ContainerBackend, StartOptions, StopSignal } from "./container-backend.ts";

/**
 * The local container host (a loopback daemon run by `openagents up`) behind the ContainerBackend
 * interface. Its contract:
 * - `POST /containers/:name/start {env, enableInternet}` → `{port, status}`
 * - `GET /containers/:name` → `{running, port}` (404: never started)
 * - `POST /containers/:name/signal {signal: "SIGTERM"|"SIGKILL"}`
 * - `DELETE /containers/:name[?purge=1]` (purge also removes its workspace directory)
 * - any method on `/containers/:name/fetch/<path>` is proxied to that container's runner (HTTP,
 *   SSE and WebSocket upgrades).
 * Every call carries `Authorization: Bearer <LOCAL_CONTAINER_HOST_TOKEN>`; on `/fetch/` the host
 * replaces it with the runner's own `Bearer <RUNNER_TOKEN>` (which it got in `env` at start) before
 * forwarding, so one header carries both hops.
 *
 * @example
 * const backend = new LocalContainerHostBackend("http://127.0.0.1:8790", hostToken, "u-local");
 */
export class LocalContainerHostBackend implements ContainerBackend {
  readonly kind = "local";
  readonly #base: string;
  readonly #token: string;
  readonly #name: string;

  constructor(baseUrl: string, token: string, name: string) {
    this.#base = `${baseUrl.replace(/\/+$/, "")}/containers/${encodeURIComponent(name)}`;
    this.#token = token;
    this.#name = name;
  }

  async start(opts: StartOptions): Promise<Result<void>> {
    let res: Response;
    try {
      res = await this.#call("POST", "/start", { env: opts.env, enableInternet: opts.enableInternet });
    } catch (e) {
      return err(
        ErrorCode.SandboxUnavailable,
        `the local container host is unreachable: ${(e as Error).message}`,
      );
    }
    if (res.ok) {
      await res.body?.cancel();
      return ok(undefined);
    }
    return err(
      ErrorCode.SandboxUnavailable,
      `the local container host refused to start ${this.#name}: ${await describeError(res)}`,
    );
  }

  async running(): Promise<boolean> {
    try {
      const res = await this.#call("GET", "");
      if (!res.ok) {
        await res.body?.cancel();
        return false;
      }
      const body = (await res.json()) as { running?: unknown };
      return body.running === true;
    } catch {
      // An unreachable host cannot be running anything we can reach.
      return false;
    }
  }

  async signal(signal: StopSignal): Promise<void> {
    const res = await this.#call("POST", "/signal", { signal });
    await res.body?.cancel();
  }

  async destroy(): Promise<void> {
    // purge=1: also remove the container's directory (workspaces), which a plain DELETE keeps.
    const res = await this.#call("DELETE", "?purge=1");
    await res.body?.cancel();
  }

  fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const forwarded = new Request(`${this.#base}/fetch${url.pathname}${url.search}`, request);
    forwarded.headers.set("authorization", `Bearer ${this.#token}`);
    return fetch(forwarded);
  }

  #call(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    return fetch(`${this.#base}${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
  }
}

/** The message of a `{error:{message}}` body, or the status line. */
export async function describeError(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof body.error?.message === "string") return body.error.message;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return `${res.status} ${text.slice(0, 200)}`.trim();
}
