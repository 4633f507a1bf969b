import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { SandboxManager, type SandboxRuntimeConfig } from "@anthropic-ai/sandbox-runtime";
import { ErrorCode } from "@openagents/protocol";
import { type EgressProxy, startEgressProxy } from "./egress-proxy.ts";
import { type ProcessExit, type ProcessOptions, runProcess } from "./process.ts";
import {
  allowedDestinations,
  checkHostPorts,
  filesystemRules,
  innerScript,
  resolvePath,
  type SandboxPolicy,
} from "./sandbox-policy.ts";

export type { SandboxPolicy } from "./sandbox-policy.ts";

export interface SandboxRunOptions extends Omit<ProcessOptions, "cwd"> {
  /** Default: the policy's workspace. */
  cwd?: string;
  /** Host loopback ports the process may reach (the key proxy), whatever the network policy. */
  hostPorts?: number[];
}

/** Runs processes of one task under @anthropic-ai/sandbox-runtime. */
export interface Sandbox {
  run(argv: readonly string[], opts: SandboxRunOptions): Promise<ProcessExit>;
}

/** The sandbox cannot run on this machine; the message says what to install. */
export class SandboxUnavailableError extends Error {
  readonly code = ErrorCode.SandboxUnavailable;
  constructor(message: string) {
    super(`sandbox_unavailable: ${message}`);
    this.name = "SandboxUnavailableError";
  }
}

interface Tools {
  bwrap: string;
  socat: string;
  sh: string;
}

/** `name` on the runner's PATH, as an absolute path; the child's PATH is the caller's and may lack it. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const INSTALL_HINT =
  "install bubblewrap, socat and ripgrep (Debian/Ubuntu: apt-get install bubblewrap socat ripgrep)";

function findTools(): Tools {
  if (process.platform !== "linux") {
    throw new SandboxUnavailableError(
      `the task sandbox runs on Linux with bubblewrap; ${process.platform} is not supported by this runner`,
    );
  }
  const bwrap = which("bwrap");
  const socat = which("socat");
  const sh = which("sh");
  const missing = [
    !bwrap && "bwrap (bubblewrap)",
    !socat && "socat",
    !which("rg") && "rg (ripgrep)",
    !sh && "sh",
  ].filter((m): m is string => typeof m === "string");
  if (missing.length > 0 || !bwrap || !socat || !sh) {
    throw new SandboxUnavailableError(`${missing.join(", ")} not found on PATH: ${INSTALL_HINT}`);
  }
  return { bwrap, socat, sh };
}

const MAX_SOCKET_PATH_BYTES = 107;
/** `/claude-socks-<16 hex>.sock`, srt's longest bridge socket name. */
const BRIDGE_SOCKET_NAME_BYTES = 35;

