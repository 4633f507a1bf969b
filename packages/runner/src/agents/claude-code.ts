import type { AgentAdapter, AgentContext, AgentOutcome } from "../agent-adapter.ts";
import { AgentNotInstalledError, baseAgentEnv, openModelDoor, resolvePackageBin } from "./agent-env.ts";
import { ClaudeStream } from "./claude-stream.ts";

export interface ClaudeCodeOptions {
  /** Path of the `claude` executable; default: the one of the runner's `@anthropic-ai/claude-code`. */
  bin?: string;
}

const PACKAGE = "@anthropic-ai/claude-code";

/**
 * Runs Claude Code headless in the sandbox:
 * `claude -p --output-format stream-json --verbose --permission-mode bypassPermissions`, the
 * instructions on stdin (no argv length limit, and a prompt starting with `-` cannot pass for an
 * option). The agent talks to a per-task key proxy outside the sandbox and only ever sees a capability
 * token; its stream-json is normalised into `agent`, `usage` and `log` events.
 *
 * @example
 * const outcome = await createClaudeCodeAdapter().run(ctx); // ctx from the task manager
 */
export function createClaudeCodeAdapter(options: ClaudeCodeOptions = {}): AgentAdapter {
  return {
    name: "claude-code",
    run: (ctx) => runClaudeCode(ctx, options),
  };
}

/** The adapter with the runner's own Claude Code install. */
export const claudeCodeAdapter: AgentAdapter = createClaudeCodeAdapter();

async function runClaudeCode(ctx: AgentContext, options: ClaudeCodeOptions): Promise<AgentOutcome> {
  const bin = options.bin ?? resolvePackageBin(PACKAGE, "claude");
  if (!bin) throw new AgentNotInstalledError("Claude Code", PACKAGE);
  const door = await openModelDoor(ctx, "anthropic");
  if (!("proxy" in door)) return door;
  const { proxy, stop } = door;

  const stream = new ClaudeStream();
  let lastStderr = "";
  try {
    const env = {
      ...baseAgentEnv(ctx),
      IS_SANDBOX: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      ANTHROPIC_BASE_URL: proxy.url,
      ANTHROPIC_API_KEY: proxy.token,
    };
    const argv = [
      bin,
      "-p",
      "--output-format",
      "stream-json",
      "--verbose",
      "--permission-mode",
      "bypassPermissions",
      // A follow-up continues the task's conversation, kept under the task's private HOME.
      ...(ctx.followUp ? ["--continue"] : []),
    ];
    const exit = await ctx.sandbox.run(argv, {
      cwd: ctx.workspace,
      env,
      stdin: ctx.instructions,
      signal: stop.signal,
      hostPorts: [proxy.port],
      onStdoutLine: (line) => {
        for (const event of stream.push(line)) ctx.emit(event);
        if (stream.authFailure && !stop.signal.aborted) stop.abort();
      },
      onStderrLine: (line) => {
        if (line.trim()) lastStderr = line;
        ctx.emit({ type: "log", stream: "stderr", text: line });
      },
    });
    const result = stream.result;
    if (stream.authFailure && !ctx.signal.aborted) {
      return { ok: false, exitCode: exit.exitCode, summary: `Claude Code stopped: ${stream.authFailure}` };
    }
    const ok = exit.exitCode === 0 && result !== undefined && !result.isError;
    const summary =
      result?.text ||
      (result ? `Claude Code ended with ${result.subtype}` : "") ||
      lastStderr ||
      `Claude Code exited with code ${exit.exitCode ?? exit.signal ?? "unknown"}`;
    return { ok, exitCode: exit.exitCode, summary };
  } finally {
    await door.close();
  }
}
