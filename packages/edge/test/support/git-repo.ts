import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const gitEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Edge Test",
  GIT_AUTHOR_EMAIL: "edge-test@example.com",
  GIT_COMMITTER_NAME: "Edge Test",
  GIT_COMMITTER_EMAIL: "edge-test@example.com",
};

const git = (cwd: string, ...args: string[]): string =>
  execFileSync("git", args, { cwd, env: gitEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/**
 * A bare repository with one commit on `main`, made with real git in a fresh temp directory: the
 * `repo` of every task the edge tests run (the runner clones it like any remote). Remove `root` when done.
 *
 * @example
 * const { bare, root } = makeBareRepo({ "README.md": "# demo\n" });
 */
export function makeBareRepo(files: Record<string, string>): { bare: string; root: string } {
  const root = mkdtempSync(path.join(tmpdir(), "edge-test-repo-"));
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
  git(root, "clone", "-q", "--bare", src, bare);
  return { bare, root };
}
