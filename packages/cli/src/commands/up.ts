import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type CliIo, type Command, intOption, str, UserError } from "../command.ts";
import { configDir, stateDir } from "../paths.ts";
import { startContainerHost } from "./container-host.ts";

/**
 * Variables `up` hands to the Worker from its own environment: GitHub sign-in and private
 * repositories, and selling credits with Lightning (the platform's NWC wallet and its rate).
 */
const PASSED_VARS = [
  "PLATFORM_NWC_URI",
  "SATS_PER_USD",
  "GITHUB_CLIENT_ID",
  "GITHUB_CLIENT_SECRET",
  "GITHUB_SCOPE",
  "GITHUB_TOKEN_TTL",
  "GITHUB_OAUTH_URL",
  "GITHUB_API_URL",
  "GITHUB_GIT_URL",
] as const;

const packageDir = (name: string) => path.dirname(fileURLToPath(import.meta.resolve(`${name}/package.json`)));

/** `openagents up`: the local stack — the edge Worker in workerd plus the local container host. */
export const upCommand: Command = {
  path: ["up"],
  summary: "Start the local stack: web app and API on http://localhost:8787, containers on this machine",
  options: [
    { name: "port", type: "string", value: "N", description: "Port of the web app and API (default 8787)" },
    {
      name: "token",
      type: "string",
      value: "T",
      description: "The local user's API token (default: generated once, kept)",
    },
  ],
  details: `Runs the edge Worker in workerd (wrangler dev) with local Durable Object and D1 storage in
$XDG_STATE_HOME/openagents/edge, and the local container host that runs each user's "container" as a
runner process. Ctrl-C stops all of it. State survives restarts.
With GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET in the environment (an OAuth or GitHub app whose
callback is http://localhost:PORT/api/auth/github/callback), the web app offers sign-in with GitHub
and tasks can use the user's private repositories (GITHUB_SCOPE, GITHUB_TOKEN_TTL: see the README).
With PLATFORM_NWC_URI (a NIP-47 wallet connection) and SATS_PER_USD, users can buy credits.`,
  async handler(o, io) {
    const port = intOption(o, "port", 1, 65_535) ?? 8787;
    const token = str(o, "token") ?? (await localToken(io));
    if (token.length < 16) throw new UserError("--token must be at least 16 characters");
    const state = stateDir(io.env);
    await mkdir(state, { recursive: true, mode: 0o700 });
    const edgeDir = packageDir("@openagents/edge");

    await buildWebIfStale(io);
    const stops: Array<() => Promise<void>> = [];
    try {
      const egress = await startEgress(io.env, stops);
      const hostToken = randomBytes(24).toString("base64url");
      const host = await startContainerHost({
        port: 0,
        token: hostToken,
        root: path.join(state, "containers"),
        env: io.env,
        egressEnv: egress,
      });
      stops.unshift(() => host.close());
      const envFile = path.join(state, "edge.env");
      const platformSecret = await localSecret(path.join(state, "platform-secret"));
      await writeFile(
        envFile,
        [
          `LOCAL_TOKEN=${token}`,
          `LOCAL_CONTAINER_HOST=${host.url}`,
          `LOCAL_CONTAINER_HOST_TOKEN=${hostToken}`,
          // Encrypts stored API keys at rest (key id "local"); kept in the state dir so they survive restarts.
          `PLATFORM_SECRET=local:${platformSecret}`,
          // Where containers send model traffic for users with a stored key (the edge's egress route).
          `EGRESS_URL=http://127.0.0.1:${port}`,
          // Stored keys call the same upstreams as this shell's own key proxies would.
          ...(io.env.ANTHROPIC_BASE_URL ? [`ANTHROPIC_UPSTREAM=${io.env.ANTHROPIC_BASE_URL}`] : []),
          ...(io.env.OPENAI_BASE_URL ? [`OPENAI_UPSTREAM=${io.env.OPENAI_BASE_URL}`] : []),
          // GitHub sign-in and Lightning purchases, when this shell configures them.
          ...PASSED_VARS.filter((name) => io.env[name]).map((name) => `${name}=${io.env[name]}`),
          "",
        ].join("\n"),
        { mode: 0o600 },
      );
      await chmod(envFile, 0o600);
      const persist = path.join(state, "edge");
      const wrangler = path.join(packageDir("wrangler"), "bin", "wrangler.js");
      const common = ["--config", path.join(edgeDir, "wrangler.jsonc"), "--persist-to", persist];
      await runToEnd(io, [
        process.execPath,
        wrangler,
        "d1",
        "migrations",
        "apply",
        "DB",
        "--local",
        ...common,
      ]);
      const dev = spawn(
        process.execPath,
        [
          wrangler,
          "dev",
          ...common,
          "--ip",
          "127.0.0.1",
          "--port",
          String(port),
          "--env-file",
          envFile,
          "--show-interactive-dev-session=false",
          "--log-level",
          "warn",
        ],
        { cwd: edgeDir, env: cleanEnv(io.env), detached: true, stdio: ["ignore", "pipe", "pipe"] },
      );
      stops.unshift(() => stopGroup(dev.pid));
      dev.stdout.on("data", (d: Buffer) => io.stderr.write(withoutCfNoise(d.toString())));
      dev.stderr.on("data", (d: Buffer) => io.stderr.write(withoutCfNoise(d.toString())));
      const exited = new Promise<number>((resolve) => dev.on("exit", (code) => resolve(code ?? 1)));
      const ready = await Promise.race([
        waitForHttp(`http://127.0.0.1:${port}/api/openapi.json`, io.signal),
        exited,
      ]);
      if (ready !== true)
        throw new UserError(`the edge Worker did not start (wrangler exited with ${ready})`);
      io.stdout.write(
        `OpenAgents is up: http://localhost:${port}/#token=${token}\n` +
          `API token: ${token}\n(Ctrl-C stops everything; state is kept in ${state})\n`,
      );
      const code = await Promise.race([
        exited,
        new Promise<number>((resolve) =>
          io.signal.addEventListener("abort", () => resolve(0), { once: true }),
        ),
      ]);
      return code;
    } finally {
      for (const stop of stops) await stop().catch(() => {});
    }
  },
};

