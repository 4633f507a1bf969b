import { lstat, open } from "node:fs/promises";
import path from "node:path";
import { runProcess } from "./process.ts";

/** At most this many tracked paths are looked at (a huge monorepo must not slow the start down). */
export const MAX_SCANNED_PATHS = 200_000;
/** At most this many file names go into the warning. */
export const MAX_NAMED = 10;

const TEMPLATE = /\.(example|sample|template|dist)$/i;

/**
 * Whether a tracked path's name says it usually holds a secret: `.env`, `.env.*` (not
 * `.env.example`-style templates), `*.pem`, `*.key`, `id_rsa*` and the other SSH private keys (not
 * `.pub`), `credentials.json`. `.npmrc` is decided by its content (see {@link findSecretFiles}).
 *
 * @example
 * isSecretFileName("config/.env.production") // true
 * isSecretFileName(".env.example") // false
 */
export function isSecretFileName(file: string): boolean {
  const name = path.posix.basename(file);
  if (name === ".env") return true;
  if (name.startsWith(".env.")) return !TEMPLATE.test(name);
  if (/\.(pem|key)$/i.test(name)) return true;
  if (/^id_(rsa|dsa|ecdsa|ed25519)/.test(name)) return !name.endsWith(".pub");
  return name === "credentials.json";
}

/** An `.npmrc` line that carries a registry credential (`_authToken`, `_auth`, `_password`). */
const NPM_AUTH = /^\s*(?:\/\/[^=\s]*:)?_(authToken|auth|password)\s*=\s*\S/m;

async function npmrcHasAuth(file: string): Promise<boolean> {
  // A committed symlink could point outside the checkout (this runs on the host, not in the sandbox).
  if (!(await lstat(file).catch(() => null))?.isFile()) return false;
  const fh = await open(file, "r").catch(() => null);
  if (!fh) return false;
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return NPM_AUTH.test(buf.subarray(0, bytesRead).toString("utf8"));
  } finally {
    await fh.close();
  }
}

/**
 * The tracked files of a checked-out repository (`git ls-files`, bounded by
 * {@link MAX_SCANNED_PATHS}) that look like secrets. Only names are returned; a file's content is
 * read only for `.npmrc`, to see whether it holds a token, and never leaves this function.
 *
 * @example
 * const found = await findSecretFiles(dirs.work, gitEnv(dirs.home), signal);
 */
export async function findSecretFiles(
  workDir: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<string[]> {
  const stop = new AbortController();
  const found: string[] = [];
  const npmrcs: string[] = [];
  let seen = 0;
  await runProcess(["git", "-c", "core.quotePath=false", "ls-files", "--cached"], {
    cwd: workDir,
    env,
    signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
    graceMs: 500,
    onStdoutLine: (line) => {
      if (++seen > MAX_SCANNED_PATHS) return stop.abort();
      if (path.posix.basename(line) === ".npmrc") npmrcs.push(line);
      else if (isSecretFileName(line)) found.push(line);
    },
  });
  for (const rc of npmrcs.slice(0, 100)) {
    if (await npmrcHasAuth(path.join(workDir, rc))) found.push(rc);
  }
  return found.sort();
}

/**
 * The one `log` line (stream `system`) a task gets when its repository holds secret-looking files:
 * it starts with `warning: ` (the web app shows such lines as a banner) and names up to
 * {@link MAX_NAMED} files; `undefined` when there are none.
 *
 * @example
 * secretFilesWarning([".env"]) // "warning: the repository contains 1 file that may hold secrets: .env — …"
 */
export function secretFilesWarning(files: readonly string[]): string | undefined {
  if (files.length === 0) return undefined;
  const named = files.slice(0, MAX_NAMED).join(", ");
  const more = files.length > MAX_NAMED ? ` and ${files.length - MAX_NAMED} more` : "";
  const count = files.length === 1 ? "1 file" : `${files.length} files`;
  return `warning: the repository contains ${count} that may hold secrets: ${named}${more}. The agent and everything it runs can read them; remove them from the repository and rotate what they contain.`;
}
