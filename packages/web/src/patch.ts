export type DiffLineKind = "add" | "del" | "ctx" | "note";

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line number in the old file (del, ctx). */
  oldNo?: number;
  /** Line number in the new file (add, ctx). */
  newNo?: number;
}

export interface Hunk {
  header: string;
  lines: DiffLine[];
}

export type FileChange = "added" | "deleted" | "modified" | "renamed";

export interface FilePatch {
  /** The path to show: the new path, or the old one for a deleted file. */
  path: string;
  oldPath?: string;
  change: FileChange;
  binary: boolean;
  insertions: number;
  deletions: number;
  hunks: Hunk[];
  /** This file's own part of the patch, for copying or downloading one file. */
  raw: string;
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/**
 * Splits a `git diff` patch into files and hunks for the diff viewer. Inside a hunk the line counts
 * from its header decide where it ends, so a removed line that starts with `-- ` is never mistaken
 * for a file header.
 *
 * @example
 * const files = parsePatch(result.patch);
 * files[0].path; files[0].insertions; files[0].hunks[0].lines[0].kind; // "ctx" | "add" | "del" | "note"
 */
export function parsePatch(patch: string): FilePatch[] {
  const lines = patch.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const files: FilePatch[] = [];
  let file: FilePatch | undefined;
  let start = 0;
  let hunk: Hunk | undefined;
  let oldLeft = 0;
  let newLeft = 0;
  let oldNo = 0;
  let newNo = 0;

  const close = (end: number) => {
    if (file) file.raw = `${lines.slice(start, end).join("\n")}\n`;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (hunk && (oldLeft > 0 || newLeft > 0)) {
      const mark = line[0];
      const text = line.slice(1);
      if (mark === "+") {
        hunk.lines.push({ kind: "add", text, newNo: newNo++ });
        newLeft--;
        file!.insertions++;
        continue;
      }
      if (mark === "-") {
        hunk.lines.push({ kind: "del", text, oldNo: oldNo++ });
        oldLeft--;
        file!.deletions++;
        continue;
      }
      if (mark === " " || line === "") {
        hunk.lines.push({ kind: "ctx", text, oldNo: oldNo++, newNo: newNo++ });
        oldLeft--;
        newLeft--;
        continue;
      }
      if (mark === "\\") {
        hunk.lines.push({ kind: "note", text: line });
        continue;
      }
      // A malformed hunk (counts too large): fall through and read the line as a header.
      hunk = undefined;
    }
    if (line.startsWith("diff --git ")) {
      close(i);
      start = i;
      hunk = undefined;
      const paths = gitHeaderPaths(line.slice(11));
      file = {
        path: paths?.[1] ?? "",
        oldPath: paths?.[0],
        change: "modified",
        binary: false,
        insertions: 0,
        deletions: 0,
        hunks: [],
        raw: "",
      };
      files.push(file);
      continue;
    }
    if (!file) continue;
    if (line.startsWith("\\") && hunk) {
      hunk.lines.push({ kind: "note", text: line });
      continue;
    }
    const m = HUNK.exec(line);
    if (m) {
      oldNo = Number(m[1]);
      newNo = Number(m[3]);
      oldLeft = m[2] === undefined ? 1 : Number(m[2]);
      newLeft = m[4] === undefined ? 1 : Number(m[4]);
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      continue;
    }
    readFileHeader(file, line);
  }
  close(lines.length);
  for (const f of files) {
    if (f.change !== "renamed" && f.change !== "deleted") delete f.oldPath;
    if (f.change === "renamed" && f.oldPath === f.path) f.change = "modified";
  }
  return files;
}

function readFileHeader(file: FilePatch, line: string): void {
  if (line.startsWith("new file mode")) file.change = "added";
  else if (line.startsWith("deleted file mode")) file.change = "deleted";
  else if (line.startsWith("rename from ")) {
    file.change = "renamed";
    file.oldPath = unquote(line.slice(12));
  } else if (line.startsWith("rename to ")) {
    file.change = "renamed";
    file.path = unquote(line.slice(10));
  } else if (line.startsWith("Binary files ") || line === "GIT binary patch") file.binary = true;
  else if (line.startsWith("--- ")) {
    const p = stripPrefix(unquote(line.slice(4)), "a/");
    if (p !== undefined) file.oldPath = p;
  } else if (line.startsWith("+++ ")) {
    const p = stripPrefix(unquote(line.slice(4)), "b/");
    if (p !== undefined) file.path = p;
    else if (file.change === "deleted" && file.oldPath) file.path = file.oldPath;
  }
}

/** `--- /dev/null` names no file. */
const stripPrefix = (p: string, prefix: string): string | undefined =>
  p === "/dev/null" ? undefined : p.startsWith(prefix) ? p.slice(prefix.length) : p;

/**
 * The two paths of `diff --git a/X b/Y`. Unquoted names may contain spaces, so when both halves are
 * the same path (every change but a rename) the line is split in the middle.
 */
function gitHeaderPaths(rest: string): [string, string] | undefined {
  if (rest.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*"|.*)$/.exec(rest);
    if (!m) return undefined;
    return [unquote(m[1]!).replace(/^a\//, ""), unquote(m[2]!).replace(/^b\//, "")];
  }
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest.slice(2, half) === rest.slice(half + 3) && rest[half] === " ") {
    const p = rest.slice(2, half);
    return [p, p];
  }
  const m = /^a\/(.*?) b\/(.*)$/.exec(rest);
  return m ? [m[1]!, m[2]!] : undefined;
}

/** Git's C-style quoting of unusual file names (`"a/caf\303\251"`), decoded as UTF-8. */
export function unquote(s: string): string {
  const t = s.replace(/\t$/, "");
  if (!t.startsWith('"') || !t.endsWith('"') || t.length < 2) return t;
  const bytes: number[] = [];
  const body = t.slice(1, -1);
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, '"': 34, "\\": 92, a: 7, b: 8, f: 12, v: 11 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== "\\") {
      bytes.push(...new TextEncoder().encode(c));
      continue;
    }
    const next = body[i + 1] ?? "";
    const oct = /^[0-7]{3}/.exec(body.slice(i + 1));
    if (oct) {
      bytes.push(Number.parseInt(oct[0], 8));
      i += 3;
    } else {
      bytes.push(simple[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
