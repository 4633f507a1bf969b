import { useMemo, useState } from "preact/hooks";
import { type FilePatch, parsePatch } from "../patch.ts";

/** A file longer than this starts collapsed; its lines render in pages of this size. */
const LINES_PAGE = 1500;

const CHANGE_MARK: Record<FilePatch["change"], string> = {
  added: "A",
  deleted: "D",
  modified: "M",
  renamed: "R",
};

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/x-diff" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function FileDiff({ file }: { file: FilePatch }) {
  const lineCount = file.hunks.reduce((n, h) => n + h.lines.length + 1, 0);
  const [open, setOpen] = useState(lineCount <= LINES_PAGE);
  const [limit, setLimit] = useState(LINES_PAGE);
  let budget = limit;
  return (
    <details class="diff-file" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        <span class={`change change-${file.change}`} title={file.change}>
          {CHANGE_MARK[file.change]}
        </span>
        <span class="diff-path" title={file.path}>
          {file.oldPath && file.change === "renamed" ? `${file.oldPath} → ${file.path}` : file.path}
        </span>
        <span class="diff-counts">
          <span class="ins">+{file.insertions}</span> <span class="del">−{file.deletions}</span>
        </span>
      </summary>
      {open && (
        <div class="diff-body">
          {file.binary && <div class="diff-note">Binary file; download the patch to get it.</div>}
          {!file.binary && file.hunks.length === 0 && <div class="diff-note">No content change.</div>}
          {file.hunks.map((h, hi) => {
            if (budget <= 0) return null;
            const lines = h.lines.slice(0, budget);
            budget -= lines.length + 1;
            return (
              <div class="hunk" key={hi}>
                <div class="hunk-head">{h.header}</div>
                {lines.map((l, li) => (
                  <div class={`dl dl-${l.kind}`} key={li}>
                    <span class="ln">{l.oldNo ?? ""}</span>
                    <span class="ln">{l.newNo ?? ""}</span>
                    <span class="code">
                      {l.kind === "add" ? "+" : l.kind === "del" ? "-" : l.kind === "ctx" ? " " : ""}
                      {l.text}
                    </span>
                  </div>
                ))}
              </div>
            );
          })}
          {budget <= 0 && (
            <button type="button" class="link pad" onClick={() => setLimit(limit + LINES_PAGE * 4)}>
              Show more of this file
            </button>
          )}
        </div>
      )}
    </details>
  );
}

/** The task's patch, file by file with +/− colouring, and a button to download it whole. */
export function DiffView({ patch, taskId }: { patch: string; taskId: string }) {
  const files = useMemo(() => parsePatch(patch), [patch]);
  const ins = files.reduce((n, f) => n + f.insertions, 0);
  const del = files.reduce((n, f) => n + f.deletions, 0);
  return (
    <section class="card" data-testid="diff">
      <div class="card-head">
        <h2>
          Changes{" "}
          <span class="muted small">
            {files.length} {files.length === 1 ? "file" : "files"}, <span class="ins">+{ins}</span>{" "}
            <span class="del">−{del}</span>
          </span>
        </h2>
        <button type="button" class="button" onClick={() => download(`${taskId}.patch`, patch)}>
          Download patch
        </button>
      </div>
      <div class="diff-files">
        {files.map((f) => (
          <FileDiff key={f.raw.length + f.path} file={f} />
        ))}
      </div>
      <p class="muted small pad">
        Apply it with <code>git apply {taskId}.patch</code>.
      </p>
    </section>
  );
}
