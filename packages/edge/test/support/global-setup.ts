import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { serveContainerHost } from "@openagents/runner";
import type { TestProject } from "vitest/node";
// The runner package's scripted Messages API (a test helper it does not export).
import { startScriptedAnthropic } from "../../../runner/test/scripted-anthropic.ts";
import { makeBareRepo } from "./git-repo.ts";
import { CLAUDE_TURNS } from "./scripted-turns.ts";

/** The `openagents` command, which the container host runs as `… runner serve` in each container. */
const CLI = path.resolve(import.meta.dirname, "../../../cli/bin/openagents.js");

/**
 * Node side of the edge tests, all real parts: a bare git repository made with git, a scripted
 * Anthropic Messages API on loopback (for the claude-code tasks), and the project's local container
 * host (`serveContainerHost`, what `openagents up` runs) whose containers are real `openagents runner
 * serve` processes, sandboxing each task with bubblewrap. Every container gets the scripted API as its
 * model egress point (`egressEnv`), as `openagents up` gives them its key proxy.
 */
export default async function setup(project: TestProject) {
  const token = randomBytes(18).toString("base64url");
  const apiKey = `sk-ant-edge-test-${randomBytes(8).toString("hex")}`;
  const repo = makeBareRepo({ "README.md": "# edge test repo\n" });
  const api = await startScriptedAnthropic(CLAUDE_TURNS, { apiKey });
  const root = await mkdtemp(path.join(tmpdir(), "edge-test-host-"));
  const host = await serveContainerHost({
    port: 0,
    token,
    root,
    entrypoint: [process.execPath, CLI],
    graceMs: 3000,
    scanIntervalMs: 500,
    egressEnv: { ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: apiKey },
  });
  project.provide("containerHost", { url: host.url, token });
  project.provide("repo", repo.bare);
  return async () => {
    await host.close();
    await api.close();
    await rm(root, { recursive: true, force: true });
    await rm(repo.root, { recursive: true, force: true });
  };
}
