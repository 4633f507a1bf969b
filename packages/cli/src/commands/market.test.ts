/**
 * The market commands in-process (`keys`, `connect --nip90`, `job submit|list|show|cancel`,
 * `provider status`) against a real relay, a real runner and a real git repository. The handlers are
 * called directly with their io, as the dispatcher would.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNostrRelay, type TestRelay } from "../../../nostr/test/relays.ts";
import { makeBareRepo } from "../../../runner/test/git-fixtures.ts";
import type { CliIo, Command, ParsedOptions } from "../command.ts";
import { connectCommand } from "./connect.ts";
import { jobListCommand, jobShowCommand, jobSubmitCommand } from "./job.ts";
import { keyFile, keysCommand, keysCreateCommand, keysImportCommand } from "./keys.ts";
import { providerStatusCommand } from "./provider.ts";

function capture(env: NodeJS.ProcessEnv, signal = new AbortController().signal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (b: Buffer) => {
    out += b.toString();
  });
  stderr.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const io: CliIo = { stdout, stderr, env, cwd: os.tmpdir(), signal, isTTY: false };
  return { io, out: () => out, err: () => err };
}

const run = async (c: Command, o: ParsedOptions, env: NodeJS.ProcessEnv) => {
  const cap = capture(env);
  const code = await c.handler(o, cap.io);
  return { code, out: cap.out(), err: cap.err() };
};

describe("keys", () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "oa-keys-"));
  const env = { XDG_CONFIG_HOME: path.join(home, "config"), XDG_STATE_HOME: path.join(home, "state") };
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("creates a key with mode 0600 and never prints the nsec unless asked", async () => {
    const created = await run(keysCreateCommand, {}, env);
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/npub1/);
    expect(created.out).not.toMatch(/nsec1/);
    expect(statSync(keyFile(env)).mode & 0o777).toBe(0o600);
    await expect(run(keysCreateCommand, {}, env)).rejects.toThrow(/already exists/);
    const shown = await run(keysCommand, { "show-secret": true, json: true }, env);
    const parsed = JSON.parse(shown.out) as { nsec: string; npub: string };
    expect(parsed.nsec).toMatch(/^nsec1/);
    // Import it elsewhere: same npub.
    const other = { ...env, XDG_CONFIG_HOME: path.join(home, "other") };
    const nsecFile = path.join(home, "nsec.txt");
    writeFileSync(nsecFile, `${parsed.nsec}\n`);
    const imported = await run(keysImportCommand, { from: nsecFile, json: true }, other);
    expect(JSON.parse(imported.out).npub).toBe(parsed.npub);
    expect(imported.out).not.toMatch(/nsec1/);
    writeFileSync(nsecFile, "nsec1garbage");
    await expect(run(keysImportCommand, { from: nsecFile, force: true }, other)).rejects.toThrow(
      /not an nsec/,
    );
  });
});

describe("connect --nip90 · job · provider status", () => {
  let relay: TestRelay;
  const home = mkdtempSync(path.join(os.tmpdir(), "oa-market-cli-"));
  const providerEnv = {
    XDG_CONFIG_HOME: path.join(home, "p-config"),
    XDG_STATE_HOME: path.join(home, "p-state"),
  };
  const customerEnv = {
    XDG_CONFIG_HOME: path.join(home, "c-config"),
    XDG_STATE_HOME: path.join(home, "c-state"),
  };
  const repo = makeBareRepo({ "README.md": "# cli market\n" });
  const stop = new AbortController();
  let connected: Promise<number>;
  let npub = "";
  let providerOut: () => string;

  beforeAll(async () => {
    relay = await startNostrRelay();
    const cap = capture(providerEnv, stop.signal);
    providerOut = cap.out;
    connected = connectCommand.handler(
      {
        nip90: true,
        skills: "compute",
        relay: [relay.url],
        "max-jobs": "2",
        "allow-repo": [`${pathToFileURL(path.dirname(repo.bare)).href}/**`],
      },
      cap.io,
    );
    const deadline = Date.now() + 20_000;
    while (!/NIP-90 provider (npub1\w+)/.test(cap.out())) {
      if (Date.now() > deadline) throw new Error(`provider did not start:\n${cap.out()}\n${cap.err()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    npub = /NIP-90 provider (npub1\w+)/.exec(cap.out())![1]!;
  }, 30_000);

  afterAll(async () => {
    stop.abort();
    await connected;
    await relay?.stop();
    rmSync(home, { recursive: true, force: true });
    rmSync(path.dirname(repo.bare), { recursive: true, force: true });
  });

  it("submits a compute job, prints the verified result and keeps it in the history", async () => {
    const script = path.join(home, "job.sh");
    writeFileSync(script, "echo hello\n");
    const r = await run(
      jobSubmitCommand,
      {
        relay: [relay.url],
        skill: "compute",
        repo: repo.bare,
        script,
        provider: npub,
        json: true,
        timeout: "60",
      },
      customerEnv,
    );
    expect(r.code, `${r.err}\n${providerOut()}`).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, exitCode: 0, log: "hello" });
    expect(r.err).toMatch(/posted job [0-9a-f]{64}/);
    expect(r.err).toMatch(/processing/);

    const listed = await run(jobListCommand, { json: true }, customerEnv);
    const jobs = listed.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ skill: "compute", state: "succeeded", content: { log: "hello" } });
    const shown = await run(jobShowCommand, { id: jobs[0].id.slice(0, 10) }, customerEnv);
    expect(shown.out).toMatch(/state\s+succeeded/);

    // A compute job with no repository runs in the provider's scratch repository.
    const bare = await run(
      jobSubmitCommand,
      { relay: [relay.url], skill: "compute", script, provider: npub, timeout: "60" },
      customerEnv,
    );
    expect(bare.code, bare.err).toBe(0);
    expect(bare.out).toMatch(/✓ succeeded/);

    // The customer can see a result before the provider has read the relay's OK and recorded it done.
    let status = await run(providerStatusCommand, { json: true }, providerEnv);
    for (let i = 0; i < 100 && JSON.parse(status.out).jobs?.done !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await run(providerStatusCommand, { json: true }, providerEnv);
    }
    expect(JSON.parse(status.out)).toMatchObject({
      status: "online",
      jobs: { done: 2, total: 2 },
      earningsMsats: 0,
    });
  });

  it("refuses a local repository outside the provider's allowlist", async () => {
    const script = path.join(home, "job.sh");
    const r = await run(
      jobSubmitCommand,
      { relay: [relay.url], skill: "compute", repo: home, script, provider: npub, timeout: "20" },
      customerEnv,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/does not accept local repositories/);
  });

  it("reports user mistakes as one-line errors", async () => {
    await expect(run(jobSubmitCommand, { skill: "compute" }, customerEnv)).rejects.toThrow(
      /--relay is required/,
    );
    await expect(
      run(jobSubmitCommand, { relay: [relay.url], skill: "code", prompt: "x" }, customerEnv),
    ).rejects.toThrow(/--repo is required/);
    await expect(
      run(
        connectCommand,
        { nip90: true, skills: "compute", relay: [relay.url], "price-msats": "10" },
        providerEnv,
      ),
    ).rejects.toThrow(/needs a wallet/);
    await expect(run(connectCommand, {}, providerEnv)).rejects.toThrow(/--nip90/);
  });
});
