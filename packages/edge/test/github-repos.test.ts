/// <reference path="./github-context.d.ts" />
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import migration from "../migrations/0005_github_tokens.sql?raw";
import { GITHUB_TOKEN_SCHEMA, loadGithubTokens, rotateGithubTokens } from "../src/db/github-tokens.ts";
import { closeEgress, openEgress } from "../src/egress.ts";
import { KeyVault } from "../src/key-vault.ts";
import { account, cookiePair, dumpD1, github, issuedTokens, rand, signIn } from "./github-helpers.ts";
import { api, newUser } from "./worker-helpers.ts";

const box = (userId: string) => env.CONTAINER.get(env.CONTAINER.idFromName(userId));

/** Signs in at the scripted GitHub as a new account; returns the session cookie and the user. */
async function githubUser(opts: { tokenTtl?: number } = {}) {
  const gh = await account(opts);
  const res = await signIn(gh.login);
  expect(res.status, await res.clone().text()).toBe(302);
  const cookie = cookiePair(res, "oa_session")!;
  const me = (await (await api("/api/me", { headers: { cookie } })).json()) as { id: string; login: string };
  return { gh, cookie, userId: me.id };
}

/** A repository on the scripted GitHub (real git behind it). */
async function repo(opts: { private: boolean; readers?: string[] }) {
  const r = { owner: `acme-${rand()}`, name: "app", private: opts.private, readers: opts.readers ?? [] };
  const res = await fetch(`${github()}/__repos`, { method: "POST", body: JSON.stringify(r) });
  expect(res.status).toBe(201);
  return { ...r, url: `https://github.com/${r.owner}/${r.name}` };
}

/** The git requests the scripted GitHub served for a repository, with the login their token named. */
const gitSeen = async (r: { owner: string; name: string }) =>
  (await (await fetch(`${github()}/__git?repo=${r.owner}/${r.name}`)).json()) as Array<{
    login: string | null;
    authorization: string | null;
  }>;

/** A task of the user on `repoUrl` that the index shows as running (the git egress's gate). */
async function runningTask(userId: string, repoUrl: string) {
  const id = `t_${rand()}${rand()}`.slice(0, 26);
  const now = new Date().toISOString();
  await env.DB.prepare(
    "INSERT INTO tasks (id, owner, status, created, updated, repo, agent, compute, title) VALUES (?, ?, 'running', ?, ?, ?, 'shell', 'cloud', 't')",
  )
    .bind(id, userId, now, now, repoUrl)
    .run();
  return {
    end: () => env.DB.prepare("UPDATE tasks SET status = 'succeeded' WHERE id = ?").bind(id).run(),
  };
}

/** A container run's egress grant, as the ContainerDO issues it at start. */
const grant = (userId: string) =>
  runInDurableObject(box(userId), (_i, state) =>
    openEgress(state.storage, { ...env, EGRESS_URL: "http://edge.test" }, userId),
  );

/** What git sends first on a fetch through the egress (protocol v0: the refs come back). */
const advertise = (capability: string, r: { owner: string; name: string }, service = "git-upload-pack") =>
  SELF.fetch(`http://edge.test/egress/git/github.com/${r.owner}/${r.name}.git/info/refs?service=${service}`, {
    headers: { authorization: `Bearer ${capability}` },
  });

