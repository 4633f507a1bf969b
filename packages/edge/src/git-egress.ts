import { Hono } from "hono";
import type { AppEnv } from "./app-env.ts";
import { ensureSchema } from "./db/schema.ts";
import { egressGrantOf, egressUserOf } from "./egress.ts";
import type { Env } from "./env.ts";
import { type GithubRepo, githubRepoOf, githubTokenFor, sameRepo } from "./github-access.ts";
import { githubConfig } from "./github-oauth.ts";

/** One git fetch request of a container, as the ContainerDO receives it. */
export interface GitEgressRequest {
  token: string;
  repo: GithubRepo;
  /** `info/refs` or `git-upload-pack`. */
  service: "info/refs" | "git-upload-pack";
  search: string;
  request: Request;
}

const text = (status: number, body: string) =>
  new Response(`${body}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });

// What a git client needs to send and receive over smart HTTP; nothing else crosses (in particular
// not the capability token on the way out, nor GitHub's cookies on the way back).
const REQUEST_HEADERS = ["content-type", "content-encoding", "accept", "accept-encoding", "git-protocol"];
const RESPONSE_HEADERS = ["content-type", "content-encoding", "cache-control", "expires", "pragma"];

/**
 * A git fetch of a GitHub repository through the egress, inside the user's ContainerDO (the object
 * that holds the grant): the capability token must be the container run's, a task of the user on
 * exactly this repository must be queued or running, and only fetches (`git-upload-pack`) pass. The
 * user's GitHub token, decrypted here, is added as HTTP basic auth on the way to GitHub; the
 * container never holds it and the workspace's git config never names it.
 */
export async function serveGitEgress(
  storage: DurableObjectStorage,
  env: Env,
  req: GitEgressRequest,
): Promise<Response> {
  const grant = await egressGrantOf(storage, req.token);
  if (!grant) return text(401, "egress token is not valid: the container run it was issued to has ended");
  const { results } = await env.DB.prepare(
    "SELECT repo FROM tasks WHERE owner = ? AND status IN ('queued', 'provisioning', 'running')",
  )
    .bind(grant.userId)
    .all<{ repo: string }>();
  const forTask = results.some((r) => {
    const repo = githubRepoOf(r.repo);
    return repo !== null && sameRepo(repo, req.repo);
  });
  if (!forTask) {
    return text(403, `no running task of this user is on github.com/${req.repo.owner}/${req.repo.name}`);
  }
  const token = await githubTokenFor(env, grant.userId, req.request.url);
  const config = githubConfig(env, req.request.url);
  const gitUrl = config.ok
    ? config.value.gitUrl
    : (env.GITHUB_GIT_URL || "https://github.com").replace(/\/+$/, "");
  const headers = new Headers({ "user-agent": "git/openagents-egress" });
  for (const name of REQUEST_HEADERS) {
    const value = req.request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  if (token) headers.set("authorization", `Basic ${btoa(`x-access-token:${token}`)}`);
  const target = `${gitUrl}/${req.repo.owner}/${req.repo.name}.git/${req.service}${req.search}`;
  let res: Response;
  try {
    res = await fetch(target, {
      method: req.request.method,
      headers,
      ...(req.request.method === "POST" ? { body: req.request.body } : {}),
      redirect: "manual",
    });
  } catch (e) {
    return text(502, `the egress could not reach ${new URL(gitUrl).host}: ${(e as Error).message}`);
  }
  if (res.status === 401 || res.status === 403 || res.status === 404) {
    await res.body?.cancel();
    // git prints this body; the status makes it say "repository not found" instead of asking for a password.
    return text(
      404,
      token
        ? `Repository not found: github.com/${req.repo.owner}/${req.repo.name} (your GitHub account cannot read it)`
        : `Repository not found: github.com/${req.repo.owner}/${req.repo.name} (private repositories need sign-in with GitHub)`,
    );
  }
  const out = new Headers();
  for (const name of RESPONSE_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) out.set(name, value);
  }
  return new Response(res.body, { status: res.status, headers: out });
}

/**
 * `/egress/git/github.com/<owner>/<repo>.git/(info/refs|git-upload-pack)`: where containers fetch
 * GitHub repositories. Authenticated by the capability token (`Authorization: Bearer`), routed to
 * the token's user's ContainerDO, which checks it and adds the user's GitHub token.
 */
export const gitEgressRoutes = new Hono<AppEnv>();

gitEgressRoutes.all("/github.com/:owner/:repo/*", async (c) => {
  const url = new URL(c.req.url);
  const m =
    /^\/egress\/git\/github\.com\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(
      url.pathname,
    );
  const repo = m ? githubRepoOf(`https://github.com/${m[1]}/${m[2]}`) : null;
  if (!m || !repo) return text(404, "not a git fetch of a GitHub repository");
  const service = m[3]!;
  const isFetch =
    (service === "info/refs" &&
      c.req.method === "GET" &&
      url.searchParams.get("service") === "git-upload-pack") ||
    (service === "git-upload-pack" && c.req.method === "POST");
  if (!isFetch) return text(403, "only fetches go through the egress: pushing is not allowed");
  const presented = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  const userId = egressUserOf(presented);
  if (!userId) return text(401, "missing or malformed egress token");
  await ensureSchema(c.env.DB);
  const stub = c.env.CONTAINER.get(c.env.CONTAINER.idFromName(userId));
  return stub.gitEgress(presented, repo, service as GitEgressRequest["service"], url.search, c.req.raw);
});
