import { mkdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  type AppError,
  type Diffstat,
  ErrorCode,
  type FileStat,
  isRemoteRepo,
  type Result,
} from "@openagents/protocol";
import { runProcess } from "./process.ts";
import type { Sandbox } from "./sandbox.ts";

/** The directories of one task: the git work tree, and a private HOME and TMPDIR for its processes. */
export interface TaskDirs {
  root: string;
  work: string;
  home: string;
  tmp: string;
}

export const taskDirs = (workRoot: string, taskId: string): TaskDirs => {
  const root = path.join(workRoot, taskId);
  return { root, work: path.join(root, "work"), home: path.join(root, "home"), tmp: path.join(root, "tmp") };
};

export async function createTaskDirs(dirs: TaskDirs): Promise<void> {
  await mkdir(dirs.root, { recursive: true, mode: 0o700 });
  await Promise.all([dirs.work, dirs.home, dirs.tmp].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
}

export const removeTaskDirs = (dirs: TaskDirs) => rm(dirs.root, { recursive: true, force: true });

/** Git as the runner runs it outside the sandbox: no prompts, no hooks, no user or system config. */
export const gitEnv = (home: string): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  GIT_TERMINAL_PROMPT: "0",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_ASKPASS: "/bin/false",
  SSH_ASKPASS: "/bin/false",
  LC_ALL: "C",
});
const SAFE_GIT = [
  "-c",
  "core.hooksPath=/dev/null",
  "-c",
  "core.fsmonitor=false",
  "-c",
  "protocol.ext.allow=never",
];

/**
 * Resolves the task's `repo` to something `git fetch` accepts: remote URLs as they are, local paths as
 * absolute `file://` URLs (so the clone can be shallow). A local path must be an existing directory.
 */
export async function resolveRepo(repo: string, cwd: string): Promise<Result<string>> {
  if (isRemoteRepo(repo)) return { ok: true, value: repo };
  const abs = path.resolve(cwd, repo);
  const info = await stat(abs).catch(() => undefined);
  if (!info?.isDirectory())
    return fail(ErrorCode.RepoNotFound, `repository not found: ${repo} is not a directory`);
  return { ok: true, value: `file://${abs}` };
}

const fail = (code: AppError["code"], message: string): { ok: false; error: AppError } => ({
  ok: false,
  error: { code, message },
});

/**
 * A git egress: an HTTP endpoint outside this machine that fetches GitHub repositories with the task
 * owner's GitHub token (the edge's `/egress/git`), authenticated by the container's capability token.
 * The runner never holds the GitHub token, and nothing of either is written into the workspace.
 */
export interface GitEgress {
  /** e.g. `https://openagents.example/egress/git`; a GitHub repository is fetched from `<url>/github.com/<owner>/<repo>.git`. */
  url: string;
  token: string;
}

const GITHUB_REPO = /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/;

/**
 * The git egress of a runner from its environment (`OPENAGENTS_GIT_EGRESS_URL`,
 * `OPENAGENTS_EGRESS_TOKEN`, set by the edge for its containers), or undefined.
 *
 * @example
 * const manager = new TaskManager({ workRoot, credentials, gitEgress: gitEgressFromEnv(process.env) });
 */
export function gitEgressFromEnv(env: NodeJS.ProcessEnv): GitEgress | undefined {
  const url = env.OPENAGENTS_GIT_EGRESS_URL?.trim().replace(/\/+$/, "");
  const token = env.OPENAGENTS_EGRESS_TOKEN?.trim();
  return url && token ? { url, token } : undefined;
}

/**
 * Where `git fetch` goes for `url`: a GitHub repository through the egress (with the capability token
 * in an HTTP header scoped to the egress URL, passed in git's environment, never in a config file or
 * on the command line), anything else as it is.
 */
export function routeThroughEgress(
  url: string,
  egress: GitEgress | undefined,
): { fetchUrl: string; env: Record<string, string> } {
  const m = GITHUB_REPO.exec(url);
  if (!egress || !m) return { fetchUrl: url, env: {} };
  return {
    fetchUrl: `${egress.url}/github.com/${m[1]}/${m[2]}.git`,
    env: {
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: `http.${egress.url}/.extraHeader`,
      GIT_CONFIG_VALUE_0: `Authorization: Bearer ${egress.token}`,
    },
  };
}

