import { existsSync, statSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { AGENTS, isRemoteRepo } from "@openagents/protocol";
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
import { ensureSecretKey, loadSecretKey, parsePubkey } from "./keys.ts";

const historyFile = (env: NodeJS.ProcessEnv) => path.join(stateDir(env), "jobs.sqlite");

async function openHistory(env: NodeJS.ProcessEnv) {
  const { JobHistory } = await import("@openagents/nostr/customer");
  return JobHistory.open(historyFile(env));
}

/** A repository as the `i` url input carries it: remote URLs as they are, local paths as file:// URLs. */
function repoInput(repo: string, cwd: string): string {
  if (isRemoteRepo(repo)) return repo;
  const abs = path.resolve(cwd, repo);
  if (!existsSync(abs) || !statSync(abs).isDirectory())
    throw new UserError(`--repo ${repo}: no such directory`);
  return pathToFileURL(abs).href;
}

/** `openagents job submit`: posts a NIP-90 job, follows it, pays within the bid, prints the verified result. */
export const jobSubmitCommand: Command = {
  path: ["job", "submit"],
  summary: "Post a job on the Nostr market (NIP-90) and wait for its verified result",
  options: [
    {
      name: "relay",
      type: "string",
      value: "URL",
      multiple: true,
      description: "Relay to post on (required)",
    },
    {
      name: "skill",
      type: "string",
      value: "SKILL",
      description: "compute | code | analysis | docs (required)",
    },
    {
      name: "repo",
      type: "string",
      value: "URL|PATH",
      description: "Git repository (required except for compute)",
    },
    { name: "prompt", type: "string", value: "TEXT", description: "Instructions for the agent" },
    { name: "script", type: "string", value: "FILE", description: "Script to run (compute)" },
    { name: "ref", type: "string", value: "REF", description: "Branch, tag or commit" },
    {
      name: "agent",
      type: "string",
      value: "NAME",
      description: `Agent for code/analysis/docs: ${AGENTS.join(" | ")}`,
    },
    {
      name: "bid",
      type: "string",
      value: "MSATS",
      description: "The most you pay, in millisatoshis (default 0)",
    },
    { name: "provider", type: "string", value: "NPUB", description: "Send the job to this provider only" },
    {
      name: "encrypt",
      type: "boolean",
      description: "Encrypt the inputs to the provider (NIP-44; needs --provider)",
    },
    {
      name: "nwc",
      type: "string",
      value: "URI",
      description: "Wallet (NIP-47) that pays a payment-required",
    },
    {
      name: "kind",
      type: "string",
      value: "KIND",
      description: "Request kind, if the provider uses another",
    },
    { name: "timeout", type: "string", value: "S", description: "Give up after S seconds (default 600)" },
    { name: "json", type: "boolean", description: "Print the result content as JSON" },
    { name: "out-patch", type: "string", value: "FILE", description: "Write the result's patch to FILE" },
  ],
  details: `Examples:
  openagents job submit --relay wss://relay.example --skill code --repo https://github.com/you/app --prompt "add tests" --bid 50000 --nwc "$NWC"
  openagents job submit --relay ws://127.0.0.1:7777 --skill compute --repo ./app --script job.sh --json
Exit status: 0 when the job succeeded, 1 when it failed or no verified result came, 2 for a usage error.`,
  async handler(o, io) {
    const nostr = await import("@openagents/nostr");
    const { submitJob } = await import("@openagents/nostr/customer");
    const relays = list(o, "relay");
    if (relays.length === 0) throw new UserError("--relay is required (a ws:// or wss:// URL)");
    for (const r of relays)
      if (!nostr.isRelayUrl(r)) throw new UserError(`--relay ${r} is not a ws:// or wss:// URL`);
    const skill = str(o, "skill");
    if (!skill || !(nostr.SKILLS as readonly string[]).includes(skill)) {
      throw new UserError(`--skill must be one of ${nostr.SKILLS.join(", ")}`);
    }
    const instructions = await readInstructions(o, io, skill);
    const repo = str(o, "repo");
    if (repo === undefined && skill !== "compute")
      throw new UserError(`--repo is required for a ${skill} job`);
    const agent = str(o, "agent");
    if (agent !== undefined && !(AGENTS as readonly string[]).includes(agent)) {
      throw new UserError(`--agent must be one of ${AGENTS.join(", ")}`);
    }
    const kind = intOption(o, "kind", 5000, 5999) ?? nostr.DEFAULT_JOB_KINDS[skill as "code"];
    const bid = intOption(o, "bid", 0, 2_100_000_000_000_000);
    const provider =
      str(o, "provider") === undefined ? undefined : parsePubkey(str(o, "provider")!, "provider");
    if (flag(o, "encrypt") && !provider)
      throw new UserError("--encrypt needs --provider (whom to encrypt to)");
    const timeoutSec = intOption(o, "timeout", 1, 86_400) ?? 600;
    let wallet: InstanceType<typeof nostr.NwcClient> | undefined;
    const nwc = str(o, "nwc");
    if (nwc !== undefined) {
      const conn = nostr.parseNwcUri(nwc);
      if (!conn.ok) throw new UserError(`--nwc: ${conn.error.message}`);
      wallet = new nostr.NwcClient(conn.value);
    }
    const json = flag(o, "json");
    const secretKey = ensureSecretKey(io);
    const history = await openHistory(io.env);
    const note = (line: string) => io.stderr.write(`${line}\n`);
    let requestId: string | undefined;
    try {
      const r = await submitJob({
        secretKey,
        relays,
        kind,
        job: {
          instructions,
          ...(repo !== undefined ? { repo: repoInput(repo, io.cwd) } : {}),
          ...(str(o, "ref") ? { ref: str(o, "ref")! } : {}),
          ...(agent ? { agent: agent as "shell" } : {}),
        },
        ...(bid !== undefined ? { bidMsats: bid } : {}),
        ...(provider ? { provider } : {}),
        ...(flag(o, "encrypt") ? { encrypt: "nip44" as const } : {}),
        ...(wallet ? { wallet } : {}),
        timeoutMs: timeoutSec * 1000,
        signal: io.signal,
        onRequest: (ev) => {
          requestId = ev.id;
          history.record({
            id: ev.id,
            kind,
            skill,
            relays,
            provider: provider ?? null,
            request: JSON.stringify(ev),
          });
          note(`posted job ${ev.id} (kind ${kind}) to ${relays.join(", ")}`);
        },
        onFeedback: (fb) => {
          const who = fb.provider.slice(0, 8);
          const extra = fb.extraInfo ? ` ${fb.extraInfo}` : "";
          const amount = fb.amount ? ` (${fb.amount.msats} msats)` : "";
          if (fb.status === "partial") {
            for (const line of (fb.content ?? "").split("\n")) if (line) note(`  ${who} │ ${line}`);
          } else note(`  ${who} ${fb.status}${amount}${extra}`);
        },
        onPaid: (p) => {
          note(`  paid ${p.msats} msats to ${p.provider.slice(0, 8)}`);
          if (requestId) history.update(requestId, { paidMsats: p.msats, provider: p.provider });
        },
        onRejected: (why, ev) => note(`  ignored an event from ${ev.pubkey.slice(0, 8)}: ${why}`),
      });
      if (!r.ok) {
        if (requestId) {
          const state =
            r.error.code === "timeout" ? "timed-out" : r.error.code === "cancelled" ? "cancelled" : "failed";
          history.update(requestId, { state, error: r.error.message });
        }
        io.stderr.write(`openagents: job failed: ${r.error.message}\n`);
        return 1;
      }
      const { content } = r.value;
      history.update(r.value.request.id, {
        state: content.ok ? "succeeded" : "failed",
        provider: r.value.provider,
        resultEvent: JSON.stringify(r.value.result.event),
        content: JSON.stringify(content),
        paidMsats: r.value.paidMsats,
      });
      if (json) io.stdout.write(`${JSON.stringify(content)}\n`);
      else printContent(io, content, r.value.provider);
      const outPatch = str(o, "out-patch");
      if (outPatch) {
        await writeFile(path.resolve(io.cwd, outPatch), content.patch ?? "");
        note(`patch written to ${outPatch} (${Buffer.byteLength(content.patch ?? "")} bytes)`);
      }
      return content.ok ? 0 : 1;
    } finally {
      wallet?.close();
      history.close();
    }
  },
};

async function readInstructions(o: ParsedOptions, io: CliIo, skill: string): Promise<string> {
  const prompt = str(o, "prompt");
  const script = str(o, "script");
  if (prompt !== undefined && script !== undefined)
    throw new UserError("give --prompt or --script, not both");
  if (skill === "compute") {
    if (script === undefined) throw new UserError("a compute job needs --script FILE");
    return readFile(path.resolve(io.cwd, script), "utf8").catch((e: NodeJS.ErrnoException) => {
      throw new UserError(
        `cannot read --script ${script}: ${e.code === "ENOENT" ? "no such file" : e.message}`,
      );
    });
  }
  if (prompt === undefined) throw new UserError(`a ${skill} job needs --prompt TEXT`);
  return prompt;
}

function printContent(
  io: CliIo,
  c: { ok: boolean; summary: string; exitCode: number; log?: string; report?: string; patch?: string },
  provider: string,
) {
  const out = [
    `${c.ok ? "✓ succeeded" : "✗ failed"} (exit ${c.exitCode}) — verified result from ${provider.slice(0, 16)}…`,
  ];
  if (c.summary) out.push(`summary: ${c.summary}`);
  if (c.log) out.push("log:", c.log);
  if (c.report) out.push(c.report);
  if (c.patch) out.push(`patch: ${c.patch.split("\n").length} lines (use --out-patch FILE)`);
  io.stdout.write(`${out.join("\n")}\n`);
}

const idOption = {
  name: "id",
  type: "string" as const,
  value: "ID",
  description: "Job id (or a unique prefix)",
};

function findJob(history: Awaited<ReturnType<typeof openHistory>>, o: ParsedOptions) {
  const id = str(o, "id");
  if (!id) throw new UserError("--id is required (see openagents job list)");
  const job = history.find(id.toLowerCase());
  if (job === "ambiguous") throw new UserError(`--id ${id} matches several jobs; give more characters`);
  if (!job) throw new UserError(`no job ${id} in the local history`);
  return job;
}

/** `openagents job list`: jobs this machine posted, newest first. */
export const jobListCommand: Command = {
  path: ["job", "list"],
  summary: "List the jobs posted from this machine",
  options: [
    { name: "json", type: "boolean", description: "Print as JSON lines" },
    { name: "limit", type: "string", value: "N", description: "At most N jobs (default 50)" },
  ],
  async handler(o, io) {
    const history = await openHistory(io.env);
    try {
      const jobs = history.list(intOption(o, "limit", 1, 10_000) ?? 50);
      for (const j of jobs) {
        if (flag(o, "json")) {
          const { request: _r, resultEvent: _e, content, ...rest } = j;
          io.stdout.write(`${JSON.stringify({ ...rest, content: content ? JSON.parse(content) : null })}\n`);
        } else {
          const when = new Date(j.createdAt * 1000).toISOString().replace("T", " ").slice(0, 19);
          io.stdout.write(
            `${j.id.slice(0, 12)}  ${when}  ${j.skill.padEnd(8)} ${j.state.padEnd(10)} ${j.paidMsats} msats\n`,
          );
        }
      }
      if (jobs.length === 0 && !flag(o, "json")) io.stdout.write("no jobs yet (openagents job submit …)\n");
      return 0;
    } finally {
      history.close();
    }
  },
};

/** `openagents job show`: one job from the local history, with its result. */
export const jobShowCommand: Command = {
  path: ["job", "show"],
  summary: "Show one posted job and its result",
  options: [idOption, { name: "json", type: "boolean", description: "Print as JSON" }],
  async handler(o, io) {
    const history = await openHistory(io.env);
    try {
      const j = findJob(history, o);
      const content = j.content ? (JSON.parse(j.content) as Record<string, unknown>) : null;
      if (flag(o, "json")) {
        io.stdout.write(
          `${JSON.stringify({ ...j, request: JSON.parse(j.request), resultEvent: j.resultEvent ? JSON.parse(j.resultEvent) : null, content })}\n`,
        );
        return 0;
      }
      const lines = [
        `job       ${j.id}`,
        `skill     ${j.skill} (kind ${j.kind})`,
        `state     ${j.state}`,
        `relays    ${j.relays.join(", ")}`,
        `provider  ${j.provider ?? "(any)"}`,
        `paid      ${j.paidMsats} msats`,
      ];
      if (j.error) lines.push(`error     ${j.error}`);
      if (content) {
        lines.push(
          `result    ${content.ok ? "ok" : "failed"} (exit ${String(content.exitCode)}): ${String(content.summary)}`,
        );
        for (const k of ["log", "report", "patch"])
          if (typeof content[k] === "string" && content[k]) lines.push(`${k}:`, content[k] as string);
      }
      io.stdout.write(`${lines.join("\n")}\n`);
      return 0;
    } finally {
      history.close();
    }
  },
};

/** `openagents job cancel`: publishes a NIP-09 deletion of the request; providers stop work on it. */
export const jobCancelCommand: Command = {
  path: ["job", "cancel"],
  summary: "Cancel a posted job (NIP-09 deletion of its request)",
  options: [idOption],
  async handler(o, io) {
    const nostr = await import("@openagents/nostr");
    const history = await openHistory(io.env);
    try {
      const j = findJob(history, o);
      const secretKey = loadSecretKey(io.env);
      if (!secretKey) throw new UserError("no Nostr key: the job was posted with another key");
      const del = nostr.buildJobCancellation(
        { id: j.id, kind: j.kind, customer: JSON.parse(j.request).pubkey },
        secretKey,
        "cancelled by the customer",
      );
      if (!del.ok) throw new UserError(del.error.message);
      const pool = new nostr.RelayPool(j.relays);
      try {
        const outcomes = await pool.publish(del.value, { timeoutMs: 5_000, retries: 1 });
        if (!outcomes.some((x) => x.ok)) {
          io.stderr.write(
            `openagents: no relay took the cancellation: ${outcomes.map((x) => `${x.relay} ${x.message}`).join("; ")}\n`,
          );
          return 1;
        }
      } finally {
        pool.close();
      }
      history.update(j.id, { state: "cancelled" });
      io.stdout.write(`cancelled job ${j.id}\n`);
      return 0;
    } finally {
      history.close();
    }
  },
};
