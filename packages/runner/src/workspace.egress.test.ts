import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../test/git-fixtures.ts";
import { gitHttpBackend } from "../test/git-http-backend.ts";
import { cloneRepo, createTaskDirs, gitEgressFromEnv, routeThroughEgress, taskDirs } from "./workspace.ts";

const CAP = "oa-eg.dGVzdA.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const repo = makeBareRepo({ "README.md": "# private\n" });
const roots: string[] = [path.dirname(repo.bare)];
const seen: Array<{ method: string; path: string; authorization: string | undefined }> = [];
let server: Server;
let egressUrl: string;

beforeAll(async () => {
  // The edge's git egress as the runner sees it: smart HTTP under /egress/git/github.com/<owner>/<repo>.git,
  // open only to the capability token.
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://egress.test");
    seen.push({ method: req.method ?? "", path: url.pathname, authorization: req.headers.authorization });
    const m = /^\/egress\/git\/github\.com\/acme\/app\.git\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end("Repository not found.");
    if (req.headers.authorization !== `Bearer ${CAP}`) return void res.writeHead(401).end("bad token");
    void gitHttpBackend(req, res, repo.bare, m[1]!);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  egressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/egress/git`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const newDirs = async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "oa-ws-eg-"));
  roots.push(root);
  const dirs = taskDirs(root, "t1");
  await createTaskDirs(dirs);
  return dirs;
};

/** Every file below `dir`, read as text. */
function allFiles(dir: string): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...allFiles(file));
    else out.push({ file, text: readFileSync(file, "latin1") });
  }
  return out;
}

describe("routeThroughEgress", () => {
  const egress = { url: "https://edge.example/egress/git", token: CAP };

  it("sends GitHub repositories through the egress with the token in git's environment only", () => {
    for (const url of [
      "https://github.com/acme/app",
      "https://github.com/acme/app.git",
      "https://github.com/acme/app/",
    ]) {
      const r = routeThroughEgress(url, egress);
      expect(r.fetchUrl).toBe("https://edge.example/egress/git/github.com/acme/app.git");
      expect(r.env).toEqual({
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.https://edge.example/egress/git/.extraHeader",
        GIT_CONFIG_VALUE_0: `Authorization: Bearer ${CAP}`,
      });
    }
  });

  it("leaves other hosts, local repositories and runners without an egress alone", () => {
    for (const url of ["https://gitlab.com/acme/app", "file:///srv/app.git", "https://github.com/acme"]) {
      expect(routeThroughEgress(url, egress)).toEqual({ fetchUrl: url, env: {} });
    }
    expect(routeThroughEgress("https://github.com/acme/app", undefined)).toEqual({
      fetchUrl: "https://github.com/acme/app",
      env: {},
    });
  });

  it("reads the egress from the runner's environment, only when both parts are set", () => {
    expect(
      gitEgressFromEnv({
        OPENAGENTS_GIT_EGRESS_URL: "https://e.example/egress/git/",
        OPENAGENTS_EGRESS_TOKEN: CAP,
      }),
    ).toEqual({ url: "https://e.example/egress/git", token: CAP });
    expect(gitEgressFromEnv({ OPENAGENTS_GIT_EGRESS_URL: "https://e.example/egress/git" })).toBeUndefined();
    expect(gitEgressFromEnv({})).toBeUndefined();
  });
});

describe("cloneRepo through the git egress (real git over smart HTTP)", () => {
  it("clones a GitHub repository through the egress; the workspace keeps neither the token nor the egress URL", async () => {
    const dirs = await newDirs();
    const lines: string[] = [];
    const r = await cloneRepo(
      "https://github.com/acme/app",
      undefined,
      dirs,
      new AbortController().signal,
      (l) => lines.push(l),
      { gitEgress: { url: egressUrl, token: CAP } },
    );
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value).toBe(repo.commits.main);
    expect(readFileSync(path.join(dirs.work, "README.md"), "utf8")).toBe("# private\n");
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.authorization === `Bearer ${CAP}`)).toBe(true);
    const config = readFileSync(path.join(dirs.work, ".git", "config"), "utf8");
    expect(config).not.toContain("egress");
    expect(config).not.toMatch(/extraheader/i);
    for (const { file, text } of allFiles(dirs.root)) expect(text, file).not.toContain(CAP);
    expect(lines.join("\n")).not.toContain(egressUrl);
  });

  it("fails with the user's URL in the error, never the egress's or the token, when the egress refuses", async () => {
    const dirs = await newDirs();
    const r = await cloneRepo(
      "https://github.com/acme/app",
      undefined,
      dirs,
      new AbortController().signal,
      () => {},
      { gitEgress: { url: egressUrl, token: `${CAP.slice(0, -4)}ffff` } },
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toContain("https://github.com/acme/app");
    expect(r.error.message).not.toContain(egressUrl);
    expect(r.error.message).not.toContain(CAP.slice(0, -4));
  });
});
