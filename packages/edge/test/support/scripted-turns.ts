import type { ScriptedTurn } from "../../../runner/test/scripted-anthropic.ts";

const bash = (command: string): ScriptedTurn => ({
  content: [{ type: "tool_use", name: "Bash", input: { command, description: "edge test step" } }],
});
const say = (text: string): ScriptedTurn => ({
  content: [{ type: "text", text }],
  inputTokens: 50,
  outputTokens: 5,
});

/**
 * What the scripted model answers, in order, to the agent-loop calls of the claude-code tasks of
 * `test/follow-up.test.ts` (the only file that runs claude-code; its tests run one after another).
 * Each agent turn is a Bash tool call, then a closing text.
 */
export const CLAUDE_TURNS: ScriptedTurn[] = [
  // A follow-up while the runner still has the task: same workspace, conversation continued.
  bash("echo one > one.txt"),
  say("Wrote one.txt."),
  bash("echo two > two.txt"),
  say("Wrote two.txt."),
  // A follow-up after the container stopped: the workspace is re-created from the patch. `cp` fails
  // unless first.txt came back.
  bash("echo first > first.txt"),
  say("Wrote first.txt."),
  bash("cp first.txt again.txt"),
  say("Copied first.txt."),
  // A patch too big to carry in a new runner task's setup (over 200,000 characters).
  bash("seq 1 50000 > big.txt"),
  say("Wrote big.txt."),
];
