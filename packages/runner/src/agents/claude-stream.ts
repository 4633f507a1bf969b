import type { AgentBody, RunEventBody, UsageBody } from "@openagents/protocol";

/** How Claude Code's `result` line ended the run. */
export interface ClaudeResult {
  isError: boolean;
  /** `success`, `error_max_turns`, `error_during_execution`, … */
  subtype: string;
  /** The final assistant text (`result`), or the errors the CLI reported. */
  text: string;
}

/** Tool results longer than this are cut: an event log is for watching, the workspace holds the files. */
export const MAX_TOOL_RESULT_CHARS = 32_000;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);

export function truncate(text: string, max = MAX_TOOL_RESULT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}\n… [${text.length - max} more characters cut]`;
}

/**
 * Normalises Claude Code's `--output-format stream-json --verbose` output, one stdout line at a time,
 * into RunEvent bodies: `assistant` text/thinking/tool_use blocks become `agent` message/thinking/
 * tool_call events, `user` tool_result blocks become `agent` tool_result events (named after the call
 * they answer), the `result` line becomes one `usage` event and the run's outcome, `system/init` a
 * short `log` line. Lines that are not JSON are passed on as `log` events, never dropped.
 *
 * @example
 * const stream = new ClaudeStream();
 * onStdoutLine = (line) => stream.push(line).forEach(emit);
 * // after exit: stream.result?.isError, stream.result?.text
 */
export class ClaudeStream {
  #model: string | undefined;
  #result: ClaudeResult | undefined;
  #authFailure: string | undefined;
  readonly #toolNames = new Map<string, string>();

  /** The `result` line's outcome, once it has been seen. */
  get result(): ClaudeResult | undefined {
    return this.#result;
  }

  /**
   * Set when the API refused the key (401/403). Claude Code retries those ten times with backoff
   * (minutes), although a refused key never heals: the adapter stops the run instead of waiting.
   */
  get authFailure(): string | undefined {
    return this.#authFailure;
  }

  /** The model Claude Code reported (init line, or the result's per-model usage). */
  get model(): string | undefined {
    return this.#model;
  }

  push(line: string): RunEventBody[] {
    const trimmed = line.trim();
    if (trimmed.length === 0) return [];
    let msg: unknown;
    try {
      msg = JSON.parse(trimmed);
    } catch {
      return [{ type: "log", stream: "stdout", text: line }];
    }
    if (!isObject(msg)) return [{ type: "log", stream: "stdout", text: line }];
    switch (msg.type) {
      case "system":
        return this.#system(msg);
      case "assistant":
        return this.#assistant(msg);
      case "user":
        return this.#user(msg);
      case "result":
        return this.#resultLine(msg);
      default:
        // stream_event, rate-limit notices, …: informative for the CLI's own UI, not for a task's log.
        return [];
    }
  }

  #system(msg: Json): RunEventBody[] {
    if (msg.subtype === "init") {
      this.#model = str(msg.model) ?? this.#model;
      const version = str(msg.claude_code_version);
      const text = `Claude Code${version ? ` ${version}` : ""} started${this.#model ? ` (model ${this.#model})` : ""}`;
      return [{ type: "log", stream: "system", text }];
    }
    if (msg.subtype === "api_retry") {
      const attempt = count(msg.attempt);
      const error = str(msg.error) ?? "API error";
      const status = count(msg.error_status);
      if (status === 401 || status === 403)
        this.#authFailure = `the model API refused the key (${status} ${error})`;
      return [
        {
          type: "log",
          stream: "system",
          text: `Claude Code retries the API call (attempt ${attempt}): ${error}`,
        },
      ];
    }
    return [];
  }

  #assistant(msg: Json): RunEventBody[] {
    const message = isObject(msg.message) ? msg.message : {};
    const content = Array.isArray(message.content) ? message.content : [];
    const events: AgentBody[] = [];
    for (const block of content) {
      if (!isObject(block)) continue;
      if (block.type === "text") {
        const text = str(block.text);
        // The CLI reports API errors as synthetic assistant messages: keep them, flagged.
        if (text)
          events.push({
            type: "agent",
            kind: "message",
            text,
            isError: msg.is_api_error_message === true || undefined,
          });
      } else if (block.type === "thinking") {
        const text = str(block.thinking);
        if (text) events.push({ type: "agent", kind: "thinking", text });
      } else if (block.type === "tool_use") {
        const id = str(block.id);
        const tool = str(block.name) ?? "tool";
        if (id) this.#toolNames.set(id, tool);
        events.push({ type: "agent", kind: "tool_call", tool, toolUseId: id, input: block.input });
      }
    }
    return events.map(definedOnly);
  }

  #user(msg: Json): RunEventBody[] {
    const message = isObject(msg.message) ? msg.message : {};
    const content = Array.isArray(message.content) ? message.content : [];
    const events: AgentBody[] = [];
    for (const block of content) {
      if (!isObject(block) || block.type !== "tool_result") continue;
      const id = str(block.tool_use_id);
      events.push({
        type: "agent",
        kind: "tool_result",
        tool: id ? this.#toolNames.get(id) : undefined,
        toolUseId: id,
        text: truncate(toolResultText(block.content)),
        isError: block.is_error === true ? true : undefined,
      });
    }
    return events.map(definedOnly);
  }

  #resultLine(msg: Json): RunEventBody[] {
    const modelUsage = isObject(msg.modelUsage) ? Object.keys(msg.modelUsage) : [];
    this.#model = this.#model ?? modelUsage[0];
    const isError = msg.is_error === true || (typeof msg.subtype === "string" && msg.subtype !== "success");
    const errors = Array.isArray(msg.errors) ? msg.errors.filter((e) => typeof e === "string") : [];
    this.#result = {
      isError,
      subtype: str(msg.subtype) ?? "unknown",
      text: str(msg.result) ?? errors.join("\n"),
    };
    const usage = isObject(msg.usage) ? msg.usage : {};
    const body: UsageBody = {
      type: "usage",
      model: this.#model,
      inputTokens: count(usage.input_tokens),
      outputTokens: count(usage.output_tokens),
      cacheReadTokens: count(usage.cache_read_input_tokens),
      cacheWriteTokens: count(usage.cache_creation_input_tokens),
      costUsd: typeof msg.total_cost_usd === "number" ? msg.total_cost_usd : undefined,
    };
    return [definedOnly(body)];
  }
}

/** A tool_result's content is a string or a list of blocks (text, image, …): keep the text. */
function toolResultText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((b) =>
      isObject(b) && b.type === "text" ? (str(b.text) ?? "") : isObject(b) ? `[${String(b.type)}]` : "",
    )
    .filter((t) => t.length > 0)
    .join("\n");
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
