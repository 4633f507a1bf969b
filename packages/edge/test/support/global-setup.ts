import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startContainerHost } from "./container-host.ts";

declare module "vitest" {
  interface ProvidedContext {
    containerHost: { url: string; token: string };
  }
}

/**
 * Node side of the edge tests: starts a local container host on 127.0.0.1 (a free port) whose
 * containers are runner processes, and hands its URL and token to the Worker's bindings.
 * By default that is the project's own host (`serveContainerHost` of @openagents/runner, what
 * `openagents up` runs); `EDGE_TEST_HOST=minimal` uses this package's minimal one, written from the
 * same contract. Either runs `test/support/runner-api.ts` as the runner.
 */
export default async function setup(project: TestProject) {
  const token = randomBytes(18).toString("base64url");
  const runner = [process.execPath, path.join(import.meta.dirname, "runner-api.ts")];
  const host =
    process.env.EDGE_TEST_HOST !== "minimal"
      ? await realHost(token, runner)
      : await startContainerHost({ token, runnerCommand: runner });
  project.provide("containerHost", { url: host.url, token });
  return () => host.close();
}

async function realHost(token: string, entrypoint: string[]) {
  const { serveContainerHost } = await import("@openagents/runner");
  const root = await mkdtemp(path.join(tmpdir(), "edge-test-host-"));
  const running = await serveContainerHost({ port: 0, token, root, entrypoint });
  return {
    url: running.url,
    close: async () => {
      await running.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