/**
 * Fetches exactly `ref` (a branch, tag or commit; default the remote HEAD) with depth 1 into a fresh
 * repository and checks it out detached. Returns the checked-out commit, the base of the patch.
 */
export async function cloneRepo(
  url: string,
  ref: string | undefined,
  dirs: TaskDirs,
  signal: AbortSignal,
  onLine: (line: string) => void,
  opts: { gitEgress?: GitEgress | undefined } = {},
): Promise<Result<string>> {
  const route = routeThroughEgress(url, opts.gitEgress);
  const env = { ...gitEnv(dirs.home), ...route.env };
  const stderr: string[] = [];
  const progress = progressFilter(onLine);
  const git = async (args: string[], quiet = false) => {
    const exit = await runProcess(["git", ...SAFE_GIT, ...args], {
      cwd: dirs.work,
      env,
      signal,
      onStderrLine: (raw) => {
        // git names the URL it fetched from; the user knows the repository by its own URL.
        const line = raw
          .replaceAll(route.fetchUrl, url)
          .replaceAll(route.fetchUrl.replace(/\.git$/, ""), url);
        stderr.push(line);
        if (!quiet) progress(line);
      },
    });
    return exit.exitCode === 0;
  };
  await git(["init", "-q", "-b", "openagents-base"], true);
  const want = ref ?? "HEAD";
  // Fetched by URL, not through a configured remote: one process less on the cold-start path, and the
  // workspace holds no remote an agent could try to push to.
  let fetched = await git(["fetch", "--depth", "1", "--no-tags", "--progress", route.fetchUrl, want]);
  if (!fetched && !signal.aborted && /^[0-9a-f]{7,40}$/i.test(want)) {
    // Some servers refuse a shallow fetch of a bare commit id; fetch everything and look it up.
    stderr.length = 0;
    fetched = await git([
      "fetch",
      "--no-tags",
      "--progress",
      route.fetchUrl,
      "+refs/heads/*:refs/remotes/origin/*",
    ]);
    if (fetched) fetched = await git(["checkout", "-q", "--detach", want]);
    if (fetched) return revParse(dirs, signal);
  }
  if (signal.aborted) return fail(ErrorCode.Cancelled, "clone stopped");
  if (!fetched) return classifyFetchError(stderr.join("\n"), url, want);
  const fetchHead = await readFile(path.join(dirs.work, ".git", "FETCH_HEAD"), "utf8").catch(() => "");
  const sha = /^[0-9a-f]{40,64}/.exec(fetchHead)?.[0];
  if (!sha || !(await git(["checkout", "-q", "--detach", sha], true))) {
    return fail(ErrorCode.CloneFailed, `could not check out ${want}: ${lastLines(stderr)}`);
  }
  return { ok: true, value: sha };
}

/**
 * git's progress output redraws one line with `\r`; keep the last state of each line, and at most one
 * percentage update per second so a large clone shows progress without flooding the event log.
 */
function progressFilter(onLine: (line: string) => void): (raw: string) => void {
  let lastPercentAt = 0;
  return (raw) => {
    const text = raw
      .split("\r")
      .map((s) => s.trim())
      .filter(Boolean)
      .at(-1);
    if (!text) return;
    const isPercent = /\d+% \(\d+\/\d+\)/.test(text) && !/done\.?$/.test(text);
    if (isPercent) {
      if (Date.now() - lastPercentAt < 1000) return;
      lastPercentAt = Date.now();
    }
    onLine(text);
  };
}

async function revParse(dirs: TaskDirs, signal: AbortSignal): Promise<Result<string>> {
  let sha = "";
  const exit = await runProcess(["git", ...SAFE_GIT, "rev-parse", "HEAD"], {
    cwd: dirs.work,
    env: gitEnv(dirs.home),
    signal,
    onStdoutLine: (line) => {
      sha = line.trim();
    },
  });
  return exit.exitCode === 0 && sha
    ? { ok: true, value: sha }
    : fail(ErrorCode.CloneFailed, "no commit checked out");
}

