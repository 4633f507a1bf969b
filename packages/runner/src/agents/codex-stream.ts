import type { AgentBody, RunEventBody, UsageBody } from "@openagents/protocol";
import { truncate } from "./claude-stream.ts";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Normalises `codex exec --json` (JSONL: thread.started, turn.started, item.started/updated/completed,
 * turn.completed with usage, turn.failed, error) into RunEvent bodies. Items: `agent_message` →
 * message, `reasoning` → thinking, `command_execution` → tool_call (when it starts) and tool_result
 * (its output and exit code), `file_change`/`mcp_tool_call`/`web_search` → tool_call + tool_result,
 * `todo_list` → thinking, `error` items and top-level `error` notices → `log`.
 *
 * @example
 * const stream = new CodexStream({ model: "gpt-5" });
 * onStdoutLine = (line) => stream.push(line).forEach(emit);
 * // after exit: stream.failure, stream.lastMessage
 */
export class CodexStream {
  readonly #model: string | undefined;
  readonly #started = new Set<string>();
  #lastMessage = "";
  #failure: string | undefined;
  #authFailure: string | undefined;
  #completed = false;

  constructor(options: { model?: string } = {}) {
    this.#model = options.model;
  }

  /** The last agent message: the run's summary. */
  get lastMessage(): string {
    return this.#lastMessage;
  }
  /** Set when the turn failed (`turn.failed`). */
  get failure(): string | undefined {
    return this.#failure;
  }
  /** True once a turn completed. */
  get completed(): boolean {
    return this.#completed;
  }
  /** Set at the first 401/403 from the API: retrying a refused key only delays the failure. */
  get authFailure(): string | undefined {
    return this.#authFailure;
  }

  push(line: string): RunEventBody[] {
    if (line.trim().length === 0) return [];
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return [{ type: "log", stream: "stdout", text: line }];
    }
    if (!isObject(msg)) return [{ type: "log", stream: "stdout", text: line }];
    switch (msg.type) {
      case "thread.started":
        return [
          { type: "log", stream: "system", text: `Codex started (thread ${str(msg.thread_id) ?? "?"})` },
        ];
      case "item.started":
        return this.#itemStarted(isObject(msg.item) ? msg.item : {});
      case "item.completed":
        return this.#itemCompleted(isObject(msg.item) ? msg.item : {});
      case "turn.completed":
        this.#completed = true;
        return [this.#usage(isObject(msg.usage) ? msg.usage : {})];
      case "turn.failed": {
        const error = isObject(msg.error) ? msg.error : {};
        this.#failure = str(error.message) ?? "the turn failed";
        this.#noteAuth(this.#failure);
        return [{ type: "log", stream: "system", text: `Codex failed: ${this.#failure}` }];
      }
      case "error": {
        const text = str(msg.message) ?? "error";
        this.#noteAuth(text);
        return [{ type: "log", stream: "system", text: `Codex: ${text}` }];
      }
      default:
        // turn.started, item.updated (todo progress): nothing a watcher needs twice.
        return [];
    }
  }

  #noteAuth(text: string): void {
    const m = /unexpected status (401|403)\b[^:,]*/.exec(text);
    if (m && !this.#authFailure) this.#authFailure = `the model API refused the key (${m[0].slice(18)})`;
  }

  #itemStarted(item: Json): RunEventBody[] {
    const id = str(item.id);
    if (item.type === "command_execution" && id) {
      this.#started.add(id);
      return [
        definedOnly<AgentBody>({
          type: "agent",
          kind: "tool_call",
          tool: "shell",
          toolUseId: id,
          input: { command: item.command },
        }),
      ];
    }
    return [];
  }

  #itemCompleted(item: Json): RunEventBody[] {
    const id = str(item.id);
    const call = (tool: string, input: unknown): AgentBody =>
      definedOnly({ type: "agent", kind: "tool_call", tool, toolUseId: id, input });
    const result = (tool: string, text: string, isError: boolean): AgentBody =>
      definedOnly({
        type: "agent",
        kind: "tool_result",
        tool,
        toolUseId: id,
        text: truncate(text),
        isError: isError || undefined,
      });
    switch (item.type) {
      case "agent_message": {
        const text = str(item.text) ?? "";
        if (text) this.#lastMessage = text;
        return text ? [{ type: "agent", kind: "message", text }] : [];
      }
      case "reasoning": {
        const text = str(item.text) ?? "";
        return text ? [{ type: "agent", kind: "thinking", text }] : [];
      }
      case "command_execution": {
        const events: AgentBody[] = [];
        if (!id || !this.#started.has(id)) events.push(call("shell", { command: item.command }));
        const exitCode = typeof item.exit_code === "number" ? item.exit_code : null;
        const output = str(item.aggregated_output) ?? "";
        events.push(
          result("shell", output, item.status === "failed" || (exitCode !== null && exitCode !== 0)),
        );
        return events;
      }
      case "file_change": {
        const changes = Array.isArray(item.changes) ? item.changes.filter(isObject) : [];
        const text = changes.map((c) => `${str(c.kind) ?? "update"} ${str(c.path) ?? "?"}`).join("\n");
        return [call("apply_patch", { changes }), result("apply_patch", text, item.status === "failed")];
      }
      case "mcp_tool_call": {
        const tool = `${str(item.server) ?? "mcp"}.${str(item.tool) ?? "tool"}`;
        const error = isObject(item.error) ? str(item.error.message) : undefined;
        const text = error ?? (item.result === undefined ? "" : JSON.stringify(item.result));
        return [
          call(tool, item.arguments),
          result(tool, text, error !== undefined || item.status === "failed"),
        ];
      }
      case "web_search":
        return [call("web_search", { query: item.query })];
      case "todo_list": {
        const items = Array.isArray(item.items) ? item.items.filter(isObject) : [];
        const text = items
          .map((t) => `${t.completed === true ? "[x]" : "[ ]"} ${str(t.text) ?? ""}`)
          .join("\n");
        return text ? [{ type: "agent", kind: "thinking", text }] : [];
      }
      case "error":
        return [{ type: "log", stream: "system", text: `Codex: ${str(item.message) ?? "error"}` }];
      default:
        return [];
    }
  }

  #usage(usage: Json): UsageBody {
    return definedOnly<UsageBody>({
      type: "usage",
      model: this.#model,
      inputTokens: count(usage.input_tokens),
      outputTokens: count(usage.output_tokens),
      cacheReadTokens: count(usage.cached_input_tokens),
      cacheWriteTokens: count(usage.cache_write_input_tokens),
    });
  }
}
