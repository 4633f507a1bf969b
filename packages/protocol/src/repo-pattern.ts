/**
 * Repository allowlist patterns, shared by `openagents connect` (which refuses what it was not
 * allowed) and the edge (which checks again, whatever a machine claims). A pattern is a glob over the
 * repository string: `*` matches within one path segment, `**` across segments, `?` one character.
 * A trailing `.git` or `/` is ignored on both sides, so `https://github.com/me/*` admits
 * `https://github.com/me/app.git`.
 *
 * @example
 * repoMatches("https://github.com/me/app.git", "https://github.com/me/*"); // true
 * repoMatches("https://github.com/you/app", "https://github.com/me/*"); // false
 */
export function repoMatches(repo: string, pattern: string): boolean {
  return globToRegExp(normalizeRepo(pattern)).test(normalizeRepo(repo));
}

/** True when some pattern admits `repo`; an empty list admits nothing. */
export const repoAllowed = (repo: string, patterns: readonly string[]): boolean =>
  patterns.some((p) => repoMatches(repo, p));

const normalizeRepo = (repo: string): string =>
  repo
    .trim()
    .replace(/\/+$/, "")
    .replace(/\.git$/, "");

const cache = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let src = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*" && glob[i + 1] === "*") {
      src += ".*";
      i++;
    } else if (ch === "*") src += "[^/]*";
    else if (ch === "?") src += "[^/]";
    else src += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  re = new RegExp(`^${src}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(glob, re);
  return re;
}