function classifyFetchError(stderr: string, url: string, ref: string): Result<string> {
  const shown = url.replace(/\/\/[^/@]*@/, "//***@");
  if (
    /couldn't find remote ref|not our ref|no such remote ref|unadvertised object|invalid refspec/i.test(
      stderr,
    )
  ) {
    return fail(ErrorCode.RefNotFound, `ref "${ref}" not found in ${shown}`);
  }
  if (/does not appear to be a git repository|repository .* not found|not found|no such file/i.test(stderr)) {
    return fail(ErrorCode.RepoNotFound, `repository not found: ${shown}`);
  }
  return fail(ErrorCode.CloneFailed, `git fetch from ${shown} failed: ${lastLines(stderr.split("\n"))}`);
}

const lastLines = (lines: string[]) =>
  lines
    .filter((l) => l.trim())
    .slice(-3)
    .join(" | ")
    .slice(0, 500);

export const MAX_PATCH_BYTES = 8 * 1024 * 1024;

export interface WorkspaceChanges {
  patch: string;
  diffstat: Diffstat;
  /** Set when the patch was too large to return whole. */
  truncated: boolean;
}

/**
 * Computes the unified patch (new, deleted and binary files included) of everything in the work tree
 * against `base`. It runs inside the sandbox because the repository (its config, attributes and hooks)
 * is now the agent's: git run outside could be made to execute the agent's commands.
 */
export async function collectChanges(
  sandbox: Sandbox,
  dirs: TaskDirs,
  base: string,
  signal: AbortSignal,
): Promise<Result<WorkspaceChanges>> {
  const env = { ...gitEnv(dirs.home), TMPDIR: dirs.tmp };
  const add = await sandbox.run(["git", ...SAFE_GIT, "add", "-A"], { cwd: dirs.work, env, signal });
  if (add.exitCode !== 0)
    return fail(ErrorCode.Internal, "could not stage the work tree to compute the patch");
  const numstat: string[] = [];
  await sandbox.run(["git", ...SAFE_GIT, "diff", "--cached", "--numstat", "--no-renames", base], {
    cwd: dirs.work,
    env,
    signal,
    onStdoutLine: (line) => numstat.push(line),
  });
  const lines: string[] = [];
  let bytes = 0;
  let truncated = false;
  const diff = await sandbox.run(
    ["git", ...SAFE_GIT, "diff", "--cached", "--binary", "--no-renames", "--no-color", "--no-ext-diff", base],
    {
      cwd: dirs.work,
      env,
      signal,
      onStdoutLine: (line) => {
        bytes += Buffer.byteLength(line) + 1;
        if (bytes > MAX_PATCH_BYTES) truncated = true;
        else lines.push(line);
      },
    },
  );
  if (diff.exitCode !== 0) return fail(ErrorCode.Internal, "git diff failed while computing the patch");
  const patch = truncated ? "" : lines.length ? `${lines.join("\n")}\n` : "";
  return { ok: true, value: { patch, diffstat: parseNumstat(numstat), truncated } };
}

/** Parses `git diff --numstat` output; binary files show `-` for both counts. */
export function parseNumstat(lines: string[]): Diffstat {
  const files: FileStat[] = [];
  for (const line of lines) {
    const m = /^(-|\d+)\t(-|\d+)\t(.+)$/.exec(line);
    if (!m) continue;
    const binary = m[1] === "-";
    const file: FileStat = {
      path: m[3]!,
      insertions: binary ? 0 : Number(m[1]),
      deletions: binary ? 0 : Number(m[2]),
    };
    if (binary) file.binary = true;
    files.push(file);
  }
  return {
    filesChanged: files.length,
    insertions: files.reduce((n, f) => n + f.insertions, 0),
    deletions: files.reduce((n, f) => n + f.deletions, 0),
    files,
  };
}
