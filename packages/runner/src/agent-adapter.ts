import type { AgentKind, RunEventBody, Task } from "@openagents/protocol";
import type { Sandbox } from "./sandbox.ts";

/** Where a model API key comes from and where the key proxy forwards to. Never passed into a sandbox. */
export interface ModelCredentials {
  anthropicApiKey?: string;
  /** Upstream for Anthropic traffic: the runner's own ANTHROPIC_BASE_URL, default https://api.anthropic.com. */
  anthropicBaseUrl: string;
  openaiApiKey?: string;
  /** Upstream for OpenAI traffic: the runner's own OPENAI_BASE_URL, default https://api.openai.com/v1. */
  openaiBaseUrl: string;
}

/** What an adapter gets to run one task's agent turn inside an already prepared workspace. */
export interface AgentContext {
  task: Task;
  /** The prompt (agents) or script (shell) for this turn; a follow-up turn replaces the task's own. */
  instructions: string;
  /** True for a follow-up turn: the agent continues its previous conversation in this workspace. */
  followUp?: boolean;
  workspace: string;
  /** Emits a RunEvent body; the task assigns `seq` and `time`. */
  emit(event: RunEventBody): void;
  /** Aborted on cancel or timeout; the adapter must stop its processes (Sandbox.run does it). */
  signal: AbortSignal;
  sandbox: Sandbox;
  credentials: ModelCredentials;
}

export interface AgentOutcome {
  /** Exit code of the agent process; null when it was killed by a signal. */
  exitCode: number | null;
  /** One or a few sentences for the result: the agent's last message, or the script's last output line. */
  summary: string;
  /** False when the agent reported failure even if its process exited 0. */
  ok: boolean;
}

/** One coding agent (Claude Code, Codex) or the plain shell, normalising its own output into RunEvents. */
export interface AgentAdapter {
  readonly name: AgentKind;
  run(ctx: AgentContext): Promise<AgentOutcome>;
}
