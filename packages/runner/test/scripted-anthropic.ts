import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One content block the scripted model answers with. */
export type ScriptedBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string }
  | { type: "tool_use"; name: string; input: Record<string, unknown>; id?: string };

/** One answer of the scripted model to one agent-loop request. */
export interface ScriptedTurn {
  content: ScriptedBlock[];
  /** Default: `tool_use` when the turn has a tool_use block, else `end_turn`. */
  stopReason?: "end_turn" | "tool_use" | "max_tokens" | "stop_sequence";
  inputTokens?: number;
  outputTokens?: number;
}

/** A request the scripted API received, kept so tests can assert on it (headers included). */
export interface RecordedRequest {
  method: string;
  /** Path with query, e.g. `/v1/messages?beta=true`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** True when this request was answered from the script (an agent-loop call with tools). */
  scripted: boolean;
}

export interface ScriptedAnthropic {
  /** Base URL to use as ANTHROPIC_BASE_URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Turns of the script not yet consumed. */
  remaining(): number;
  close(): Promise<void>;
}

export interface ScriptedAnthropicOptions {
  model?: string;
  /** Milliseconds between SSE events, so tests can observe streaming. Default 0. */
  delayMs?: number;
  /** When set, requests whose `x-api-key` differs get the real API's 401 `authentication_error`. */
  apiKey?: string;
}

/**
 * A scripted Anthropic Messages API on loopback. Each agent-loop call (`POST /v1/messages` with a
 * non-empty `tools` list) is answered with the next turn of the script, streamed as SSE exactly like
 * the real API: message_start, content_block_start/delta/stop (text_delta, thinking_delta,
 * input_json_delta), message_delta with stop_reason and usage, message_stop. Side calls the CLI makes
 * on its own (no tools: titles, summaries, quota checks) get a short text reply and do not consume the
 * script; `count_tokens` gets a token count; everything else a 404 — all of them are recorded.
 *
 * @example
 * const api = await startScriptedAnthropic([{ content: [{ type: "text", text: "done" }] }]);
 * // run the agent with ANTHROPIC_BASE_URL=api.url …
 * await api.close();
 */
export async function startScriptedAnthropic(
  script: ScriptedTurn[],
  options: ScriptedAnthropicOptions = {},
): Promise<ScriptedAnthropic> {
  const turns = [...script];
  const requests: RecordedRequest[] = [];
  const model = options.model ?? "claude-scripted-1";

  const server = createServer((req, res) => {
    readBody(req)
      .then(async (raw) => {
        let body: unknown = raw;
        try {
          body = raw.length > 0 ? JSON.parse(raw) : undefined;
        } catch {
          // Keep the raw text: a test may want to see what was sent.
        }
        const url = req.url ?? "/";
        const path = url.split("?")[0] ?? "/";
        const record: RecordedRequest = {
          method: req.method ?? "",
          url,
          headers: req.headers,
          body,
          scripted: false,
        };
        requests.push(record);
        if (options.apiKey !== undefined && req.headers["x-api-key"] !== options.apiKey) {
          return json(res, 401, {
            type: "error",
            error: { type: "authentication_error", message: "invalid x-api-key" },
          });
        }
        if (req.method === "POST" && path === "/v1/messages/count_tokens") {
          return json(res, 200, { input_tokens: Math.ceil(raw.length / 4) });
        }
        if (req.method !== "POST" || path !== "/v1/messages") {
          return json(res, 404, { type: "error", error: { type: "not_found_error", message: `no ${path}` } });
        }
        const params = isRecord(body) ? body : {};
        const isAgentLoop = Array.isArray(params.tools) && params.tools.length > 0;
        let turn: ScriptedTurn;
        if (isAgentLoop) {
          const next = turns.shift();
          if (!next) {
            return json(res, 500, {
              type: "error",
              error: { type: "api_error", message: "scripted API: script exhausted" },
            });
          }
          record.scripted = true;
          turn = next;
        } else {
          turn = { content: [{ type: "text", text: "ok" }] };
        }
        const reqModel = typeof params.model === "string" ? params.model : model;
        if (params.stream === true) await streamTurn(res, turn, reqModel, options.delayMs ?? 0);
        else json(res, 200, wholeMessage(turn, reqModel));
      })
      .catch((e: unknown) => {
        if (!res.headersSent)
          json(res, 500, { type: "error", error: { type: "api_error", message: String(e) } });
        else res.destroy();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    remaining: () => turns.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

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

const messageId = () => `msg_scripted_${randomBytes(8).toString("hex")}`;
const toolUseId = () => `toolu_scripted_${randomBytes(8).toString("hex")}`;
const stopReasonOf = (turn: ScriptedTurn) =>
  turn.stopReason ?? (turn.content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn");

function wholeMessage(turn: ScriptedTurn, model: string) {
  return {
    id: messageId(),
    type: "message",
    role: "assistant",
    model,
    content: turn.content.map((b) => {
      if (b.type === "tool_use")
        return { type: "tool_use", id: b.id ?? toolUseId(), name: b.name, input: b.input };
      if (b.type === "thinking") return { type: "thinking", thinking: b.thinking, signature: "scripted" };
      return b;
    }),
    stop_reason: stopReasonOf(turn),
    stop_sequence: null,
    usage: { input_tokens: turn.inputTokens ?? 100, output_tokens: turn.outputTokens ?? 20 },
  };
}

/** Splits `s` in a few pieces so deltas look like a real stream (several deltas per block). */
function pieces(s: string, n = 3): string[] {
  if (s.length <= n) return [s];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

async function streamTurn(
  res: ServerResponse,
  turn: ScriptedTurn,
  model: string,
  delayMs: number,
): Promise<void> {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "request-id": `req_scripted_${randomBytes(6).toString("hex")}`,
  });
  const send = async (event: string, data: unknown) => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  };
  const inputTokens = turn.inputTokens ?? 100;
  await send("message_start", {
    type: "message_start",
    message: {
      id: messageId(),
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: inputTokens,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    },
  });
  for (const [index, block] of turn.content.entries()) {
    if (block.type === "text") {
      await send("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "text", text: "" },
      });
      for (const text of pieces(block.text)) {
        await send("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "text_delta", text },
        });
      }
    } else if (block.type === "thinking") {
      await send("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "thinking", thinking: "", signature: "" },
      });
      for (const thinking of pieces(block.thinking)) {
        await send("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "thinking_delta", thinking },
        });
      }
      await send("content_block_delta", {
        type: "content_block_delta",
        index,
        delta: { type: "signature_delta", signature: "scripted" },
      });
    } else {
      await send("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: block.id ?? toolUseId(), name: block.name, input: {} },
      });
      for (const partial_json of pieces(JSON.stringify(block.input))) {
        await send("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json },
        });
      }
    }
    await send("content_block_stop", { type: "content_block_stop", index });
  }
  await send("message_delta", {
    type: "message_delta",
    delta: { stop_reason: stopReasonOf(turn), stop_sequence: null },
    usage: { output_tokens: turn.outputTokens ?? 20 },
  });
  await send("message_stop", { type: "message_stop" });
  res.end();
}
