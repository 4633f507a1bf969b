// A small HTTP server that behaves like `runner serve` where the container host can see it (the ready
// line, /healthz, the bearer token), plus test hooks: it lets the host's lifecycle and proxy be tested
// with real processes and sockets, independent of the runner's sandbox and agents.
// Run: node stand-in-runner.fixture.ts runner serve --port 0 --host 127.0.0.1 --work-root DIR
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const env = process.env;
if (env.STANDIN_EXIT) {
  process.stderr.write("stand-in: exiting on request\n");
  process.exit(Number(env.STANDIN_EXIT));
}
const token = env.RUNNER_TOKEN ?? "";
const children: number[] = [];

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    return;
  }
  if (req.headers.authorization !== `Bearer ${token}`) {
    res
      .writeHead(401, { "content-type": "application/json" })
      .end('{"error":{"code":"unauthorized","message":"no"}}');
    return;
  }
  if (url.pathname === "/env") {
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ env, argv: process.argv.slice(2) }));
    return;
  }
  if (url.pathname === "/echo") {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(201, { "content-type": "application/json", "x-stand-in": "1" });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          body: Buffer.concat(chunks).toString("utf8"),
          headers: req.headers,
        }),
      );
    });
    return;
  }
  if (url.pathname === "/sse") {
    // Three events 300 ms apart: a buffering proxy would deliver them together at the end.
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    let n = 0;
    const tick = () => {
      n++;
      res.write(`id: ${n}\ndata: {"n":${n},"sentAt":${Date.now()}}\n\n`);
      if (n < 3) setTimeout(tick, 300);
      else res.end();
    };
    tick();
    return;
  }
  if (url.pathname === "/spawn") {
    // A helper in its own process group and session, as the runner starts its tasks: a signal to
    // the container's group does not reach it, so only the host's process-tree tracking can.
    const child = spawn("sleep", ["1000"], { detached: true, stdio: "ignore" });
    child.unref();
    children.push(child.pid ?? 0);
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ pid: child.pid, self: process.pid }));
    return;
  }
  res
    .writeHead(404, { "content-type": "application/json" })
    .end('{"error":{"code":"not_found","message":"no route"}}');
});

const wss = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => {
  if (req.headers.authorization !== `Bearer ${token}`) {
    socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.send(JSON.stringify({ hello: req.url }));
    ws.on("message", (data) => ws.send(`echo:${data.toString()}`));
  });
});

process.on("SIGTERM", () => {
  if (env.STANDIN_IGNORE_TERM) {
    process.stderr.write("stand-in: ignoring SIGTERM\n");
    return;
  }
  server.close();
  process.exit(0);
});
process.on("SIGINT", () => process.exit(130));

const delayMs = Number(env.STANDIN_READY_DELAY_MS ?? 0);
setTimeout(() => {
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  });
}, delayMs);
