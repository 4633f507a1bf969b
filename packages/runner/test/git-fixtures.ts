import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const gitEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com",
};

export const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", args, { cwd, env: gitEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

export interface BareRepo {
  /** Path of the bare repository (usable as a task's `repo`). */
  bare: string;
  /** Commit ids by branch/tag name as created. */
  commits: Record<string, string>;
}

/**
 * Creates a bare repository with `main` (files given), a `feature` branch and a `v1` tag, using real
 * git, in a fresh temp dir. Tests use it as a local remote.
 */
export function makeBareRepo(files: Record<string, string> = { "README.md": "# demo\n" }): BareRepo {
  const root = mkdtempSync(path.join(os.tmpdir(), "oa-repo-"));
  const src = path.join(root, "src");
  const bare = path.join(root, "repo.git");
  mkdirSync(src);
  git(src, "init", "-q", "-b", "main");
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    writeFileSync(path.join(src, name), content);
  }
  git(src, "add", "-A");
  git(src, "commit", "-q", "-m", "initial");
  git(src, "tag", "v1");
  const main = git(src, "rev-parse", "HEAD");
  git(src, "checkout", "-q", "-b", "feature");
  writeFileSync(path.join(src, "FEATURE.md"), "feature\n");
  git(src, "add", "-A");
  git(src, "commit", "-q", "-m", "feature");
  const feature = git(src, "rev-parse", "HEAD");
  git(src, "checkout", "-q", "main");
  git(root, "clone", "-q", "--bare", src, bare);
  return { bare, commits: { main, feature, v1: main } };
}
