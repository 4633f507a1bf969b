import type { AgentKind } from "@openagents/protocol";
import type { AgentAdapter } from "./agent-adapter.ts";
import { claudeCodeAdapter } from "./agents/claude-code.ts";
import { codexAdapter } from "./agents/codex.ts";
import { shellAdapter } from "./agents/shell.ts";

const adapters: Record<AgentKind, AgentAdapter> = {
  "claude-code": claudeCodeAdapter,
  codex: codexAdapter,
  shell: shellAdapter,
};

/** The adapter that runs `agent`. */
export const adapterFor = (agent: AgentKind): AgentAdapter => adapters[agent];
