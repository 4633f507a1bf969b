import { randomBytes } from "node:crypto";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startContainerHost } from "./container-host.ts";

declare module "vitest" {
  interface ProvidedContext {
    containerHost: { url: string; token: string };
  }
}

/**
 * Node side of the edge tests: starts the local container host on 127.0.0.1 (a free port) whose
 * containers are runner processes, and hands its URL and token to the Worker's bindings.
 * `EDGE_TEST_RUNNER="node packages/cli/bin/openagents.js runner serve --port 0"` swaps in another
 * runner command (the runner reads RUNNER_TOKEN from its environment).
 */
export default async function setup(project: TestProject) {
  const token = randomBytes(18).toString("base64url");
  const runnerCommand = process.env.EDGE_TEST_RUNNER?.split(" ") ?? [
    process.execPath,
    path.join(import.meta.dirname, "runner-api.ts"),
  ];
  const host = await startContainerHost({ token, runnerCommand });
  project.provide("containerHost", { url: host.url, token });
  return () => host.close();
}
