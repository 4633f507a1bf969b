import path from "node:path";
import { type Command, intOption, str } from "../command.ts";
import { stateDir } from "../paths.ts";

/** `openagents runner serve`: the runner's HTTP API, the entrypoint of every container. */
export const runnerServeCommand: Command = {
  path: ["runner", "serve"],
  summary: "Serve the runner's HTTP API (the container entrypoint)",
  options: [
    {
      name: "port",
      type: "string",
      value: "N",
      description: "Port to listen on (default 8080; 0 picks a free one)",
    },
    {
      name: "host",
      type: "string",
      value: "ADDR",
      description: "Address to bind (default 127.0.0.1; 0.0.0.0 in a container)",
    },
    {
      name: "token",
      type: "string",
      value: "T",
      description: "Require Authorization: Bearer T (default: $RUNNER_TOKEN)",
    },
    {
      name: "work-root",
      type: "string",
      value: "DIR",
      description: "Where task workspaces live (default: state dir)",
    },
    {
      name: "max-tasks",
      type: "string",
      value: "N",
      description: "Tasks running at once; more wait queued (default 4)",
    },
  ],
  details:
    "Prints one line `listening on http://HOST:PORT` when ready. SIGTERM cancels running tasks and exits.",
  async handler(o, io) {
    const port = intOption(o, "port", 0, 65_535) ?? 8080;
    const host = str(o, "host") ?? "127.0.0.1";
    const token = str(o, "token") ?? (io.env.RUNNER_TOKEN || undefined);
    const workRoot = path.resolve(io.cwd, str(o, "work-root") ?? path.join(stateDir(io.env), "runner"));
    const { createRunnerServer, credentialsFromEnv, gitEgressFromEnv, TaskManager } = await import(
      "@openagents/runner"
    );
    const manager = new TaskManager({
      workRoot,
      credentials: credentialsFromEnv(io.env),
      // Set by the edge for its containers: GitHub clones use the owner's token, added outside.
      gitEgress: gitEgressFromEnv(io.env),
      maxConcurrent: intOption(o, "max-tasks", 1, 256) ?? 4,
      cwd: io.cwd,
      // Set by the container host for a container started with enableInternet: false.
      allowNetwork: io.env.OPENAGENTS_CONTAINER_INTERNET !== "0",
    });
    const server = createRunnerServer({ manager, token });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    const actualPort = typeof address === "object" && address ? address.port : port;
    io.stdout.write(`listening on http://${host}:${actualPort}\n`);
    await new Promise<void>((resolve) => {
      io.signal.addEventListener("abort", () => resolve(), { once: true });
      // A local container host's runner ends with the host: a host killed without a chance to stop
      // its containers (SIGKILL, a crashed test run) must not leave runners and their tasks behind.
      if (io.env.OPENAGENTS_EXIT_WITH_PARENT === "1") {
        const parent = process.ppid;
        const watch = setInterval(() => {
          if (process.ppid === parent) return;
          io.stderr.write("runner: the container host is gone; stopping\n");
          clearInterval(watch);
          resolve();
        }, 1000);
        watch.unref();
        io.signal.addEventListener("abort", () => clearInterval(watch), { once: true });
      }
    });
    await server.shutdown();
    return 0;
  },
};
