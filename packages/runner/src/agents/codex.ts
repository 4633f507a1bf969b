import { mkdirSync } from "node:fs";
import path from "node:path";
import type { AgentAdapter, AgentContext, AgentOutcome } from "../agent-adapter.ts";
import {
  AgentNotInstalledError,
  baseAgentEnv,
  openModelDoor,
  resolvePackageBin,
  taskHomeDirs,
} from "./agent-env.ts";
import { CodexStream } from "./codex-stream.ts";

export interface CodexOptions {
  /** Path of `codex.js` (the npm launcher); default: the runner's own `@openai/codex`. */
  bin?: string;
  /** `-m <model>`; default: the CLI's own default model. */
  model?: string;
}

const PACKAGE = "@openai/codex";
const PROVIDER = "openagents";

/**
 * Runs `codex exec --json` in the sandbox with the instructions on stdin. Codex ignores
 * `OPENAI_BASE_URL` from the environment, so the per-task key proxy is declared as a model provider
 * on the command line (`-c model_providers.openagents={…}`), Responses API over HTTP only (no
 * WebSocket: the proxy forwards plain HTTP and SSE). Codex's own sandbox is turned off because the
 * runner's sandbox already encloses it, and a nested one cannot start inside bubblewrap.
 *
 * @example
 * const outcome = await createCodexAdapter({ model: "gpt-5" }).run(ctx);
 */
export function createCodexAdapter(options: CodexOptions = {}): AgentAdapter {
  return { name: "codex", run: (ctx) => runCodex(ctx, options) };
}

/** The adapter with the runner's own Codex install and the CLI's default model. */
export const codexAdapter: AgentAdapter = createCodexAdapter();

async function runCodex(ctx: AgentContext, options: CodexOptions): Promise<AgentOutcome> {
  const bin = options.bin ?? resolvePackageBin(PACKAGE, "codex");
  if (!bin) throw new AgentNotInstalledError("Codex", PACKAGE);
  const door = await openModelDoor(ctx, "openai");
  if (!("proxy" in door)) return door;
  const { proxy, stop } = door;

  const stream = new CodexStream({ model: options.model });
  let lastStderr = "";
  try {
    const { home } = taskHomeDirs(ctx.workspace);
    const codexHome = path.join(home, ".codex");
    mkdirSync(codexHome, { recursive: true, mode: 0o700 });
    const env = {
      ...baseAgentEnv(ctx),
      CODEX_HOME: codexHome,
      OPENAI_API_KEY: proxy.token,
      NO_COLOR: "1",
    };
    const provider = `model_providers.${PROVIDER}={ name="OpenAgents key proxy", base_url="${proxy.url}", env_key="OPENAI_API_KEY", wire_api="responses", supports_websockets=false }`;
    const argv = [
      // codex.js is a Node launcher for the native binary: run it with this Node, whatever PATH says.
      ...(bin.endsWith(".js") ? [process.execPath] : []),
      bin,
      "exec",
      "--json",
      "--skip-git-repo-check",
      "--dangerously-bypass-approvals-and-sandbox",
      "--color",
      "never",
      "-C",
      ctx.workspace,
      "-c",
      provider,
      "-c",
      `model_provider="${PROVIDER}"`,
      ...(options.model ? ["-m", options.model] : []),
      "-",
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
    if (stream.authFailure && !ctx.signal.aborted) {
      return { ok: false, exitCode: exit.exitCode, summary: `Codex stopped: ${stream.authFailure}` };
    }
    const ok = exit.exitCode === 0 && stream.completed && !stream.failure;
    const summary =
      (ok ? stream.lastMessage : stream.failure || stream.lastMessage) ||
      lastStderr ||
      `Codex exited with code ${exit.exitCode ?? exit.signal ?? "unknown"}`;
    return { ok, exitCode: exit.exitCode, summary };
  } finally {
    await door.close();
  }
}
