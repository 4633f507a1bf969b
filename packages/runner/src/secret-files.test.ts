import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RunEvent, Task } from "@openagents/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../test/git-fixtures.ts";
import { isSecretFileName, secretFilesWarning } from "./secret-files.ts";
import { TaskManager } from "./task-manager.ts";

const workRoot = mkdtempSync(path.join(os.tmpdir(), "oa-secrets-"));
const manager = new TaskManager({
  workRoot,
  credentials: { anthropicBaseUrl: "http://127.0.0.1:9", openaiBaseUrl: "http://127.0.0.1:9" },
  graceMs: 500,
});
const repos: string[] = [];
afterAll(() => {
  rmSync(workRoot, { recursive: true, force: true });
  // The fixture keeps its bare repository inside its own temp dir.
  for (const r of repos) rmSync(path.dirname(r), { recursive: true, force: true });
});

async function systemLines(files: Record<string, string>): Promise<string[]> {
  const repo = makeBareRepo(files);
  repos.push(repo.bare);
  const task: Task = { repo: repo.bare, agent: "shell", script: "echo ok" };
  const handle = manager.start(task);
  const events: RunEvent[] = [];
  handle.log.subscribe(0, (e) => events.push(e));
  expect(await handle.done).toMatchObject({ ok: true });
  return events.flatMap((e) => (e.type === "log" && e.stream === "system" ? [e.text] : []));
}

describe("secret files in the task's repository", () => {
  it("a repo with .env, a key and an .npmrc token gets one warning naming them, never their content", async () => {
    const lines = await systemLines({
      "README.md": "# r\n",
      ".env": "API_KEY=sk-live-very-secret\n",
      ".env.example": "API_KEY=\n",
      "deploy/server.pem": "-----BEGIN PRIVATE KEY-----\nabc\n",
      ".npmrc": "//registry.npmjs.org/:_authToken=npm_SECRETTOKEN\n",
      "web/.npmrc": "save-exact=true\n",
    });
    const warnings = lines.filter((l) => l.startsWith("warning: "));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("3 files");
    expect(warnings[0]).toContain(".env, .npmrc, deploy/server.pem.");
    expect(warnings[0]).not.toContain(".env.example");
    expect(warnings[0]).not.toContain("web/.npmrc");
    expect(lines.join("\n")).not.toMatch(/sk-live|SECRETTOKEN|PRIVATE KEY/);
  });

  it("a repo without such files gets no warning", async () => {
    const lines = await systemLines({ "README.md": "# clean\n", "src/env.ts": "export {}\n" });
    expect(lines.filter((l) => l.startsWith("warning: "))).toEqual([]);
  });
});

describe("isSecretFileName / secretFilesWarning", () => {
  it("knows the usual secret file names and leaves templates and public keys alone", () => {
    for (const f of [
      ".env",
      "a/.env.local",
      "x.pem",
      "tls/server.key",
      "id_rsa",
      ".ssh/id_ed25519",
      "credentials.json",
    ])
      expect(isSecretFileName(f), f).toBe(true);
    for (const f of [".env.example", ".env.sample", "id_rsa.pub", "env.ts", "keyboard.ts", "credentials.ts"])
      expect(isSecretFileName(f), f).toBe(false);
  });

  it("names at most ten files", () => {
    const files = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, "0")}.pem`);
    const text = secretFilesWarning(files)!;
    expect(text.startsWith("warning: the repository contains 12 files")).toBe(true);
    expect(text).toContain("s09.pem and 2 more.");
    expect(text).not.toContain("s10.pem");
    expect(secretFilesWarning([])).toBeUndefined();
  });
});
