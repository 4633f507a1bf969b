import { lookup } from "node:dns/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import type { Duplex } from "node:stream";

/**
 * The way out of a sandbox whose network is `open`. srt's proxy only allows named domains (it refuses
 * a bare `*`), so `open` runs are given this proxy instead, reached through the same loopback bridge as
 * any host port. It forwards to any public address and refuses this host and private networks —
 * loopback (the runner's API, other tasks' key proxies), link-local and cloud metadata, RFC 1918 and
 * friends, and every address of this machine's own interfaces — after resolving the name itself, so a
 * name cannot be pointed at them.
 *
 * @example
 * const egress = await startEgressProxy();
 * // inside the sandbox: HTTPS_PROXY=http://127.0.0.1:${egress.port}
 * await egress.close();
 */
export interface EgressProxy {
  readonly port: number;
  close(): Promise<void>;
}

const DENIED_V4: ReadonlyArray<[string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
  ["168.63.129.16", 32],
];
const DENIED_V6: ReadonlyArray<[string, number]> = [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
  ["fd00:ec2::", 32],
];

function deniedList(): net.BlockList {
  const list = new net.BlockList();
  for (const [a, bits] of DENIED_V4) list.addSubnet(a, bits, "ipv4");
  for (const [a, bits] of DENIED_V6) list.addSubnet(a, bits, "ipv6");
  // This host's own addresses: a service bound to 0.0.0.0 answers there as on loopback.
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) list.addAddress(a.address, a.family === "IPv6" ? "ipv6" : "ipv4");
  }
  return list;
}

/** True when `address` (an IP literal) is one the sandbox must not reach. */
export function isDeniedAddress(address: string, list: net.BlockList = deniedList()): boolean {
  const family = net.isIP(address);
  if (family === 0) return true;
  // IPv4-mapped, -compatible and NAT64 forms are judged by the IPv4 address they carry.
  const embedded = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (embedded) return list.check(embedded, "ipv4");
  return list.check(address, family === 6 ? "ipv6" : "ipv4");
}

type Resolution = { ok: true; address: string } | { ok: false; status: number; reason: string };

async function resolveAllowed(host: string): Promise<Resolution> {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const list = deniedList();
  if (net.isIP(bare)) {
    return isDeniedAddress(bare, list)
      ? { ok: false, status: 403, reason: `${bare} is a local or private address` }
      : { ok: true, address: bare };
  }
  let addresses: { address: string }[];
  try {
    addresses = await lookup(bare, { all: true });
  } catch (e) {
    return {
      ok: false,
      status: 502,
      reason: `cannot resolve ${bare}: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
    };
  }
  const usable = addresses.find((a) => !isDeniedAddress(a.address, list));
  return usable
    ? { ok: true, address: usable.address }
    : { ok: false, status: 403, reason: `${bare} resolves to a local or private address` };
}

const BLOCKED_HEADER = "X-Proxy-Error: blocked-by-openagents-sandbox";

function refuse(socket: Duplex, status: number, reason: string): void {
  const phrase = status === 403 ? "Forbidden" : "Bad Gateway";
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${phrase}\r\n${status === 403 ? `${BLOCKED_HEADER}\r\n` : ""}Content-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function splitHostPort(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m?.[1]) return undefined;
  const port = m[2] ? Number(m[2]) : defaultPort;
  return port >= 1 && port <= 65535 ? { host: m[1], port } : undefined;
}

/** Starts the egress proxy on 127.0.0.1 with a free port. */
export async function startEgressProxy(): Promise<EgressProxy> {
  const sockets = new Set<Duplex>();
  const track = (s: Duplex) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  const server = http.createServer(async (req, res) => {
    // Plain HTTP through a proxy arrives in absolute form: GET http://host/path.
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      res.writeHead(400, { "Content-Type": "text/plain" }).end("proxy: absolute http:// URL expected\n");
      return;
    }
    if (url.protocol !== "http:") {
      res
        .writeHead(400, { "Content-Type": "text/plain" })
        .end("proxy: only http:// is forwarded; use CONNECT for TLS\n");
      return;
    }
    const target = await resolveAllowed(url.hostname);
    if (!target.ok) {
      const headers: Record<string, string> = { "Content-Type": "text/plain" };
      if (target.status === 403) headers["X-Proxy-Error"] = "blocked-by-openagents-sandbox";
      res.writeHead(target.status, headers).end(`${target.reason}\n`);
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = http.request(
      {
        host: target.address,
        port: url.port || 80,
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (e) => {
      if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain" });
      res.end(`proxy: ${e.message}\n`);
    });
    req.pipe(upstream);
  });
  server.on("connection", track);
  server.on("connect", async (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    client.on("error", () => {});
    const dest = splitHostPort(req.url ?? "", 443);
    if (!dest) return refuse(client, 403, "proxy: CONNECT host:port expected");
    const target = await resolveAllowed(dest.host);
    if (!target.ok) return refuse(client, target.status, target.reason);
    const upstream = net.connect(dest.port, target.address);
    track(upstream);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", (e) => {
      if (!connected) refuse(client, 502, `proxy: ${e.message}`);
      else client.destroy();
    });
    client.once("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  server.unref();
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("egress proxy: no port");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
