import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ScriptedAnthropic, startScriptedAnthropic } from "../test/scripted-anthropic.ts";
import { type KeyProxy, startKeyProxy } from "./key-proxy.ts";

const REAL_KEY = "sk-ant-test-REAL-KEY-0123456789";

/** An upstream that records what it saw and lets a test hold an SSE stream open between two events. */
interface Upstream {
  url: string;
  seen: { url: string; headers: IncomingHttpHeaders; body: string }[];
  release(): void;
  server: Server;
}

async function startUpstream(): Promise<Upstream> {
  const seen: Upstream["seen"] = [];
  let release: () => void = () => {};
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      seen.push({ url: req.url ?? "", headers: req.headers, body });
      if (req.url?.includes("hold")) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write('event: first\ndata: {"n":1}\n\n');
        release = () => {
          res.write('event: second\ndata: {"n":2}\n\n');
          res.end();
        };
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, release: () => release(), server };
}

const post = (url: string, headers: Record<string, string>, body = "{}") =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

describe("key proxy", () => {
  let upstream: Upstream;
  let anthropic: ScriptedAnthropic;
  const proxies: KeyProxy[] = [];
  const start = async (...args: Parameters<typeof startKeyProxy>) => {
    const p = await startKeyProxy(...args);
    proxies.push(p);
    return p;
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    anthropic = await startScriptedAnthropic([{ content: [{ type: "text", text: "hello from upstream" }] }]);
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    upstream.server.closeAllConnections();
    await new Promise((r) => upstream.server.close(r));
    await anthropic.close();
  });

  it("refuses requests without the capability token or with a wrong one, before reaching upstream", async () => {
    const proxy = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: upstream.url });
    const before = upstream.seen.length;
    const wrongToken = `${proxy.token.slice(0, -1)}${proxy.token.endsWith("x") ? "y" : "x"}`;
    const attempts: Record<string, string>[] = [
      {},
      { "x-api-key": wrongToken },
      { authorization: `Bearer ${wrongToken}` },
      { "x-api-key": REAL_KEY },
    ];
    for (const headers of attempts) {
      const res = await post(`${proxy.url}/v1/messages`, headers);
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ type: "error", error: { type: "authentication_error" } });
      expect(text).not.toContain(REAL_KEY);
    }
    expect(upstream.seen.length).toBe(before);
  });

  it("swaps the token for the real key in x-api-key (Anthropic) and keeps path and query", async () => {
    const proxy = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: anthropic.url });
    const res = await post(
      `${proxy.url}/v1/messages?beta=true`,
      { "x-api-key": proxy.token, "anthropic-version": "2023-06-01" },
      JSON.stringify({ model: "m", stream: true, max_tokens: 10, messages: [], tools: [{ name: "t" }] }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const sse = await res.text();
    expect(sse).toContain("event: message_start");
    expect(sse).toContain("hello");
    expect(sse).toContain("event: message_stop");
    const seen = anthropic.requests.at(-1);
    expect(seen?.url).toBe("/v1/messages?beta=true");
    expect(seen?.headers["x-api-key"]).toBe(REAL_KEY);
    expect(seen?.headers.authorization).toBeUndefined();
    expect(seen?.headers["anthropic-version"]).toBe("2023-06-01");
  });

  it("swaps a Bearer token for the real key in Authorization (OpenAI) under the upstream's base path", async () => {
    const proxy = await start({ style: "openai", apiKey: REAL_KEY, upstream: `${upstream.url}/v1/` });
    const res = await post(
      `${proxy.url}/responses?x=1`,
      { authorization: `Bearer ${proxy.token}` },
      '{"a":1}',
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-upstream")).toBe("yes");
    expect(await res.json()).toEqual({ ok: true });
    const seen = upstream.seen.at(-1);
    expect(seen?.url).toBe("/v1/responses?x=1");
    expect(seen?.headers.authorization).toBe(`Bearer ${REAL_KEY}`);
    expect(seen?.headers["x-api-key"]).toBeUndefined();
    expect(seen?.body).toBe('{"a":1}');
  });

  it("drops hop-by-hop headers, including those named in Connection", async () => {
    const proxy = await start({ style: "openai", apiKey: REAL_KEY, upstream: upstream.url });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${proxy.url}/hop`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${proxy.token}`,
            connection: "keep-alive, x-hop",
            "x-hop": "secret-hop",
            "keep-alive": "timeout=5",
            "proxy-authorization": "Basic abc",
            "x-end-to-end": "kept",
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(status).toBe(200);
    const seen = upstream.seen.at(-1);
    expect(seen?.url).toBe("/hop");
    expect(seen?.headers["x-hop"]).toBeUndefined();
    expect(seen?.headers["keep-alive"]).toBeUndefined();
    expect(seen?.headers["proxy-authorization"]).toBeUndefined();
    expect(seen?.headers["x-end-to-end"]).toBe("kept");
  });

  it("streams SSE through as it arrives, without waiting for the upstream to finish", async () => {
    const proxy = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: upstream.url });
    const res = await post(`${proxy.url}/v1/messages?hold=1`, { "x-api-key": proxy.token });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    // The upstream has sent only its first event and holds the stream open until released.
    const first = await reader.read();
    expect(decoder.decode(first.value)).toContain("event: first");
    upstream.release();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += decoder.decode(r.value);
    expect(rest).toContain("event: second");
    expect(rest).not.toContain("event: first");
  });

  it("refuses everything once closed, and cuts streams still in flight", async () => {
    const proxy = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: upstream.url });
    const res = await post(`${proxy.url}/v1/messages?hold=2`, { "x-api-key": proxy.token });
    const reader = res.body!.getReader();
    await reader.read();
    await proxy.close();
    await expect(
      (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          // drain until the cut
        }
        return "ended";
      })(),
    ).rejects.toThrow();
    await expect(post(`${proxy.url}/v1/messages`, { "x-api-key": proxy.token })).rejects.toThrow();
    upstream.release();
  });

  it("answers a clear 401 of its own when no real key is configured", async () => {
    const proxy = await start({ style: "openai", upstream: upstream.url });
    const before = upstream.seen.length;
    const res = await post(`${proxy.url}/responses`, { authorization: `Bearer ${proxy.token}` });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { message: string; code: string } };
    expect(body.error.code).toBe("invalid_api_key");
    expect(body.error.message).toContain("OPENAI_API_KEY");
    expect(upstream.seen.length).toBe(before);
  });

  it("reports an unreachable upstream as 502 without the key in the message", async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const { port } = dead.address() as AddressInfo;
    await new Promise((r) => dead.close(r));
    const proxy = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: `http://127.0.0.1:${port}` });
    const res = await post(`${proxy.url}/v1/messages`, { "x-api-key": proxy.token });
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).toContain("could not reach the upstream");
    expect(text).not.toContain(REAL_KEY);
  });

  it("answers 502, not a crash, when the configured key cannot be sent in a header", async () => {
    const badKey = "sk-bad\nkey-with-newline";
    const proxy = await start({ style: "anthropic", apiKey: badKey, upstream: upstream.url });
    const res = await post(`${proxy.url}/v1/messages`, { "x-api-key": proxy.token });
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).toContain("could not forward");
    expect(text).not.toContain("sk-bad");
    // Still serving.
    expect((await post(`${proxy.url}/v1/messages`, {})).status).toBe(401);
  });

  it("gives every proxy its own random token", async () => {
    const a = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: upstream.url });
    const b = await start({ style: "anthropic", apiKey: REAL_KEY, upstream: upstream.url });
    expect(a.token).not.toBe(b.token);
    expect(a.token.length).toBeGreaterThanOrEqual(32);
    expect(a.token).not.toContain(REAL_KEY);
    const res = await post(`${a.url}/v1/messages`, { "x-api-key": b.token });
    expect(res.status).toBe(401);
  });
});
