/// <reference path="../tunnel-context.d.ts" />
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import type { WebSocketServer as WsServer, WebSocket as WsSocket } from "ws";

// Loaded with Node's own resolution: the workerd test plugin's conditions would pick ws's browser stub.
const ws = createRequire(import.meta.url)("ws") as {
  WebSocket: typeof WsSocket;
  WebSocketServer: typeof WsServer;
};
const { WebSocket, WebSocketServer } = ws;
type WebSocket = WsSocket;

const MACHINE_MAIN = path.join(import.meta.dirname, "tunnel-machine-main.ts");

interface Machine {
  id: string;
  args: string[];
  stateHome: string;
  child: ChildProcess | null;
  output: string;
  exits: Array<number | null>;
  /** Machine-side sockets (the real `openagents connect` process dialled in) waiting for a bridge. */
  links: Link[];
  /** Test-side sockets (from inside workerd) waiting for a machine. */
  bridges: WebSocket[];
}

interface Link {
  ws: WebSocket;
  pair(bridge: WebSocket): void;
}

/**
 * Node side of the tunnel tests: starts real `openagents connect` processes (the tunnel mode, via
 * `tunnel-machine-main.ts`, which calls `runTunnel`) and connects them to the Worker under test.
 * The Worker runs inside vitest's workerd and has no listening port of its own, so each machine dials
 * this launcher (`--url ws://…/link/ID`) and the test, inside workerd, opens `/bridge/ID` here and
 * pipes it to `SELF` `/api/tunnel/ws` with the machine's own Authorization header: every frame the
 * edge sees is one the process sent, unchanged. Closing a bridge drops the machine's real socket.
 *
 * HTTP: `POST /machines {id, args}` starts one · `POST /machines/ID/kill` (SIGKILL, the process
 * group) · `POST /machines/ID/start` (again, same state dir) · `POST /machines/ID/stop` (SIGTERM) ·
 * `GET /machines/ID` → `{running, exits, output}`.
 */
export default async function setup(project: TestProject) {
  const root = mkdtempSync(path.join(tmpdir(), "edge-tunnel-"));
  const allowDir = path.join(root, "allowed");
  mkdirSync(allowDir);
  const machines = new Map<string, Machine>();

  const launch = (m: Machine) => {
    const child = spawn(process.execPath, [MACHINE_MAIN, ...m.args], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, XDG_STATE_HOME: m.stateHome, XDG_CONFIG_HOME: m.stateHome },
    });
    m.child = child;
    const take = (d: Buffer) => {
      m.output += d.toString();
      if (m.output.length > 200_000) m.output = m.output.slice(-100_000);
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.on("exit", (code) => {
      m.exits.push(code);
      if (m.child === child) m.child = null;
    });
  };
  const killGroup = (child: ChildProcess | null, signal: NodeJS.Signals) => {
    if (!child?.pid) return Promise.resolve();
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      process.kill(-child.pid, signal);
    } catch {
      return Promise.resolve();
    }
    return gone;
  };

  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://x");
    const [, , id, verb] = url.pathname.split("/");
    if (req.method === "POST" && url.pathname === "/machines") {
      const body = JSON.parse(await readBody(req)) as { id: string; args: string[] };
      const m: Machine = {
        id: body.id,
        args: [...body.args, "--url", `ws://127.0.0.1:${port}/link/${body.id}`],
        stateHome: path.join(root, body.id),
        child: null,
        output: "",
        exits: [],
        links: [],
        bridges: [],
      };
      machines.set(m.id, m);
      launch(m);
      return send(201, { id: m.id });
    }
    const m = id ? machines.get(id) : undefined;
    if (!m) return send(404, { error: "no such machine" });
    if (req.method === "GET" && verb === undefined)
      return send(200, { running: m.child !== null, exits: m.exits, output: m.output });
    if (req.method === "POST" && verb === "kill") {
      await killGroup(m.child, "SIGKILL");
      return send(200, { exits: m.exits });
    }
    if (req.method === "POST" && verb === "stop") {
      await killGroup(m.child, "SIGTERM");
      return send(200, { exits: m.exits });
    }
    if (req.method === "POST" && verb === "start") {
      launch(m);
      return send(200, {});
    }
    send(404, { error: "no such route" });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  server.on("upgrade", (req, socket, head) => {
    const [, kind, id] = new URL(req.url ?? "/", "http://x").pathname.split("/");
    const m = id ? machines.get(id) : undefined;
    if (!m || (kind !== "link" && kind !== "bridge")) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (kind === "link") {
        const auth = req.headers.authorization ?? "";
        // Messages that arrive before a bridge is paired wait with the socket.
        const early: string[] = [];
        const hold = (d: Buffer) => early.push(d.toString());
        ws.on("message", hold);
        const link: Link = {
          ws,
          pair: (bridge) => {
            ws.off("message", hold);
            bridge.send(JSON.stringify({ authorization: auth }));
            for (const text of early) bridge.send(text);
            pipe(ws, bridge);
          },
        };
        ws.on("close", () => {
          m.links = m.links.filter((l) => l !== link);
        });
        const bridge = m.bridges.find((b) => b.readyState === WebSocket.OPEN);
        if (bridge) {
          m.bridges = m.bridges.filter((b) => b !== bridge);
          link.pair(bridge);
        } else m.links.push(link);
      } else {
        ws.on("close", () => {
          m.bridges = m.bridges.filter((b) => b !== ws);
        });
        const link = m.links.find((l) => l.ws.readyState === WebSocket.OPEN);
        if (link) {
          m.links = m.links.filter((l) => l !== link);
          link.pair(ws);
        } else m.bridges.push(ws);
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  project.provide("tunnelLauncher", `http://127.0.0.1:${port}`);
  project.provide("tunnelAllowDir", allowDir);

  return async () => {
    await Promise.all([...machines.values()].map((m) => killGroup(m.child, "SIGKILL")));
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
  };
}

/** Relays text frames both ways; a close on one side closes the other with the same code. */
function pipe(a: WebSocket, b: WebSocket): void {
  const forward = (from: WebSocket, to: WebSocket) => {
    from.on("message", (d, isBinary) => {
      if (to.readyState === WebSocket.OPEN) to.send(isBinary ? d : d.toString());
    });
    from.on("close", (code, reason) => {
      const sendable = code >= 4000 || code === 1000 || code === 1008 || code === 1011;
      if (to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING) {
        if (sendable) to.close(code, reason.toString());
        else to.terminate();
      }
    });
    from.on("error", () => to.terminate());
  };
  forward(a, b);
  forward(b, a);
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = "";
    req.on("data", (d: Buffer) => {
      s += d;
    });
    req.on("end", () => resolve(s));
  });