/** A private directory under /tmp for srt's bridge sockets, removed when this process exits. */
function shortSocketDir(): string {
  const dir = mkdtempSync("/tmp/oa-srt-");
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// SandboxManager is a process-wide singleton: it is initialised once with a policy that allows
// nothing, and every run brings its own filesystem rules (customConfig) and network allow list
// (registerCommandNetworkLists under a random id), so concurrent tasks never share a policy.
let initialized: Promise<void> | undefined;
function initializeOnce(tools: Tools): Promise<void> {
  initialized ??= (async () => {
    const config: SandboxRuntimeConfig = {
      network: { allowedDomains: [], deniedDomains: [] },
      filesystem: { denyRead: [], allowWrite: [], denyWrite: [] },
      bwrapPath: tools.bwrap,
      socatPath: tools.socat,
    };
    const deps = SandboxManager.checkDependencies();
    if (deps.errors.length > 0)
      throw new SandboxUnavailableError(`${deps.errors.join("; ")}: ${INSTALL_HINT}`);
    const before = new Map(SIGNALS.map((sig) => [sig, process.listeners(sig)]));
    // srt binds its bridge sockets in os.tmpdir(), and a Unix socket path holds at most 107 bytes: a
    // container's private TMPDIR (state dir + user id) can be longer, so they go to a short one.
    const tmpdir = process.env.TMPDIR;
    if (Buffer.byteLength(os.tmpdir()) + BRIDGE_SOCKET_NAME_BYTES > MAX_SOCKET_PATH_BYTES) {
      process.env.TMPDIR = shortSocketDir();
    }
    try {
      // srt gives its socat bridges 600 ms to create their sockets; a loaded machine can take longer.
      // It cleans up after a failed attempt, so another one is safe.
      for (let attempt = 1; ; attempt++) {
        try {
          await SandboxManager.initialize(config);
          break;
        } catch (e) {
          if (attempt >= 4 || !/bridge/i.test(e instanceof Error ? e.message : "")) throw e;
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    } finally {
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
    }
    keepDefaultSignalExit(before);
  })().catch((e: unknown) => {
    initialized = undefined;
    throw e instanceof SandboxUnavailableError
      ? e
      : new SandboxUnavailableError(e instanceof Error ? e.message : String(e));
  });
  return initialized;
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * srt's initialize() adds SIGINT/SIGTERM listeners that reset the sandbox (stopping the proxies under
 * every running task) and, being listeners, stop Node from exiting on the signal. They are replaced
 * by one that keeps the default — exit — when the program has no handler of its own; srt's 'exit'
 * listener then still removes its socket files.
 */
function keepDefaultSignalExit(before: Map<(typeof SIGNALS)[number], NodeJS.SignalsListener[]>): void {
  for (const sig of SIGNALS) {
    const had = before.get(sig) ?? [];
    for (const listener of process.listeners(sig)) {
      if (!had.includes(listener)) process.removeListener(sig, listener);
    }
    process.on(sig, function exitLikeDefault() {
      if (process.listenerCount(sig) === 1) process.exit(128 + os.constants.signals[sig]);
    });
  }
}

let egress: Promise<EgressProxy> | undefined;
const egressProxy = (): Promise<EgressProxy> => {
  egress ??= startEgressProxy().catch((e: unknown) => {
    egress = undefined;
    throw e;
  });
  return egress;
};

/** At least 128 random bits (srt's floor): the id is all that binds a proxy connection to its allow list. */
const newCommandId = () => randomBytes(18).toString("base64url");

/** The proxy variables srt sets; in `open` mode they point at the egress proxy instead. */
const PROXY_VARS = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "GRPC_PROXY",
  "DOCKER_HTTP_PROXY",
  "DOCKER_HTTPS_PROXY",
];
const SRT_ONLY_VARS = [
  "FTP_PROXY",
  "ftp_proxy",
  "RSYNC_PROXY",
  "CLOUDSDK_PROXY_USERNAME",
  "CLOUDSDK_PROXY_PASSWORD",
];

function openModeEnv(port: number, socat: string): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {};
  for (const name of PROXY_VARS) {
    env[name] = url;
    env[name.toLowerCase()] = url;
  }
  env.CLOUDSDK_PROXY_ADDRESS = "127.0.0.1";
  env.CLOUDSDK_PROXY_PORT = String(port);
  env.GIT_SSH_COMMAND = `ssh -o ControlMaster=no -o ControlPath=none -o ProxyCommand='${socat} - PROXY:127.0.0.1:%h:%p,proxyport=${port}'`;
  return env;
}

const literal = (p: string) => ({ path: p, literal: true as const });

/**
 * Prepares a sandbox for one task: checks that bubblewrap and friends are installed, starts srt's
 * proxies (once per process) and validates the policy. Throws {@link SandboxUnavailableError} when the
 * machine cannot sandbox, and a plain Error for a policy that makes no sense.
 *
 * @example
 * const sandbox = await createSandbox({ workspace, writable: [home, tmp], workspacesRoot, network: { mode: "none" } });
 * const exit = await sandbox.run(["bash", "-c", "make test"], { env: { PATH, HOME: home, TMPDIR: tmp }, hostPorts: [keyProxy.port], signal });
 */
export async function createSandbox(policy: SandboxPolicy): Promise<Sandbox> {
  const tools = findTools();
  const home = resolvePath(policy.home ?? os.homedir());
  const rules = filesystemRules(policy, home);
  const workspace = resolvePath(policy.workspace);
  if (!statSync(workspace, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`sandbox policy: workspace ${workspace} is not a directory`);
  }
  const basePorts = checkHostPorts(policy.hostPorts ?? []);
  await initializeOnce(tools);
  // Let srt's own grammar judge the allow list now, rather than at the first run.
  const probeId = newCommandId();
  SandboxManager.registerCommandNetworkLists(probeId, {
    allowedDomains: allowedDestinations(policy.network, []),
  });
  SandboxManager.unregisterCommandNetworkLists(probeId);
  if (policy.network.mode === "open") await egressProxy();

  const customConfig: Partial<SandboxRuntimeConfig> = {
    filesystem: {
      allowWrite: rules.allowWrite.map(literal),
      denyWrite: rules.denyWrite.map(literal),
      denyRead: rules.denyRead.map(literal),
      allowRead: rules.allowRead.map(literal),
    },
    network: { allowedDomains: [], deniedDomains: [] },
  };

  return {
    async run(argv, opts) {
      if (argv.length === 0) throw new Error("sandbox: empty argv");
      const hostPorts = checkHostPorts([...basePorts, ...(opts.hostPorts ?? [])]);
      const bridged = [...hostPorts];
      const setEnv: Record<string, string> = {};
      if (policy.network.mode === "open") {
        const { port } = await egressProxy();
        if (!bridged.includes(port)) bridged.push(port);
        Object.assign(setEnv, openModeEnv(port, tools.socat));
      }
      // srt points TMPDIR at its shared /tmp/claude; the caller's own (private) TMPDIR wins.
      const unsetEnv = policy.network.mode === "open" ? [...SRT_ONLY_VARS] : [];
      if (opts.env.TMPDIR !== undefined) setEnv.TMPDIR = opts.env.TMPDIR;
      else unsetEnv.push("TMPDIR");

      const commandId = newCommandId();
      const script = innerScript({
        argv,
        socatPath: tools.socat,
        proxyAuth: `srt.${Buffer.from(commandId).toString("base64")}:${SandboxManager.getProxyAuthToken() ?? ""}`,
        bridgedPorts: bridged,
        setEnv,
        unsetEnv,
      });
      if (opts.signal?.aborted) return { exitCode: null, signal: null, aborted: true };
      let wrapped: string;
      try {
        wrapped = await SandboxManager.wrapWithSandbox(script, "sh", customConfig, opts.signal, {
          commandId,
          commandText: argv.join(" "),
        });
      } catch (e) {
        if (opts.signal?.aborted) return { exitCode: null, signal: null, aborted: true };
        throw e;
      }
      SandboxManager.registerCommandNetworkLists(commandId, {
        allowedDomains: allowedDestinations(policy.network, bridged),
      });
      try {
        const { hostPorts: _ports, cwd, ...processOpts } = opts;
        // The child's environment is the caller's alone (bwrap passes it on); srt adds only its proxy
        // variables. Nothing of the runner's own environment, which holds API keys, gets in.
        return await runProcess([tools.sh, "-c", wrapped], { ...processOpts, cwd: cwd ?? workspace });
      } finally {
        SandboxManager.unregisterCommandNetworkLists(commandId);
        SandboxManager.cleanupAfterCommand();
      }
    },
  };
}
