import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Skill } from "@openagents/nostr";
import type { RunTask } from "@openagents/nostr/provider";
import {
  type CliIo,
  type Command,
  flag,
  intOption,
  list,
  type ParsedOptions,
  str,
  UserError,
} from "../command.ts";
import { stateDir } from "../paths.ts";
import { startTunnel, TUNNEL_OPTIONS } from "./connect-tunnel.ts";
import { ensureSecretKey } from "./keys.ts";

/** One thing `openagents connect` keeps running: the tunnel to the web app, the NIP-90 provider. */
interface ConnectPart {
  name: string;
  stop(): Promise<void>;
  /** Resolves when the part ends on its own (the tunnel: 1 when the edge refused the machine). */
  done?: Promise<number>;
}

const SKILL_LIST = "compute, code, analysis, docs";

/** `openagents connect`: offers this machine's compute, until Ctrl-C. */
export const connectCommand: Command = {
  path: ["connect"],
  summary: "Offer this machine's compute: to your web app (--url, --token) and/or on Nostr (--nip90)",
  options: [
    { name: "nip90", type: "boolean", description: "Be a NIP-90 provider (Data Vending Machine)" },
    { name: "skills", type: "string", value: "LIST", description: `Comma-separated skills: ${SKILL_LIST}` },
    {
      name: "relay",
      type: "string",
      value: "URL",
      multiple: true,
      description: "Relay to listen and publish on",
    },
    {
      name: "price-msats",
      type: "string",
      value: "N",
      description: "Price per job in millisatoshis (default 0: free)",
    },
    {
      name: "price",
      type: "string",
      value: "SKILL=N",
      multiple: true,
      description: "Price of one skill, e.g. code=50000",
    },
    {
      name: "max-jobs",
      type: "string",
      value: "N",
      description: "Jobs run at once; more are queued (default 1)",
    },
    {
      name: "allow-repo",
      type: "string",
      value: "PATTERN",
      multiple: true,
      description: "Repository URL glob to accept (* within a segment, ** across); default: any remote URL",
    },
    {
      name: "nwc",
      type: "string",
      value: "URI",
      description: "Wallet (NIP-47 nostr+walletconnect://) for invoices",
    },
    {
      name: "kind",
      type: "string",
      value: "SKILL=KIND",
      multiple: true,
      description: "Request kind of a skill, e.g. code=5100",
    },
    {
      name: "name",
      type: "string",
      value: "TEXT",
      description: "Name of this machine (in My machines and the NIP-89 announcement)",
    },
    // The tunnel mode's own options (--allow-repo and --name mean the same in both modes).
    ...TUNNEL_OPTIONS.filter((opt) => opt.name !== "allow-repo" && opt.name !== "name"),
  ],
  details: `Examples:
  openagents connect --url http://localhost:8787 --token oam_… --allow-dir ~/src
  openagents connect --nip90 --skills code,analysis --relay wss://relay.example --price-msats 50000 --nwc "$NWC"
  openagents connect --nip90 --skills compute --relay ws://127.0.0.1:7777 --max-jobs 4
Jobs run in the local sandbox with the runner; job history and earnings: openagents provider status.
Local repositories are refused unless an --allow-repo pattern names them (e.g. file:///srv/repos/**).`,
  async handler(o, io) {
    const parts: ConnectPart[] = [];
    const nip90 = flag(o, "nip90");
    const tunnel = str(o, "url") !== undefined || str(o, "token") !== undefined;
    if (!nip90 && !tunnel) {
      throw new UserError(
        "nothing to connect: pass --url URL --token T to run your web app's tasks here, and/or --nip90 to sell jobs on Nostr",
      );
    }
    let code = 0;
    try {
      if (tunnel) parts.push(await startTunnel(o, io));
      if (nip90) parts.push(await startNip90(o, io));
      const endedOnItsOwn = parts.flatMap((p) => (p.done ? [p.done] : []));
      code = await Promise.race([
        new Promise<number>((resolve) => {
          if (io.signal.aborted) return resolve(0);
          io.signal.addEventListener("abort", () => resolve(0), { once: true });
        }),
        ...endedOnItsOwn,
      ]);
    } finally {
      for (const p of parts.reverse()) {
        io.stderr.write(`stopping ${p.name}…\n`);
        await p.stop();
      }
    }
    return code;
  },
};

function parsePrices(o: ParsedOptions, skills: readonly string[]): Record<string, number> {
  const all = intOption(o, "price-msats", 0, 2_100_000_000_000_000) ?? 0;
  const prices: Record<string, number> = Object.fromEntries(skills.map((s) => [s, all]));
  for (const p of list(o, "price")) {
    const m = /^([a-z]+)=(\d{1,16})$/.exec(p);
    if (!m || !skills.includes(m[1]!)) {
      throw new UserError(
        `--price expects SKILL=MSATS for one of the offered skills (${skills.join(", ")}), got "${p}"`,
      );
    }
    prices[m[1]!] = Number(m[2]);
  }
  return prices;
}

