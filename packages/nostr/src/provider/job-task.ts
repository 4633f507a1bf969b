import type { ResultBody, RunEvent, Task } from "@openagents/protocol";
import type { CodingJob, JobResultContent, Skill } from "../job-types.ts";

/**
 * How a provider runs a task: the runner's `TaskManager` in the CLI, anything that honours the same
 * contract in tests or in the cloud. `onEvent` receives the task's RunEvents in order; the promise
 * settles with the final `result` body; `signal` cancels.
 */
export type RunTask = (
  task: Task,
  onEvent: (e: RunEvent) => void,
  signal: AbortSignal,
) => Promise<ResultBody>;

/** Instructions for each agent skill, framing the customer's prompt. */
const FRAMING: Record<Exclude<Skill, "compute">, string> = {
  code: "",
  docs: "Write or improve documentation for this repository as requested. Change only documentation files.\n\n",
  analysis:
    "Review this repository as requested. Do not modify files. Your final message must be the complete report in Markdown.\n\n",
};

/**
 * Turns an admitted job into a runner Task: `compute` is a `shell` task whose script is the text
 * input; `code`, `docs` and `analysis` run a coding agent (param `agent`, default claude-code) on the
 * prompt. Network stays off: a market job never reaches the internet from the provider's machine.
 *
 * @example
 * const task = taskForJob({ repo, instructions: "echo hello" }, "compute", scratchRepo);
 */
export function taskForJob(job: CodingJob, skill: Skill, scratchRepo?: string): Task | undefined {
  const repo = job.repo ?? scratchRepo;
  if (repo === undefined) return undefined;
  const task: Task =
    skill === "compute"
      ? { repo, agent: "shell", script: job.instructions }
      : { repo, agent: job.agent ?? "claude-code", prompt: FRAMING[skill] + job.instructions };
  if (job.ref) task.ref = job.ref;
  if (job.timeoutSec !== undefined) task.timeoutSec = job.timeoutSec;
  task.compute = "market";
  return task;
}

const MAX_LOG_CHARS = 64 * 1024;

/**
 * Collects what a job's result needs from its RunEvents: the log (tail, bounded) and the agent's
 * last message, which is the `analysis` report.
 */
export class JobTranscript {
  #log: string[] = [];
  #logChars = 0;
  #pending: string[] = [];
  lastMessage = "";
  errorMessage = "";

  add(e: RunEvent): void {
    // Clone chatter (`system`) is progress, not the job's output: it goes to partial feedback only.
    if (e.type === "log" && e.stream === "system") this.#pending.push(e.text);
    else if (e.type === "log") this.#line(e.stream === "stderr" ? `! ${e.text}` : e.text);
    else if (e.type === "agent" && e.kind === "message" && e.text) {
      this.lastMessage = e.text;
      this.#pending.push(e.text);
    } else if (e.type === "agent" && e.kind === "tool_call") this.#pending.push(`⚙ ${e.tool ?? "tool"}`);
    else if (e.type === "error") {
      this.errorMessage = `${e.code}: ${e.message}`;
      this.#pending.push(this.errorMessage);
    } else if (e.type === "status") this.#pending.push(`▸ ${e.phase}${e.message ? ` ${e.message}` : ""}`);
  }

  #line(text: string): void {
    this.#log.push(text);
    this.#pending.push(text);
    this.#logChars += text.length + 1;
    while (this.#logChars > MAX_LOG_CHARS && this.#log.length > 1)
      this.#logChars -= this.#log.shift()!.length + 1;
  }

  /** Lines seen since the last call (the content of the next `partial` feedback), bounded. */
  takePending(maxChars = 4096): string {
    const text = this.#pending.join("\n");
    this.#pending = [];
    return text.length > maxChars ? `…${text.slice(text.length - maxChars)}` : text;
  }

  log(): string {
    return this.#log.join("\n");
  }
}

/**
 * The result content of ARCHITECTURE §4 for one job: `compute` → log + exit code, `code`/`docs` →
 * patch + summary, `analysis` → markdown report.
 *
 * @example
 * const content = resultContent("compute", body, transcript);
 */
export function resultContent(skill: Skill, body: ResultBody, t: JobTranscript): JobResultContent {
  const out: JobResultContent = {
    ok: body.ok,
    summary: body.summary || t.errorMessage || (body.ok ? "done" : "failed"),
    exitCode: body.exitCode ?? -1,
  };
  if (skill === "compute") out.log = t.log();
  if (skill === "code" || skill === "docs") out.patch = body.patch;
  if (skill === "analysis") out.report = t.lastMessage || body.summary;
  return out;
}
