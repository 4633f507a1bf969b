/**
 * Test helpers: two independent relays from PyPI on free loopback ports, and a nostr-sdk peer.
 *
 * - `nostr-relay` (Python, SQLite storage): a gunicorn master + worker, so it is started in its own
 *   process group and stopped by group. Its database outlives a restart, which the reconnect test uses.
 * - nostr-sdk's `LocalRelay` (rust-nostr, in memory) via `local_relay.py`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const HERE = import.meta.dirname;
export const VENV = resolve(HERE, "../../../.venv/bin");
export const PYTHON = join(VENV, "python");

/** A free TCP port on 127.0.0.1 (the OS picks it; closed again before use). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export interface TestRelay {
  readonly name: "nostr-relay" | "nostr-sdk";
  readonly url: string;
  /** Kills the relay hard (whole process group), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port (and, for nostr-relay, the same database). */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  stop(): Promise<void>;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroup(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  const pgid = child?.pid;
  if (!pgid || !groupAlive(pgid)) return;
  process.kill(-pgid, signal);
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
  while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 25));
}

/** Resolves when `pattern` shows in the child's output; rejects on exit or after `timeoutMs`. */
function waitFor(child: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
  return new Promise((res, rej) => {
    let log = "";
    const onData = (b: Buffer) => {
      log += b.toString();
      if (pattern.test(log)) done();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`${what} exited (${code}) before it was ready:\n${log}`));
    const t = setTimeout(
      () => fail(new Error(`${what} not ready after ${timeoutMs} ms:\n${log}`)),
      timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(t);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    const done = () => {
      cleanup();
      res();
    };
    const fail = (e: Error) => {
      cleanup();
      rej(e);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}

/**
 * Starts `nostr-relay` on a free port with a SQLite database in a temporary directory.
 *
 * @example
 * const relay = await startNostrRelay(); // relay.url → ws://127.0.0.1:PORT
 * afterAll(() => relay.stop());
 */
export async function startNostrRelay(): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), "oa-nostr-relay-"));
  const port = await freePort();
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      "DEBUG: false",
      "relay_name: openagents-test",
      "storage:",
      `  sqlalchemy.url: sqlite+aiosqlite:///${join(dir, "relay.sqlite3")}`,
      "gunicorn:",
      `  bind: 127.0.0.1:${port}`,
      "  workers: 1",
      "  loglevel: info",
      "  reload: false",
      // Several relays run at once here; gunicorn's shared control socket would collide.
      "  control_socket_disable: true",
      "  graceful_timeout: 1",
      "",
    ].join("\n"),
  );
  let child: ChildProcess | undefined;
  const relay: TestRelay = {
    name: "nostr-relay",
    url: `ws://127.0.0.1:${port}`,
    async start() {
      child = spawn(join(VENV, "nostr-relay"), ["-c", config, "serve"], {
        cwd: dir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      await waitFor(child, /Booting worker/, 20_000, "nostr-relay");
      await waitUntilAccepting(relay.url);
    },
    kill: () => stopGroup(child, "SIGKILL", 0),
    async stop() {
      await stopGroup(child, "SIGTERM", 3_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await relay.start();
  return relay;
}

/**
 * Starts nostr-sdk's `LocalRelay` on a free port. Its default write rate limit stays on unless
 * `noRateLimit` (benchmarks posting hundreds of events).
 *
 * @example
 * const relay = await startLocalRelay();
 */
export async function startLocalRelay(opts: { noRateLimit?: boolean } = {}): Promise<TestRelay> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const relay: TestRelay = {
    name: "nostr-sdk",
    url: `ws://127.0.0.1:${port}`,
    async start() {
      const args = [
        join(HERE, "local_relay.py"),
        String(port),
        ...(opts.noRateLimit ? ["--no-rate-limit"] : []),
      ];
      child = spawn(PYTHON, args, {
        detached: true,
        stdio: ["pipe", "pipe", "pipe"],
      });
      await waitFor(child, /LISTENING/, 10_000, "LocalRelay");
      await waitUntilAccepting(relay.url);
    },
    kill: () => stopGroup(child, "SIGKILL", 0),
    stop: () => stopGroup(child, "SIGTERM", 2_000),
  };
  await relay.start();
  return relay;
}

/** Polls until a WebSocket handshake to `url` succeeds (the worker may lag the bound socket). */
async function waitUntilAccepting(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const okNow = await new Promise<boolean>((res) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        ws.close();
        res(true);
      };
      ws.onerror = () => res(false);
    });
    if (okNow) return;
    if (Date.now() > deadline) throw new Error(`${url} does not accept WebSocket connections`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A running `peer.py`: send an operation, get its answer. */
export interface Peer {
  call<T = Record<string, unknown>>(op: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts the nostr-sdk peer (`peer.py`).
 *
 * @example
 * const peer = startPeer();
 * const { event } = await peer.call("job_request", { kind: 5932, tags: [["i", url, "url"]], relays: [relay.url] });
 */
export function startPeer(): Peer {
  const child = spawn(PYTHON, [join(HERE, "peer.py")], { detached: true, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const waiting = new Map<number, (answer: Record<string, unknown>) => void>();
  createInterface({ input: child.stdout }).on("line", (line) => {
    const answer = JSON.parse(line) as Record<string, unknown>;
    waiting.get(answer.id as number)?.(answer);
  });
  let next = 0;
  return {
    call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = ++next;
      return new Promise<T>((res, rej) => {
        waiting.set(id, (answer) => {
          waiting.delete(id);
          if (answer.ok) res(answer as T);
          else rej(new Error(`peer ${op}: ${String(answer.error)}\n${stderr}`));
        });
        child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
      });
    },
    async stop() {
      child.stdin.end();
      await stopGroup(child, "SIGTERM", 2_000);
    },
  };
}
