import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

/** A request the scripted provider API received: what the egress actually sent upstream. */
export interface UpstreamRecord {
  method: string;
  url: string;
  apiKey: string | null;
  authorization: string | null;
  body: string;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = "";
    req.on("data", (d: Buffer) => {
      s += d;
    });
    req.on("end", () => resolve(s));
  });

/**
 * Node side of the key and egress tests: a scripted provider API on loopback, standing in for
 * api.anthropic.com and api.openai.com (`ANTHROPIC_UPSTREAM` / `OPENAI_UPSTREAM`). It accepts only
 * keys that start with `sk-ant-good-` (Anthropic, `x-api-key`) or `sk-good-` (OpenAI, Bearer), answers
 * `GET /v1/models`, streams `POST /v1/messages` as SSE in three chunks 50 ms apart with usage, and
 * records every request so tests can see which key the egress put on the wire
 * (`GET /__requests?tag=…` filters on the `x-test-tag` header, `DELETE /__requests` clears).
 */
export default async function setup(project: TestProject) {
  const records: Array<UpstreamRecord & { tag: string | null }> = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    if (url.pathname === "/__requests") {
      const tag = url.searchParams.get("tag");
      res.setHeader("content-type", "application/json");
      return res.end(JSON.stringify(records.filter((r) => tag === null || r.tag === tag)));
    }
    const body = await readBody(req);
    const apiKey = typeof req.headers["x-api-key"] === "string" ? req.headers["x-api-key"] : null;
    const authorization = req.headers.authorization ?? null;
    const tag = typeof req.headers["x-test-tag"] === "string" ? req.headers["x-test-tag"] : null;
    records.push({ method: req.method ?? "", url: req.url ?? "", apiKey, authorization, body, tag });
    const openai = url.pathname === "/v1/models" && authorization !== null;
    const good = openai
      ? /^Bearer sk-good-/.test(authorization ?? "")
      : (apiKey ?? "").startsWith("sk-ant-good-");
    if (!good) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(
        JSON.stringify({
          type: "error",
          error: { type: "authentication_error", message: "invalid x-api-key" },
        }),
      );
    }
    if (req.method === "GET" && url.pathname === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ data: [{ id: "claude-scripted-1", type: "model" }] }));
    }
    if (req.method === "POST" && url.pathname === "/v1/messages") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.flushHeaders();
      const chunks = [
        'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-scripted-1","usage":{"input_tokens":100,"output_tokens":1}}}\n\n',
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n',
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":20}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
      ];
      for (const chunk of chunks) {
        res.write(chunk);
        await new Promise((r) => setTimeout(r, 50));
      }
      return res.end();
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ type: "error", error: { type: "not_found_error", message: "no such route" } }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("keysUpstream", `http://127.0.0.1:${port}`);
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

declare module "vitest" {
  export interface ProvidedContext {
    keysUpstream: string;
  }
}
