import type { AddressInfo } from "node:net";
import type { RunEvent, RunEventBody } from "@openagents/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { RunState } from "./run-state.ts";
import { type SocketState, TaskSocket } from "./task-socket.ts";

// A real WebSocket server on loopback and Node's own WebSocket client: each test scripts what the
// server does on each connection (drop, replay, skip an event) and checks the client ends with every
// event exactly once.

const event = (seq: number, body?: RunEventBody): RunEvent =>
  ({
    seq,
    time: new Date(1_700_000_000_000 + seq).toISOString(),
    ...(body ?? { type: "log", stream: "stdout", text: `line ${seq}` }),
  }) as RunEvent;

const final = (seq: number): RunEvent =>
  event(seq, {
    type: "result",
    ok: true,
    exitCode: 0,
    summary: "ok",
    diffstat: { filesChanged: 0, insertions: 0, deletions: 0, files: [] },
    patch: "",
  });

type Script = (ws: WsSocket, after: number) => void;

let server: WebSocketServer | undefined;
afterEach(async () => {
  for (const c of server?.clients ?? []) c.terminate();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Starts a server that runs `scripts[n]` for the n-th connection; returns its URL and the `after`s asked. */
async function serve(scripts: Script[]) {
  const afters: number[] = [];
  server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (ws, req) => {
    const after = Number(new URL(req.url ?? "/", "http://x").searchParams.get("after"));
    const script = scripts[afters.length];
    afters.push(after);
    if (script) script(ws, after);
    else ws.close(1011, "no script");
  });
  await new Promise<void>((resolve) => server!.once("listening", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: (after: number) => `ws://127.0.0.1:${port}/api/task/ws/t_1?after=${after}`, afters };
}

const send = (ws: WsSocket, from: number, to: number) => {
  for (let s = from; s <= to; s++) ws.send(JSON.stringify(event(s)));
};

function follow(url: (after: number) => string, run: RunState) {
  const states: SocketState[] = [];
  let settle: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const sock = new TaskSocket({
    url,
    run,
    onEvents: () => {},
    onState: (s) => {
      states.push(s);
      if (s === "ended") settle();
    },
    backoff: { baseMs: 10, maxMs: 50 },
  });
  return { sock, states, ended };
}

const seqsOf = (run: RunState) => Array.from({ length: run.logs.length }, (_, i) => run.logs.at(i)!.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("TaskSocket", () => {
  it("resumes after drops, replays and a gap with no duplicate and no missing event", async () => {
    const { url, afters } = await serve([
      (ws) => {
        send(ws, 1, 30);
        setTimeout(() => ws.terminate(), 20); // the connection dies without a close frame
      },
      (ws, after) => {
        send(ws, after - 5, 60); // a server that replays a little too much
        setTimeout(() => ws.close(1011, "restarting"), 20);
      },
      (ws) => {
        ws.send(JSON.stringify(event(61)));
        send(ws, 63, 70); // 62 lost on the way
      },
      (ws, after) => {
        send(ws, after + 1, 99);
        ws.send(JSON.stringify(final(100)));
        ws.close(1000);
      },
    ]);
    const run = new RunState();
    const { sock, states, ended } = follow(url, run);
    sock.start();
    await ended;
    expect(afters).toEqual([0, 30, 60, 61]);
    expect(run.lastSeq).toBe(100);
    expect(seqsOf(run)).toEqual(range(1, 99));
    expect(run.outcome).toBe("succeeded");
    expect(states).toContain("reconnecting");
    await sleep(100);
    expect(afters).toHaveLength(4); // no reconnect once the result is in
    sock.stop();
  });

  it("backs off while the server is unreachable and resumes where it stopped", async () => {
    let up = false;
    const { url, afters } = await serve([
      (ws) => {
        send(ws, 1, 5);
        ws.terminate();
      },
      (ws) => ws.terminate(),
      (ws) => ws.terminate(),
      (ws, after) => {
        up = true;
        send(ws, after + 1, 9);
        ws.send(JSON.stringify(final(10)));
        ws.close(1000);
      },
    ]);
    const run = new RunState();
    const { sock, ended } = follow(url, run);
    sock.start();
    await ended;
    expect(up).toBe(true);
    expect(afters).toEqual([0, 5, 5, 5]);
    expect(seqsOf(run)).toEqual(range(1, 9));
    sock.stop();
  });

  it("after a follow-up, reconnects until the new turn's events arrive", async () => {
    const { url, afters } = await serve([
      (ws) => {
        send(ws, 1, 2);
        ws.send(JSON.stringify(final(3)));
        ws.close(1000);
      },
      (ws) => ws.close(1000), // the turn has not started yet: nothing to send
      (ws, after) => {
        ws.send(JSON.stringify(event(after + 1, { type: "status", phase: "queued", message: "follow-up" })));
        send(ws, after + 2, after + 3);
        ws.send(JSON.stringify(final(after + 4)));
        ws.close(1000);
      },
    ]);
    const run = new RunState();
    const first = follow(url, run);
    first.sock.start();
    await first.ended;
    expect(run.turns).toBe(1);
    let again: () => void = () => {};
    const endedAgain = new Promise<void>((r) => {
      again = r;
    });
    const sock = new TaskSocket({
      url,
      run,
      onEvents: () => {},
      onState: (s) => s === "ended" && again(),
      backoff: { baseMs: 10, maxMs: 50 },
    });
    sock.resume();
    await endedAgain;
    expect(afters).toEqual([0, 3, 3]);
    expect(run.turns).toBe(2);
    expect(run.lastSeq).toBe(7);
    expect(seqsOf(run)).toEqual([1, 2, 5, 6]);
    sock.stop();
    first.sock.stop();
  });

  it("replaces a connection that went silent (no events, no pong) and answers pings otherwise", async () => {
    const pings: number[] = [];
    const { url, afters } = await serve([
      (ws) => send(ws, 1, 3), // then silence: a dead network path that never delivers a close
      (ws, after) => {
        ws.on("message", (m) => {
          pings.push(1);
          if (String(m) === "ping") ws.send("pong");
        });
        send(ws, after + 1, 5);
        setTimeout(() => {
          ws.send(JSON.stringify(final(6)));
          ws.close(1000);
        }, 200);
      },
    ]);
    const run = new RunState();
    const states: SocketState[] = [];
    let done: () => void = () => {};
    const ended = new Promise<void>((r) => {
      done = r;
    });
    const sock = new TaskSocket({
      url,
      run,
      onEvents: () => {},
      onState: (s) => {
        states.push(s);
        if (s === "ended") done();
      },
      backoff: { baseMs: 10, maxMs: 50 },
      pingMs: 30,
    });
    sock.start();
    await ended;
    expect(afters).toEqual([0, 3]);
    expect(pings.length).toBeGreaterThan(0);
    expect(seqsOf(run)).toEqual(range(1, 5));
    sock.stop();
  });

  it("stops for good: no reconnect after stop()", async () => {
    const { url, afters } = await serve([(ws) => send(ws, 1, 3)]);
    const run = new RunState();
    const { sock, states } = follow(url, run);
    sock.start();
    while (run.lastSeq < 3) await sleep(5);
    sock.stop();
    await sleep(100);
    expect(afters).toEqual([0]);
    expect(states.at(-1)).toBe("stopped");
  });
});