/**
 * The egress point of the local stack: one loopback key proxy per vendor whose key is in this
 * environment. Containers get only its URL and a capability token, never the key (as on Cloudflare,
 * where outbound interception adds it). The proxies close when `up` stops.
 */
async function startEgress(
  env: NodeJS.ProcessEnv,
  stops: Array<() => Promise<void>>,
): Promise<Record<string, string>> {
  const { credentialsFromEnv, startKeyProxy } = await import("@openagents/runner");
  const creds = credentialsFromEnv(env);
  const out: Record<string, string> = {};
  if (creds.anthropicApiKey) {
    const proxy = await startKeyProxy({
      style: "anthropic",
      apiKey: creds.anthropicApiKey,
      upstream: creds.anthropicBaseUrl,
    });
    stops.push(() => proxy.close());
    out.ANTHROPIC_BASE_URL = proxy.url;
    out.ANTHROPIC_API_KEY = proxy.token;
  }
  if (creds.openaiApiKey) {
    const proxy = await startKeyProxy({
      style: "openai",
      apiKey: creds.openaiApiKey,
      upstream: creds.openaiBaseUrl,
    });
    stops.push(() => proxy.close());
    out.OPENAI_BASE_URL = proxy.url;
    out.OPENAI_API_KEY = proxy.token;
  }
  return out;
}

/** A random secret created once (mode 0600) and reused on every start. */
async function localSecret(file: string): Promise<string> {
  const existing = (await readFile(file, "utf8").catch(() => "")).trim();
  if (existing) return existing;
  const secret = randomBytes(32).toString("base64url");
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** The generated local token, created once with mode 0600 so restarts keep the same login. */
async function localToken(io: CliIo): Promise<string> {
  const file = path.join(configDir(io.env), "local-token");
  const existing = await readFile(file, "utf8").catch(() => "");
  if (existing.trim()) return existing.trim();
  const token = `oa_${randomBytes(24).toString("base64url")}`;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Rebuilds the web app when any source file is newer than its build. */
async function buildWebIfStale(io: CliIo): Promise<void> {
  const webDir = packageDir("@openagents/web");
  const built = path.join(webDir, "dist", "index.html");
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const sources = await readdir(path.join(webDir, "src"), { recursive: true }).catch(() => [] as string[]);
  const newest = Math.max(0, ...sources.map((f) => statSync(path.join(webDir, "src", f)).mtimeMs));
  if (builtAt > 0 && builtAt >= newest) return;
  io.stderr.write("building the web app…\n");
  const vite = path.join(packageDir("vite"), "bin", "vite.js");
  await runToEnd(io, [process.execPath, vite, "build", webDir, "--logLevel", "warn"]);
}

/**
 * wrangler dev tries to fetch the `Request.cf` placeholder from the internet at start; offline it
 * prints a warning and a stack that mean nothing to a local user (FIELD-NOTES), so they are dropped.
 */
const withoutCfNoise = (text: string): string =>
  text
    .split("\n")
    .filter(
      (line) =>
        !/Unable to fetch the `Request\.cf` object|ENOTFOUND workers\.cloudflare\.com|at GetAddrInfoReqWrap\./.test(
          line,
        ),
    )
    .join("\n");

// wrangler gets no model keys or other secrets of this shell.
const cleanEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(env).filter(([k]) => !/KEY|TOKEN|SECRET|PASSWORD/i.test(k)));

function runToEnd(io: CliIo, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: cleanEnv(io.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new UserError(`${path.basename(argv[1]!)} failed:\n${output.trim()}`)),
    );
  });
}

async function waitForHttp(url: string, signal: AbortSignal): Promise<true> {
  for (;;) {
    if (signal.aborted) throw new UserError("interrupted while starting");
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopGroup(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
