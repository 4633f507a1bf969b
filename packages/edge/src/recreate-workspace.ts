import { ErrorCode, err, MAX_SCRIPT_CHARS, ok, type Result, type Task } from "@openagents/protocol";

/**
 * The runner task that re-creates a task's workspace on a new runner (its container stopped or
 * restarted since the last turn, so the runner no longer has the workspace) and runs a follow-up
 * turn there: the same repo, ref, agent and options, a `setup` that applies the last result's patch
 * to the fresh clone, and the follow-up as its `prompt`.
 *
 * The patch goes first and the task's own setup runs after it: the patch is against the clone
 * (setup's changes to tracked files are in it already), while what setup makes outside git
 * (installed dependencies, build output) has to be made again. A patch that does not apply fails
 * the setup, so the turn ends with `setup_failed` instead of running on the wrong files.
 *
 * Refused (`conflict`) when the setup would exceed the Task's `setup` limit, when the last result
 * had changes but no patch (it was too large to return), or when the task had `env` values, which
 * the edge does not keep once a runner has them.
 *
 * @example
 * const next = recreateTask(meta.task, { patch, filesChanged }, "now add tests");
 * if (next.ok) await runner.submit(next.value);
 */
export function recreateTask(
  original: Task,
  last: { patch: string; filesChanged: number },
  prompt: string,
  envNames: readonly string[] = [],
): Result<Task> {
  if (envNames.length > 0) {
    return err(
      ErrorCode.Conflict,
      `the task's container stopped, and re-creating its workspace needs its env (${envNames.join(", ")}), ` +
        "whose values are not kept after the first run; start a new task",
    );
  }
  if (last.patch === "" && last.filesChanged > 0) {
    return err(
      ErrorCode.Conflict,
      "the task's container stopped, and its last result had no patch (too large to return), so its workspace cannot be re-created; start a new task",
    );
  }
  const parts: string[] = [];
  if (last.patch !== "") parts.push(applyPatchScript(last.patch));
  if (original.setup) parts.push(`# The task's own setup, as on its first run.\n${original.setup}`);
  const setup = parts.join("\n");
  if (setup.length > MAX_SCRIPT_CHARS) {
    return err(
      ErrorCode.Conflict,
      `the task's container stopped, and its workspace cannot be re-created: the last result's patch ` +
        `(${last.patch.length} characters) does not fit the ${MAX_SCRIPT_CHARS}-character setup of a new ` +
        "runner task; start a new task from the patch",
    );
  }
  const { env: _env, script: _script, ...rest } = original;
  const task: Task = { ...rest, prompt };
  if (setup) task.setup = setup;
  else delete task.setup;
  return ok(task);
}

/** `git apply --binary` of the patch, given verbatim in a quoted heredoc (no expansion inside). */
function applyPatchScript(patch: string): string {
  const lines = new Set(patch.split("\n"));
  let delimiter = "OPENAGENTS_PATCH";
  for (let i = 1; lines.has(delimiter); i++) delimiter = `OPENAGENTS_PATCH_${i}`;
  const body = patch.endsWith("\n") ? patch : `${patch}\n`;
  return (
    "# Re-creates the workspace: the changes of the task's last result.\n" +
    `git apply --binary --whitespace=nowarn <<'${delimiter}' || { echo "the last result's patch does not apply to a fresh clone" >&2; exit 1; }\n` +
    `${body}${delimiter}\n`
  );
}
