/**
 * A local container host for the edge tests, speaking the contract ContainerDO codes against
 * (see src/local-container-host.ts): each "container" is a runner process in its own process
 * group, started with the env the edge gives it; signals go to the whole group; `/fetch/<path>` is
 * proxied to the runner with the host's bearer token swapped for the runner's own (HTTP, SSE and
 * WebSocket upgrades). Its status answers have the real host's shape (`pid` while running,
 * `exitCode` after), which is what the lifecycle tests check.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { constants } from "node:os";

export interface ContainerHostOptions {
  token: string;
  /** argv of the runner process; it must print `listening on http://127.0.0.1:PORT`. */
  runnerCommand: string[];
}

interface Box {
  child: ChildProcess;
  port: number;
  runnerToken: string;
  running: boolean;
  /** Like the real host: the exit code, or 128 + the signal number when a signal killed it. */
  exitCode: number | null;
}

export interface ContainerHost {
  url: string;
  close(): Promise<void>;
}

export async function startContainerHost(opts: ContainerHostOptions): Promise<ContainerHost> {
  const boxes = new Map<string, Box>();

  const send = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

  const readJson = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    let text = "";
    for await (const chunk of req) text += chunk;
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };

  async function start(name: string, env: Record<string, string>): Promise<Box> {
    const current = boxes.get(name);
    if (current?.running) return current;
    const [cmd, ...args] = opts.runnerCommand;
    const child = spawn(cmd!, args, {
      env: { ...process.env, ...env, PORT: "0" },
      // The runner's stdin is a pipe from this process: it exits when the pipe closes, so no runner
      // outlives a test run even if the host dies without cleaning up.
      stdio: ["pipe", "pipe", "inherit"],
      detached: true,
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (chunk: string) => {
        out += chunk;
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`runner exited with ${code} before listening`)));
    });
    const box: Box = { child, port, runnerToken: env.RUNNER_TOKEN ?? "", running: true, exitCode: null };
    child.once("exit", (code, signal) => {
      box.running = false;
      box.exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    });
    boxes.set(name, box);
    return box;
  }

  function signal(box: Box, sig: "SIGTERM" | "SIGKILL"): void {
    if (!box.running) return;
    try {
      process.kill(-box.child.pid!, sig);
    } catch {
      // Already gone.
    }
  }

  function proxy(req: IncomingMessage, res: ServerResponse, box: Box, path: string): void {
    const headers = {
      ...req.headers,
      host: `127.0.0.1:${box.port}`,
      authorization: `Bearer ${box.runnerToken}`,
    };
    const upstream = httpRequest(
      { host: "127.0.0.1", port: box.port, method: req.method, path, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.flushHeaders();
        up.pipe(res);
        // A runner that dies mid-stream must break the stream, not end it cleanly.
        up.on("error", () => res.destroy());
        up.on("aborted", () => res.destroy());
      },
    );
    upstream.on("error", (e) => {
      if (!res.headersSent) send(res, 502, { error: { code: "runner_lost", message: e.message } });
      else res.destroy();
    });
    req.pipe(upstream);
  }

  const authorized = (req: IncomingMessage) => req.headers.authorization === `Bearer ${opts.token}`;
  const route = (url: string) =>
    /^\/containers\/([\w.-]+)(\/start|\/signal|\/fetch(\/.*)?)?$/.exec(url.split("?")[0]!);

  const server = createServer(async (req, res) => {
    if (!authorized(req))
      return send(res, 401, { error: { code: "unauthorized", message: "bad host token" } });
    const m = route(req.url ?? "");
    if (!m) return send(res, 404, { error: { code: "not_found", message: "no route" } });
    const [, name, verb] = m;
    const box = boxes.get(name!);
    try {
      if (verb === "/start" && req.method === "POST") {
        const body = await readJson(req);
        const started = await start(name!, (body.env ?? {}) as Record<string, string>);
        return send(res, 200, { port: started.port, status: "running" });
      }
      if (verb === undefined && req.method === "GET") {
        if (!box) return send(res, 404, { error: { code: "not_found", message: `no container ${name}` } });
        const { running, port, exitCode } = box;
        return send(res, 200, running ? { running, port, pid: box.child.pid } : { running, exitCode });
      }
      if (verb === undefined && req.method === "DELETE") {
        if (box) signal(box, "SIGKILL");
        boxes.delete(name!);
        return send(res, 200, { deleted: true });
      }
      if (verb === "/signal" && req.method === "POST") {
        if (!box) return send(res, 404, { error: { code: "not_found", message: `no container ${name}` } });
        const sig = (await readJson(req)).signal;
        if (sig !== "SIGTERM" && sig !== "SIGKILL")
          return send(res, 400, { error: { code: "invalid_request", message: "signal" } });
        signal(box, sig);
        return send(res, 200, { running: box.running });
      }
      if (verb?.startsWith("/fetch")) {
        if (!box?.running)
          return send(res, 502, { error: { code: "runner_lost", message: `${name} is not running` } });
        const query = (req.url ?? "").includes("?")
          ? (req.url ?? "").slice((req.url ?? "").indexOf("?"))
          : "";
        return proxy(req, res, box, (m[3] ?? "/") + query);
      }
      send(res, 404, { error: { code: "not_found", message: "no route" } });
    } catch (e) {
      send(res, 500, { error: { code: "internal", message: (e as Error).message } });
    }
  });

  // WebSocket upgrades on /fetch/ are relayed as raw bytes after rewriting the request head.
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const m = route(req.url ?? "");
    const box = m ? boxes.get(m[1]!) : undefined;
    if (!authorized(req) || !m?.[2]?.startsWith("/fetch") || !box?.running) return socket.destroy();
    const query = (req.url ?? "").includes("?") ? (req.url ?? "").slice((req.url ?? "").indexOf("?")) : "";
    const upstream = connect(box.port, "127.0.0.1", () => {
      const headers = {
        ...req.headers,
        host: `127.0.0.1:${box.port}`,
        authorization: `Bearer ${box.runnerToken}`,
      };
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`);
      upstream.write(`${req.method} ${(m[3] ?? "/") + query} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`);
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const box of boxes.values()) signal(box, "SIGKILL");
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
