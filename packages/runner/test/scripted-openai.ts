import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One output item the scripted model answers with. */
export type ScriptedOutput =
  | { type: "message"; text: string }
  | { type: "reasoning"; summary: string }
  | { type: "function_call"; name: string; arguments: Record<string, unknown>; callId?: string };

export interface ScriptedResponse {
  output: ScriptedOutput[];
  inputTokens?: number;
  outputTokens?: number;
}

export interface RecordedOpenAIRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  scripted: boolean;
}

export interface ScriptedOpenAI {
  /** Base URL of the API (what `OPENAI_BASE_URL` would be), e.g. `http://127.0.0.1:41234/v1`. */
  readonly url: string;
  readonly requests: RecordedOpenAIRequest[];
  remaining(): number;
  close(): Promise<void>;
}

/**
 * A scripted OpenAI Responses API on loopback: each streamed `POST /v1/responses` is answered with the
 * next response of the script as SSE (response.created, response.output_item.added/done,
 * response.output_text.delta, response.completed with usage). With `apiKey` set, a request without
 * `Authorization: Bearer <apiKey>` gets the API's 401. `GET /v1/models` answers an empty list (so the
 * client keeps its built-in model catalog); WebSocket upgrades are refused. Everything is recorded.
 *
 * @example
 * const api = await startScriptedOpenAI([{ output: [{ type: "message", text: "done" }] }]);
 */
export async function startScriptedOpenAI(
  script: ScriptedResponse[],
  options: { apiKey?: string } = {},
): Promise<ScriptedOpenAI> {
  const turns = [...script];
  const requests: RecordedOpenAIRequest[] = [];
  const server = createServer((req, res) => {
    readBody(req)
      .then((raw) => {
        let body: unknown = raw;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          // keep the raw text
        }
        const url = req.url ?? "/";
        const path = url.split("?")[0];
        const record: RecordedOpenAIRequest = {
          method: req.method ?? "",
          url,
          headers: req.headers,
          body,
          scripted: false,
        };
        requests.push(record);
        if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
          return json(res, 401, {
            error: {
              message: "Incorrect API key provided",
              type: "invalid_request_error",
              code: "invalid_api_key",
            },
          });
        }
        if (req.method === "GET" && path === "/v1/models")
          return json(res, 200, { object: "list", data: [] });
        if (req.method !== "POST" || path !== "/v1/responses") {
          return json(res, 404, {
            error: { message: `no ${req.method} ${path}`, type: "invalid_request_error" },
          });
        }
        const next = turns.shift();
        if (!next)
          return json(res, 500, {
            error: { message: "scripted API: script exhausted", type: "server_error" },
          });
        record.scripted = true;
        const model = typeof body === "object" && body && "model" in body ? String(body.model) : "scripted";
        streamResponse(res, next, model);
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    remaining: () => turns.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const id = (prefix: string) => `${prefix}_${randomBytes(8).toString("hex")}`;

function streamResponse(res: ServerResponse, turn: ScriptedResponse, model: string): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  let seq = 0;
  const send = (type: string, data: Record<string, unknown>) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
  const responseId = id("resp");
  const base = { id: responseId, object: "response", created_at: Math.floor(Date.now() / 1000), model };
  send("response.created", { response: { ...base, status: "in_progress", output: [] } });
  const done: unknown[] = [];
  for (const [output_index, out] of turn.output.entries()) {
    let item: Record<string, unknown>;
    if (out.type === "message") {
      const item_id = id("msg");
      send("response.output_item.added", {
        output_index,
        item: { id: item_id, type: "message", role: "assistant", status: "in_progress", content: [] },
      });
      const half = Math.ceil(out.text.length / 2);
      for (const delta of [out.text.slice(0, half), out.text.slice(half)]) {
        if (delta) send("response.output_text.delta", { item_id, output_index, content_index: 0, delta });
      }
      item = {
        id: item_id,
        type: "message",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: out.text, annotations: [] }],
      };
    } else if (out.type === "reasoning") {
      item = { id: id("rs"), type: "reasoning", summary: [{ type: "summary_text", text: out.summary }] };
      send("response.output_item.added", { output_index, item: { ...item, summary: [] } });
    } else {
      item = {
        id: id("fc"),
        type: "function_call",
        status: "completed",
        name: out.name,
        call_id: out.callId ?? id("call"),
        arguments: JSON.stringify(out.arguments),
      };
      send("response.output_item.added", { output_index, item: { ...item, arguments: "" } });
    }
    send("response.output_item.done", { output_index, item });
    done.push(item);
  }
  const input_tokens = turn.inputTokens ?? 100;
  const output_tokens = turn.outputTokens ?? 20;
  send("response.completed", {
    response: {
      ...base,
      status: "completed",
      output: done,
      usage: {
        input_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: input_tokens + output_tokens,
      },
    },
  });
  res.end();
}