/** A provider-owned repository with one empty commit, for `compute` jobs that name no repository. */
function scratchRepo(dir: string): string {
  const bare = path.join(dir, "scratch.git");
  if (existsSync(path.join(bare, "HEAD"))) return bare;
  mkdirSync(bare, { recursive: true, mode: 0o700 });
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "openagents",
    GIT_AUTHOR_EMAIL: "openagents@localhost",
    GIT_COMMITTER_NAME: "openagents",
    GIT_COMMITTER_EMAIL: "openagents@localhost",
  };
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", bare, ...args], {
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  git("init", "-q", "--bare", "-b", "main");
  const tree = git("hash-object", "-t", "tree", "-w", "/dev/null");
  const commit = git("commit-tree", tree, "-m", "scratch");
  git("update-ref", "refs/heads/main", commit);
  return bare;
}

async function startNip90(o: ParsedOptions, io: CliIo): Promise<ConnectPart> {
  const nostr = await import("@openagents/nostr");
  const { JobStore, Provider, repoAllowed } = await import("@openagents/nostr/provider");
  const skills = (str(o, "skills") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (skills.length === 0) throw new UserError(`--skills is required (comma-separated: ${SKILL_LIST})`);
  for (const s of skills) {
    if (!(nostr.SKILLS as readonly string[]).includes(s))
      throw new UserError(`unknown skill "${s}" (one of ${SKILL_LIST})`);
  }
  const relays = list(o, "relay");
  if (relays.length === 0) throw new UserError("--relay is required (at least one ws:// or wss:// URL)");
  for (const r of relays)
    if (!nostr.isRelayUrl(r)) throw new UserError(`--relay ${r} is not a ws:// or wss:// URL`);
  const kinds = nostr.resolveJobKinds(list(o, "kind"));
  if (!kinds.ok) throw new UserError(`--kind: ${kinds.error.message}`);
  const prices = parsePrices(o, skills);
  const maxJobs = intOption(o, "max-jobs", 1, 256) ?? 1;
  const allowRepo = list(o, "allow-repo");
  const nwcUri = str(o, "nwc");
  let wallet: InstanceType<typeof nostr.NwcClient> | undefined;
  if (nwcUri !== undefined) {
    const conn = nostr.parseNwcUri(nwcUri);
    if (!conn.ok) throw new UserError(`--nwc: ${conn.error.message}`);
    wallet = new nostr.NwcClient(conn.value);
  } else if (Object.values(prices).some((p) => p > 0)) {
    throw new UserError("a price needs a wallet to issue invoices: pass --nwc nostr+walletconnect://…");
  }
  const secretKey = ensureSecretKey(io);
  const dir = stateDir(io.env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const scratch = scratchRepo(dir);
  const { credentialsFromEnv, removeTaskDirs, TaskManager, taskDirs } = await import("@openagents/runner");
  const workRoot = path.join(dir, "market-runs");
  const manager = new TaskManager({
    workRoot,
    credentials: credentialsFromEnv(io.env),
    maxConcurrent: maxJobs,
    cwd: dir,
    // Second line of defence after admission: the runner itself refuses unlisted local paths.
    allowLocalRepo: (abs) => abs === scratch || repoAllowed(pathToFileURL(abs).href, allowRepo).ok,
  });
  const runTask: RunTask = async (task, onEvent, signal) => {
    const handle = manager.start(task);
    const onAbort = () => handle.cancel("cancelled by the customer");
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    handle.log.subscribe(0, onEvent);
    try {
      return await handle.done;
    } finally {
      signal.removeEventListener("abort", onAbort);
      await removeTaskDirs(taskDirs(workRoot, handle.id));
    }
  };
  const store = JobStore.open(path.join(dir, "provider.sqlite"));
  const stamp = () => new Date().toISOString().slice(11, 19);
  const provider = new Provider({
    secretKey,
    relays,
    skills: skills as Skill[],
    kinds: kinds.value,
    prices,
    maxJobs,
    allowRepo,
    store,
    runTask,
    scratchRepo: scratch,
    ...(wallet ? { wallet } : {}),
    ...(str(o, "name") ? { name: str(o, "name")! } : {}),
    log: (line) => io.stdout.write(`[${stamp()}] ${line}\n`),
  });
  await provider.start();
  const npub = (await import("nostr-tools/nip19")).npubEncode(provider.pubkey);
  io.stdout.write(
    `NIP-90 provider ${npub}: ${skills.map((s) => `${s} (kind ${kinds.value[s as "code"]}, ${prices[s]} msats)`).join(", ")}; max ${maxJobs} at once\n`,
  );
  return {
    name: "the NIP-90 provider",
    async stop() {
      await provider.stop();
      await manager.shutdown();
      wallet?.close();
      store.close();
    },
  };
}