describe("GitHub repositories: the user's token, kept sealed, used only by the git egress", () => {
  it("the D1 schema of stored tokens is the migration's", () => {
    const statements = migration
      .split("\n")
      .filter((l: string) => l.trim() !== "" && !l.startsWith("--"))
      .map((l: string) => l.trim());
    expect(statements).toEqual([...GITHUB_TOKEN_SCHEMA]);
  });

  it("sign-in keeps the token sealed: D1 never holds it in clear, and it opens only for its user", async () => {
    const { userId } = await githubUser();
    const vault = KeyVault.fromEnv(env);
    if (!vault.ok) throw new Error(vault.error.message);
    const stored = await loadGithubTokens(env.DB, vault.value, userId);
    expect(stored?.accessToken).toMatch(/^gho_/);
    expect((await issuedTokens()).includes(stored!.accessToken)).toBe(true);
    expect(await dumpD1()).not.toContain(stored!.accessToken);
    // Expiry: GITHUB_TOKEN_TTL (8 h by default) at most.
    expect(Date.parse(stored!.expires) - Date.now()).toBeLessThanOrEqual(8 * 3_600_000);
    // The ciphertext is bound to its user: moved to another user's row it does not open.
    const other = await newUser();
    await env.DB.prepare(
      "INSERT INTO github_tokens (user_id, ciphertext, kid, expires, scope, updated) SELECT ?, ciphertext, kid, expires, scope, updated FROM github_tokens WHERE user_id = ?",
    )
      .bind(other.user.id, userId)
      .run();
    expect(await loadGithubTokens(env.DB, vault.value, other.user.id)).toBeNull();
    await env.DB.prepare("DELETE FROM github_tokens WHERE user_id = ?").bind(other.user.id).run();
  });

  it("the user sees whether a GitHub token is held (never the token) and can make the platform forget it", async () => {
    const { cookie, userId } = await githubUser();
    const status = await api("/api/auth/github/token", { headers: { cookie } });
    const text = await status.text();
    expect(status.status, text).toBe(200);
    const body = JSON.parse(text) as { connected: boolean; expires: string; renewable: boolean };
    expect(body).toMatchObject({ connected: true, renewable: false, scope: "read:user" });
    for (const token of await issuedTokens()) expect(text).not.toContain(token);
    expect((await api("/api/auth/github/token", { method: "DELETE", headers: { cookie } })).status).toBe(204);
    expect(await (await api("/api/auth/github/token", { headers: { cookie } })).json()).toEqual({
      connected: false,
      expires: null,
      renewable: false,
      scope: null,
    });
    const vault = KeyVault.fromEnv(env);
    if (!vault.ok) throw new Error(vault.error.message);
    expect(await loadGithubTokens(env.DB, vault.value, userId)).toBeNull();
    expect((await api("/api/auth/github/token")).status).toBe(401);
  });

  it("a task on a GitHub repository starts only when the user can read it", async () => {
    const { gh, cookie } = await githubUser();
    const mine = await repo({ private: true, readers: [gh.login] });
    const theirs = await repo({ private: true, readers: ["someone-else"] });
    const start = (repoUrl: string, auth: Record<string, string>) =>
      api("/api/task/start", { headers: auth, body: { repo: repoUrl, agent: "shell", script: "true" } });

    const refused = await start(theirs.url, { cookie });
    expect(refused.status).toBe(422);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("repo_not_found");
    expect(body.error.message).toContain("your GitHub account cannot read it");

    // A user without a GitHub sign-in: public repositories only.
    const { token } = await newUser();
    const anonymous = await start(mine.url, { authorization: `Bearer ${token}` });
    expect(anonymous.status).toBe(422);
    expect(((await anonymous.json()) as { error: { message: string } }).error.message).toContain(
      "sign in with GitHub",
    );
    expect(await (await api("/api/tasks", { token })).json()).toEqual({ tasks: [] });

    const ok = await start(mine.url, { cookie });
    expect(ok.status, await ok.clone().text()).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    // Its container clones from github.com, which this machine cannot reach: stop it here.
    await api(`/api/tasks/${id}/cancel`, { method: "POST", headers: { cookie } });
  });

  it("the egress fetches the task's private repository with the user's token; the container's token opens nothing else", async () => {
    const { gh, userId } = await githubUser();
    const mine = await repo({ private: true, readers: [gh.login] });
    const other = await repo({ private: true, readers: [gh.login] });
    const vars = await grant(userId);
    expect(vars.OPENAGENTS_GIT_EGRESS_URL).toBe("http://edge.test/egress/git");
    const capability = vars.OPENAGENTS_EGRESS_TOKEN!;
    expect(capability).toMatch(/^oa-eg\./);

    // No task on it yet: the door is shut.
    expect((await advertise(capability, mine)).status).toBe(403);
    const task = await runningTask(userId, `${mine.url}.git`);
    const res = await advertise(capability, mine);
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-git-upload-pack-advertisement");
    expect(text).toContain("# service=git-upload-pack");
    expect(text).toContain("refs/heads/main");
    const seen = await gitSeen(mine);
    expect(seen.at(-1)?.login).toBe(gh.login);
    // GitHub sees the user's token, never the container's capability.
    expect(JSON.stringify(seen)).not.toContain(capability);

    // Another repository the user can read, but no task is on it: refused before GitHub.
    expect((await advertise(capability, other)).status).toBe(403);
    expect(await gitSeen(other)).toEqual([]);
    // Pushing is not a fetch.
    expect((await advertise(capability, mine, "git-receive-pack")).status).toBe(403);
    const push = await SELF.fetch(
      `http://edge.test/egress/git/github.com/${mine.owner}/${mine.name}.git/git-receive-pack`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${capability}` },
        body: "0000",
      },
    );
    expect(push.status).toBe(403);
    // A forged or stale capability.
    expect((await advertise(`${capability.slice(0, -4)}0000`, mine)).status).toBe(401);
    expect((await advertise("not-a-token", mine)).status).toBe(401);
    await runInDurableObject(box(userId), (_i, state) => closeEgress(state.storage));
    expect((await advertise(capability, mine)).status).toBe(401);
    await task.end();
  });

  it("a repository the user's GitHub account cannot read answers 'not found', not a password prompt", async () => {
    const { userId } = await githubUser();
    const theirs = await repo({ private: true, readers: ["someone-else"] });
    const vars = await grant(userId);
    const task = await runningTask(userId, theirs.url);
    const res = await advertise(vars.OPENAGENTS_EGRESS_TOKEN!, theirs);
    expect(res.status).toBe(404);
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(await res.text()).toContain("your GitHub account cannot read it");
    await task.end();
  });

  it("an expired GitHub App token is refreshed on use; rotation re-seals stored tokens", async () => {
    const { gh, userId } = await githubUser({ tokenTtl: 1 });
    const vault = KeyVault.fromEnv(env);
    if (!vault.ok) throw new Error(vault.error.message);
    const first = (await loadGithubTokens(env.DB, vault.value, userId))!;
    expect(first.refreshToken).toMatch(/^ghr_/);
    const mine = await repo({ private: true, readers: [gh.login] });
    const vars = await grant(userId);
    const task = await runningTask(userId, mine.url);
    await new Promise((r) => setTimeout(r, 1_200));
    const res = await advertise(vars.OPENAGENTS_EGRESS_TOKEN!, mine);
    expect(res.status, await res.text()).toBe(200);
    const second = (await loadGithubTokens(env.DB, vault.value, userId))!;
    expect(second.accessToken).not.toBe(first.accessToken);
    expect((await gitSeen(mine)).at(-1)?.login).toBe(gh.login);
    await task.end();

    // Rotation: a new platform secret first, the old one kept until every row is re-sealed.
    const rotated = KeyVault.fromEnv({
      PLATFORM_SECRET: `t2:rotated-platform-secret-0123456789abcdef,${env.PLATFORM_SECRET}`,
    });
    if (!rotated.ok) throw new Error(rotated.error.message);
    const r = await rotateGithubTokens(env.DB, rotated.value);
    expect(r.failed).toBe(0);
    expect(r.rotated).toBeGreaterThanOrEqual(1);
    const only = KeyVault.fromEnv({ PLATFORM_SECRET: "t2:rotated-platform-secret-0123456789abcdef" });
    if (!only.ok) throw new Error(only.error.message);
    expect((await loadGithubTokens(env.DB, only.value, userId))?.accessToken).toBe(second.accessToken);
    // Put this deployment's secret back for the other tests' rows.
    const back = KeyVault.fromEnv({
      PLATFORM_SECRET: `${env.PLATFORM_SECRET},t2:rotated-platform-secret-0123456789abcdef`,
    });
    if (!back.ok) throw new Error(back.error.message);
    await rotateGithubTokens(env.DB, back.value);
  });
});
