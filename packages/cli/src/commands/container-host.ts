import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serveContainerHost } from "@openagents/runner";
import { type Command, intOption, str, UserError } from "../command.ts";
import { stateDir } from "../paths.ts";

/** This CLI's own bin: each container runs `<node> <bin> runner serve …`. */
const BIN = fileURLToPath(new URL("../../bin/openagents.js", import.meta.url));

export const DEFAULT_CONTAINER_HOST_PORT = 8788;

export interface StartContainerHostOptions {
  /** Port on 127.0.0.1; 0 picks a free one. Default 8788. */
  port?: number;
  /** Bearer token every call needs; default: a new random one (read it from the result). */
  token?: string;
  /** Where containers' directories live; default `$XDG_STATE_HOME/openagents/containers`. */
  root?: string;
  /** Between SIGTERM and SIGKILL when a container stops; default 5000. */
  graceMs?: number;
  /** Source of PATH/HOME/locale for containers (nothing else of it is passed on); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Variables every container gets (the model egress point: key proxy URL and capability token). */
  egressEnv?: Record<string, string>;
}

export interface StartedContainerHost {
  url: string;
  token: string;
  /** Stops the server and every container it started. */
  close(): Promise<void>;
}

/**
 * Starts the local container host in this process (what `openagents up` uses): containers are
 * `runner serve` processes of this same CLI, started with this process's Node.
 *
 * @example
 * const hostd = await startContainerHost({ port: 0 });
 * // give hostd.url and hostd.token to the edge's ContainerDO, then on exit:
 * await hostd.close();
 */
export async function startContainerHost(
  opts: StartContainerHostOptions = {},
): Promise<StartedContainerHost> {
  const env = opts.env ?? process.env;
  const token = opts.token ?? randomBytes(24).toString("base64url");
  const running = await serveContainerHost({
    port: opts.port ?? DEFAULT_CONTAINER_HOST_PORT,
    token,
    root: opts.root ?? path.join(stateDir(env), "containers"),
    entrypoint: [process.execPath, BIN],
    graceMs: opts.graceMs,
    hostEnv: env,
    egressEnv: opts.egressEnv,
  });
  return { url: running.url, token, close: () => running.close() };
}

/** `openagents container-host`: the local stand-in for Cloudflare's `ctx.container`. */
export const containerHostCommand: Command = {
  path: ["container-host"],
  summary: "Serve local containers (runner processes) to the edge, like ctx.container",
  options: [
    {
      name: "port",
      type: "string",
      value: "N",
      description: `Port on 127.0.0.1 (default ${DEFAULT_CONTAINER_HOST_PORT}; 0 picks a free one)`,
    },
    {
      name: "token",
      type: "string",
      value: "T",
      description:
        "Require Authorization: Bearer T (default: $CONTAINER_HOST_TOKEN, else generated and printed)",
    },
    {
      name: "root",
      type: "string",
      value: "DIR",
      description: "Containers' directories (default: $XDG_STATE_HOME/openagents/containers)",
    },
    {
      name: "grace-ms",
      type: "string",
      value: "N",
      description: "Wait between SIGTERM and SIGKILL when stopping a container (default 5000)",
    },
  ],
  details: `API (loopback, Authorization: Bearer T on every call):
  POST   /containers/:name/start   {env?, enableInternet?} -> {status:"running", port}
  GET    /containers/:name         -> {running, port?, startedAt?, exitCode?}
  POST   /containers/:name/signal  {signal: "SIGTERM"|"SIGKILL"|"SIGINT"}
  DELETE /containers/:name[?purge=1]
  *      /containers/:name/fetch/<path>   proxied to the container's runner (HTTP, SSE, WebSocket)
Each container is a \`runner serve\` process with its own directory, process group and a clean
environment; its tasks run in the sandbox. It is not a kernel boundary for the runner itself.
Prints \`listening on http://127.0.0.1:PORT\` when ready. SIGTERM stops every container, then exits.`,
  async handler(o, io) {
    const port = intOption(o, "port", 0, 65_535) ?? DEFAULT_CONTAINER_HOST_PORT;
    const given = str(o, "token") ?? (io.env.CONTAINER_HOST_TOKEN || undefined);
    const root = path.resolve(io.cwd, str(o, "root") ?? path.join(stateDir(io.env), "containers"));
    const graceMs = intOption(o, "grace-ms", 0, 600_000);
    const hostd = await startContainerHost({ port, token: given, root, graceMs, env: io.env }).catch(
      (e: NodeJS.ErrnoException) => {
        if (e.code === "EADDRINUSE") throw new UserError(`port ${port} is in use (try --port 0)`);
        throw e;
      },
    );
    // Printed once, on stderr, so stdout's first line stays the ready line that scripts wait for.
    if (given === undefined) io.stderr.write(`container host token: ${hostd.token}\n`);
    io.stdout.write(`listening on ${hostd.url}\n`);
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await hostd.close();
    return 0;
  },
};
