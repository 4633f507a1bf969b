import type { RunEvent } from "@openagents/protocol";

const PHASE_TEXT: Record<string, string> = {
  queued: "queued",
  provisioning: "preparing the sandbox",
  cloning: "cloning",
  setup: "running the setup script",
  running: "running",
  finalizing: "computing the patch",
};

const oneLine = (text: string, max = 160) => {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

function describeInput(input: unknown): string {
  if (input === null || typeof input !== "object") return "";
  const o = input as Record<string, unknown>;
  const main = o.file_path ?? o.path ?? o.command ?? o.pattern ?? o.url ?? o.description;
  return typeof main === "string" ? oneLine(main, 100) : "";
}

/**
 * Turns RunEvents into the human output of `openagents run`: one line per phase, tool call and log
 * line, and a closing block with the diffstat and summary. `elapsed` is seconds since the start.
 *
 * @example
 * log.subscribe(0, (e) => out.write(renderEvent(e, (Date.now() - t0) / 1000)));
 */
export function renderEvent(event: RunEvent, elapsed: number): string {
  const t = `[${elapsed.toFixed(1).padStart(5)}s]`;
  switch (event.type) {
    case "status":
      return `${t} ▸ ${PHASE_TEXT[event.phase] ?? event.phase}${event.message ? ` ${event.message}` : ""}\n`;
    case "log":
      return `${t}   ${event.stream === "stderr" ? "! " : ""}${event.text}\n`;
    case "agent":
      switch (event.kind) {
        case "message":
          return event.text ? `${t} 💬 ${oneLine(event.text, 400)}\n` : "";
        case "thinking":
          return "";
        case "tool_call":
          return `${t} ⚙ ${event.tool ?? "tool"} ${describeInput(event.input)}\n`;
        case "tool_result":
          return event.isError ? `${t}   ✗ ${oneLine(event.text ?? "tool failed")}\n` : "";
      }
      return "";
    case "usage": {
      const cost = event.costUsd !== undefined ? `, $${event.costUsd.toFixed(4)}` : "";
      return `${t}   usage: ${event.inputTokens} in / ${event.outputTokens} out tokens${cost}\n`;
    }
    case "error":
      return `${t} ✗ ${event.code}: ${event.message}\n`;
    case "result": {
      const d = event.diffstat;
      const lines = [
        `${t} ${event.ok ? "✓ succeeded" : "✗ failed"}${event.exitCode !== null ? ` (exit ${event.exitCode})` : ""}`,
      ];
      if (d.filesChanged > 0) {
        lines.push(
          `  ${d.filesChanged} file${d.filesChanged === 1 ? "" : "s"} changed, +${d.insertions} −${d.deletions}`,
        );
        for (const f of d.files.slice(0, 20)) {
          lines.push(`    ${f.binary ? "bin" : `+${f.insertions} −${f.deletions}`.padEnd(10)} ${f.path}`);
        }
        if (d.files.length > 20) lines.push(`    … and ${d.files.length - 20} more`);
      } else {
        lines.push("  no changes");
      }
      if (event.summary) lines.push(`  ${oneLine(event.summary, 1000)}`);
      return `${lines.join("\n")}\n`;
    }
  }
}
