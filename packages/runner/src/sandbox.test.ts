import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "./process.ts";
import { createSandbox, type Sandbox, SandboxUnavailableError } from "./sandbox.ts";
import type { SandboxPolicy } from "./sandbox-policy.ts";

const PATH = process.env.PATH ?? "/usr/bin:/bin";
let base: string; // everything the tests create, removed in afterAll
let root: string; // the workspaces root
let fakeHome: string; // the runner's home as the sandbox sees it
let realHome: string | undefined;
const servers: http.Server[] = [];
let port1: number;
let port2: number;

interface Task {
  dirs: { work: string; home: string; tmp: string };
  env: Record<string, string>;
}

function makeTask(id: string): Task {
  const dirs = {
    work: path.join(root, id, "work"),
    home: path.join(root, id, "home"),
    tmp: path.join(root, id, "tmp"),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  return { dirs, env: { PATH, HOME: dirs.home, TMPDIR: dirs.tmp, LANG: "C" } };
}

const policyOf = (
  t: Task,
  network: SandboxPolicy["network"],
  extra: Partial<SandboxPolicy> = {},
): SandboxPolicy => ({
  workspace: t.dirs.work,
  writable: [t.dirs.home, t.dirs.tmp],
  workspacesRoot: root,
  network,
  ...extra,
});

/** Runs a shell script in the sandbox and collects its output. */
async function sh(sandbox: Sandbox, t: Task, script: string, hostPorts?: number[]) {
  const out: string[] = [];
  const err: string[] = [];
  const exit = await sandbox.run(["sh", "-c", script], {
    env: t.env,
    hostPorts,
    onStdoutLine: (l) => out.push(l),
    onStderrLine: (l) => err.push(l),
  });
  return { exit, out, err, stdout: out.join("\n"), stderr: err.join("\n") };
}

async function listen(name: string): Promise<number> {
  const server = http.createServer((req, res) => res.end(`${name} says hi to ${req.url}\n`));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

// curl prints the status code (000 when it could not connect) and nothing else.
const status = (url: string, viaProxy = true) =>
  `curl -s -m 5 -o /dev/null -w '%{http_code}\\n' ${viaProxy ? "--noproxy '' " : "--noproxy '*' "}${url}`;

beforeAll(async () => {
  base = mkdtempSync(path.join(os.tmpdir(), "oa-sandbox-test-"));
  root = path.join(base, "tasks");
  fakeHome = path.join(base, "home");
  for (const [rel, content] of [
    [".ssh/id_ed25519", "FAKE-PRIVATE-KEY"],
    [".aws/credentials", "FAKE-AWS"],
    [".config/openagents/config.json", "FAKE-CONFIG"],
  ] as const) {
    mkdirSync(path.dirname(path.join(fakeHome, rel)), { recursive: true });
    writeFileSync(path.join(fakeHome, rel), content);
  }
  // The sandbox denies the secrets of os.homedir() at creation time; point it at the fake home.
  realHome = process.env.HOME;
  process.env.HOME = fakeHome;
  port1 = await listen("one");
  port2 = await listen("two");
});

afterAll(async () => {
  if (realHome === undefined) delete process.env.HOME;
  else process.env.HOME = realHome;
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(base, { recursive: true, force: true });
});

describe("sandbox: normal work", () => {
  it("runs in the workspace, writes there, streams lines, and passes the exit code", async () => {
    const t = makeTask("normal");
    const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
    const r = await sh(
      sandbox,
      t,
      'pwd; for i in 1 2 3; do echo "line $i"; done; echo made > out.txt; echo oops >&2; exit 7',
    );
    expect(r.exit).toEqual({ exitCode: 7, signal: null, aborted: false });
    expect(r.out).toEqual([t.dirs.work, "line 1", "line 2", "line 3"]);
    expect(r.err).toEqual(["oops"]);
    expect(readFileSync(path.join(t.dirs.work, "out.txt"), "utf8")).toBe("made\n");
  });

  it("writes the private HOME and TMPDIR, and sees exactly the caller's environment", async () => {
    const t = makeTask("env");
    process.env.OA_RUNNER_SECRET = "sk-runner-only";
    try {
      const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
      const r = await sh(sandbox, t, 'echo h > "$HOME/h" && echo t > "$TMPDIR/t" && env');
      expect(r.exit.exitCode).toBe(0);
      expect(readFileSync(path.join(t.dirs.home, "h"), "utf8")).toBe("h\n");
      expect(readFileSync(path.join(t.dirs.tmp, "t"), "utf8")).toBe("t\n");
      const env = Object.fromEntries(
        r.out.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      expect(env.HOME).toBe(t.dirs.home);
      expect(env.TMPDIR).toBe(t.dirs.tmp);
      expect(env.PATH).toBe(PATH);
      expect(r.stdout).not.toContain("sk-runner-only");
      expect(env.OA_RUNNER_SECRET).toBeUndefined();
    } finally {
      delete process.env.OA_RUNNER_SECRET;
    }
  });
});

describe("sandbox: escape attempts fail", () => {
  it("cannot write outside its own directories", async () => {
    const t = makeTask("writer");
    const outside = mkdtempSync(path.join(base, "sibling-"));
    const hostTmp = path.join(os.tmpdir(), `oa-escape-${process.pid}-${Date.now()}`);
    const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
    const r = await sh(
      sandbox,
      t,
      `echo x > ${outside}/f; echo x > ${hostTmp}; echo x > ${root}/planted; echo x > /tmp/claude/x; echo done`,
    );
    expect(r.out).toEqual(["done"]);
    expect(r.stderr).toMatch(/Read-only file system|Permission denied|No such file/);
    expect(existsSync(path.join(outside, "f"))).toBe(false);
    expect(existsSync(hostTmp)).toBe(false);
    expect(existsSync(path.join(root, "planted"))).toBe(false);
  });

  it("cannot read the runner's secrets nor another task's workspace", async () => {
    const other = makeTask("other");
    writeFileSync(path.join(other.dirs.work, "secret.txt"), "OTHER-TASK-SECRET");
    const t = makeTask("reader");
    const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
    // Control: the same commands read the files when run outside the sandbox.
    const plain = await runProcess(
      ["sh", "-c", `cat ${fakeHome}/.ssh/id_ed25519 ${other.dirs.work}/secret.txt`],
      {
        cwd: base,
        env: { PATH },
      },
    );
    expect(plain.exitCode).toBe(0);
    const r = await sh(
      sandbox,
      t,
      `cat ${fakeHome}/.ssh/id_ed25519; cat ${fakeHome}/.aws/credentials; cat ${fakeHome}/.config/openagents/config.json; ` +
        `cat ${other.dirs.work}/secret.txt; ls ${root}; echo end`,
    );
    expect(r.stdout).not.toMatch(/FAKE-|OTHER-TASK-SECRET/);
    // Only this task's own directory is visible in the workspaces root.
    expect(r.out).toEqual(["reader", "end"]);
  });

  it("reaches no loopback server of the host when the network is none", async () => {
    const t = makeTask("offline");
    const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
    const r = await sh(
      sandbox,
      t,
      `${status(`http://127.0.0.1:${port1}/`, false)}; ${status(`http://127.0.0.1:${port1}/`)}; ` +
        `curl -s -m 5 --noproxy '' http://127.0.0.1:${port1}/`,
    );
    expect(r.out[0]).toBe("000"); // direct: the sandbox's loopback is its own
    expect(r.out[1]).toBe("403"); // through srt's proxy: refused by policy
    expect(r.stdout).not.toContain("says hi");
  });

  it("allowlist: a listed name passes the policy check, any other is refused", async () => {
    const t = makeTask("allowlist");
    const sandbox = await createSandbox(
      policyOf(t, { mode: "allowlist", allow: ["*.example.com", "pkg.test.org"] }),
    );
    const r = await sh(
      sandbox,
      t,
      [
        status("http://blocked.example.org/"),
        status("https://blocked.example.org/"),
        status("http://api.example.com/"),
        status("https://pkg.test.org/"),
        status(`http://127.0.0.1:${port1}/`),
        "curl -sS -m 5 https://blocked.example.org/ 2>&1 | head -1",
      ].join("; "),
    );
    // 403 = refused by the policy; 502 / CONNECT 502 = allowed, then no DNS on this machine.
    expect(r.out.slice(0, 5)).toEqual(["403", "000", "502", "000", "403"]);
    expect(r.out[5]).toMatch(/CONNECT tunnel failed, response 403/);
    const connects = await sh(sandbox, t, "curl -sS -m 5 https://pkg.test.org/ 2>&1 | head -1");
    expect(connects.stdout).toMatch(/CONNECT tunnel failed, response 502/);
  });

  it("hostPorts reaches exactly the allowed host port, with or without proxy variables", async () => {
    const t = makeTask("hostports");
    const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
    const r = await sh(
      sandbox,
      t,
      [
        `curl -s -m 5 --noproxy '*' http://127.0.0.1:${port1}/direct`,
        `curl -s -m 5 --noproxy '' http://127.0.0.1:${port1}/proxied`,
        `curl -s -m 5 --noproxy '*' http://localhost:${port1}/byname`,
        status(`http://127.0.0.1:${port2}/`, false),
        status(`http://127.0.0.1:${port2}/`),
      ].join("; "),
      [port1],
    );
    expect(r.out).toEqual([
      "one says hi to /direct",
      "one says hi to /proxied",
      "one says hi to /byname",
      "000",
      "403",
    ]);
    // The grant is per run: the next run without it is offline again.
    const again = await sh(sandbox, t, status(`http://127.0.0.1:${port1}/`, false));
    expect(again.out).toEqual(["000"]);
  });

  it("open: any public name passes, the host's loopback does not (except hostPorts)", async () => {
    const t = makeTask("open");
    const sandbox = await createSandbox(policyOf(t, { mode: "open" }));
    const r = await sh(
      sandbox,
      t,
      [
        status("http://anything.example.net/"),
        "curl -sS -m 5 https://anything.example.net/ 2>&1 | head -1",
        status(`http://127.0.0.1:${port2}/`),
        status(`http://localhost:${port2}/`),
        status(`http://127.0.0.1:${port2}/`, false),
        `curl -s -m 5 http://127.0.0.1:${port1}/key`,
      ].join("; "),
      [port1],
    );
    expect(r.out).toEqual([
      "502",
      "curl: (56) CONNECT tunnel failed, response 502",
      "403",
      "403",
      "000",
      "one says hi to /key",
    ]);
  });
});

describe("sandbox: lifecycle", () => {
  it("abort kills the whole sandboxed tree", async () => {
    const t = makeTask("abort");
    const sandbox = await createSandbox(policyOf(t, { mode: "none" }));
    const marker = `1000.${process.pid}${Date.now() % 100000}`;
    const ac = new AbortController();
    const started = Date.now();
    const lines: string[] = [];
    const run = sandbox.run(["sh", "-c", `sleep ${marker} & sleep ${marker} & echo up; wait`], {
      env: t.env,
      signal: ac.signal,
      graceMs: 2000,
      onStdoutLine: (l) => lines.push(l),
    });
    while (lines.length === 0 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(lines).toEqual(["up"]);
    // "up" can be printed before both background sleeps have started.
    while (sleepersWith(marker) < 2 && Date.now() - started < 10_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(sleepersWith(marker)).toBeGreaterThanOrEqual(2);
    ac.abort();
    const exit = await run;
    expect(exit.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(sleepersWith(marker)).toBe(0);
  });

  it("two sandboxes with different policies run concurrently without sharing policy", async () => {
    const a = makeTask("conc-a");
    const b = makeTask("conc-b");
    const [sa, sb] = await Promise.all([
      createSandbox(policyOf(a, { mode: "allowlist", allow: ["a.example.com"] }, { hostPorts: [port1] })),
      createSandbox(policyOf(b, { mode: "none" })),
    ]);
    const probe = (self: Task, peer: Task) =>
      [
        status("http://a.example.com/"),
        status(`http://127.0.0.1:${port1}/`, false),
        status(`http://127.0.0.1:${port2}/`, false),
        `echo x > ${self.dirs.work}/mine && echo wrote-mine`,
        `echo x > ${peer.dirs.work}/theirs 2>/dev/null && echo wrote-theirs`,
        `cat ${peer.dirs.work}/mine 2>/dev/null && echo read-theirs`,
        "sleep 0.3",
        "echo end",
      ].join("; ");
    const runs = await Promise.all([0, 1, 2].flatMap(() => [sh(sa, a, probe(a, b)), sh(sb, b, probe(b, a))]));
    for (const [i, r] of runs.entries()) {
      if (i % 2 === 0) expect(r.out).toEqual(["502", "200", "000", "wrote-mine", "end"]);
      else expect(r.out).toEqual(["403", "000", "000", "wrote-mine", "end"]);
    }
    expect(existsSync(path.join(a.dirs.work, "theirs"))).toBe(false);
    expect(existsSync(path.join(b.dirs.work, "theirs"))).toBe(false);
  });

  it("leaves SIGTERM ending a runner process that has no handler of its own", async () => {
    const t = makeTask("signal");
    const script = path.join(base, "signal-child.ts");
    const sandboxModule = new URL("./sandbox.ts", import.meta.url).pathname;
    writeFileSync(
      script,
      `import { createSandbox } from ${JSON.stringify(sandboxModule)};\n` +
        `await createSandbox({ workspace: ${JSON.stringify(t.dirs.work)}, network: { mode: "none" } });\n` +
        `console.log("ready");\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()),
    );
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running"), 5000))]);
    child.kill("SIGKILL");
    expect(code).toBe(143);
  });

  it("fails with sandbox_unavailable and says what to install when bubblewrap is missing", async () => {
    const t = makeTask("nobwrap");
    const empty = mkdtempSync(path.join(base, "empty-path-"));
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      const err = await createSandbox(policyOf(t, { mode: "none" })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxUnavailableError);
      expect((err as SandboxUnavailableError).code).toBe("sandbox_unavailable");
      expect((err as Error).message).toMatch(
        /sandbox_unavailable: .*bwrap.*apt-get install bubblewrap socat ripgrep/,
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it("refuses a policy whose writable dirs would uncover the workspaces root or a secret", async () => {
    const t = makeTask("badpolicy");
    await expect(createSandbox({ ...policyOf(t, { mode: "none" }), writable: [root] })).rejects.toThrow(
      /workspaces root/,
    );
    await expect(
      createSandbox({ ...policyOf(t, { mode: "none" }), writable: [path.join(fakeHome, ".ssh")] }),
    ).rejects.toThrow(/denied path/);
    await expect(createSandbox(policyOf(t, { mode: "allowlist", allow: ["*"] }))).rejects.toThrow(
      /invalid allowedDomains/,
    );
  });
});

/** How many live `sleep <marker>` processes there are on the host (inside any sandbox included). */
function sleepersWith(marker: string): number {
  let n = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("sleep") && argv[1] === marker) n++;
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}
