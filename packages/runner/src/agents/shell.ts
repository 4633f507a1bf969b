import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { AgentAdapter, AgentContext, AgentOutcome } from "../agent-adapter.ts";
import { baseAgentEnv, taskHomeDirs } from "./agent-env.ts";

/**
 * Runs the task's script with bash in the workspace, inside the sandbox. Every stdout/stderr line is a
 * `log` event; the summary is the last non-empty stdout line (else stderr); ok means exit 0. The script is written to
 * a file in the task's private temp dir rather than passed with `-c`: one argument is capped at 128 KiB
 * on Linux, and a script fed on stdin would be eaten by the first command that reads stdin.
 *
 * @example
 * const outcome = await shellAdapter.run({ ...ctx, instructions: "npm test" });
 */
export const shellAdapter: AgentAdapter = {
  name: "shell",
  run: runShell,
};

async function runShell(ctx: AgentContext): Promise<AgentOutcome> {
  const { tmp } = taskHomeDirs(ctx.workspace);
  const scriptPath = path.join(tmp, `openagents-script-${Date.now()}.sh`);
  await writeFile(scriptPath, ctx.instructions, { mode: 0o600 });
  // stdout and stderr are two pipes whose relative order is not kept, so the summary is the last
  // stdout line (deterministic), and the last stderr line only when the script printed nothing else.
  let lastOut = "";
  let lastErr = "";
  const exit = await ctx.sandbox.run(["bash", scriptPath], {
    cwd: ctx.workspace,
    env: baseAgentEnv(ctx),
    signal: ctx.signal,
    onStdoutLine: (text) => {
      if (text.trim()) lastOut = text.trim();
      ctx.emit({ type: "log", stream: "stdout", text });
    },
    onStderrLine: (text) => {
      if (text.trim()) lastErr = text.trim();
      ctx.emit({ type: "log", stream: "stderr", text });
    },
  });
  const summary =
    lastOut || lastErr || `script exited with code ${exit.exitCode ?? exit.signal ?? "unknown"}`;
  return { ok: exit.exitCode === 0, exitCode: exit.exitCode, summary };
}
