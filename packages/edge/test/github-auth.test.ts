/// <reference path="./github-context.d.ts" />
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import migration from "../migrations/0004_github.sql?raw";
import { createApp } from "../src/app.ts";
import { GITHUB_SCHEMA } from "../src/db/github.ts";
import {
  account,
  atGithub,
  cookiePair,
  dumpD1,
  edge,
  github,
  issuedTokens,
  rand,
  signIn,
  startLogin,
} from "./github-helpers.ts";
import { api, newUser } from "./worker-helpers.ts";

async function expectRefused(res: Response, status: number, code: string, message?: RegExp) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  if (message) expect(body.error.message).toMatch(message);
  expect(cookiePair(res, "oa_session")).toBeNull();
  return { body, text };
}

describe("sign-in with GitHub", () => {
  it("login redirects to GitHub's authorize URL with the app, callback, scope and a cookie-bound state", async () => {
    const { location, stateCookie, state, res } = await startLogin();
    expect(`${location.origin}${location.pathname}`).toBe(`${github()}/login/oauth/authorize`);
    expect(location.searchParams.get("client_id")).toBe(env.GITHUB_CLIENT_ID);
    expect(location.searchParams.get("redirect_uri")).toBe("http://edge.test/api/auth/github/callback");
    expect(location.searchParams.get("scope")).toBe("read:user");
    expect(state).toMatch(/^[0-9a-f]{64}$/);
    expect(stateCookie).toContain(`oa_oauth_state=${state};`);
    expect(stateCookie).toContain("HttpOnly");
    expect(stateCookie).toContain("SameSite=Lax");
    expect(stateCookie).toContain("Path=/api/auth/github");
    expect(stateCookie).toContain("Max-Age=600");
    expect(res.headers.get("cache-control")).toBe("no-store");
    // Only a hash of the state is kept server-side.
    expect(await dumpD1()).not.toContain(state);
  });

  it("a full round trip opens a session for the GitHub user; the state is single use", async () => {
    const gh = await account({ name: "Octo Cat" });
    const start = await startLogin();
    const back = await atGithub(start.location, gh.login);
    const res = await edge(back, { cookie: start.pair });
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toBe("/");
    const session = cookiePair(res, "oa_session");
    expect(session).toMatch(/^oa_session=s_[0-9a-f]{64}$/);
    const sessionCookie = res.headers.getSetCookie().find((c) => c.startsWith("oa_session="))!;
    expect(sessionCookie).toContain("HttpOnly");
    expect(sessionCookie).toContain("SameSite=Strict");
    // The state cookie is cleared.
    expect(res.headers.getSetCookie().some((c) => /^oa_oauth_state=;.*Max-Age=0/.test(c))).toBe(true);

    const me = await api("/api/me", { headers: { cookie: session! } });
    expect(me.status).toBe(200);
    const user = (await me.json()) as { id: string; login: string; name: string; via: string };
    expect(user).toMatchObject({ login: gh.login, name: "Octo Cat", via: "session" });
    const row = await env.DB.prepare("SELECT github_id FROM users WHERE id = ?")
      .bind(user.id)
      .first<{ github_id: number }>();
    expect(row?.github_id).toBe(gh.id);

    // Replaying GitHub's redirect (same code, state and cookie) is refused: the state was spent.
    await expectRefused(
      await edge(back, { cookie: start.pair }),
      400,
      "invalid_request",
      /expired or was already used/,
    );
  });

  it("signing in again with the same GitHub id is the same user, with GitHub's current login and name", async () => {
    const gh = await account();
    const first = cookiePair(await signIn(gh.login), "oa_session")!;
    const a = (await (await api("/api/me", { headers: { cookie: first } })).json()) as { id: string };

    const renamed = await account({ id: gh.id, login: `${gh.login}-new`, name: "New Name" });
    const second = cookiePair(await signIn(renamed.login), "oa_session")!;
    expect(second).not.toBe(first);
    const b = (await (await api("/api/me", { headers: { cookie: second } })).json()) as {
      id: string;
      login: string;
      name: string;
    };
    expect(b).toMatchObject({ id: a.id, login: renamed.login, name: "New Name" });
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE github_id = ?")
      .bind(gh.id)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
    // Both sessions still work.
    expect((await api("/api/me", { headers: { cookie: first } })).status).toBe(200);
  });

  it("a GitHub login already held by another user here gets the GitHub id appended", async () => {
    const { user: other } = await newUser(`taken-${rand()}`);
    const gh = await account({ login: other.login, name: null });
    const session = cookiePair(await signIn(gh.login), "oa_session")!;
    const me = (await (await api("/api/me", { headers: { cookie: session } })).json()) as {
      id: string;
      login: string;
    };
    expect(me.id).not.toBe(other.id);
    expect(me.login).toBe(`${other.login}-${gh.id}`);
  });

  it("refuses a mismatched or missing state, a missing cookie and a missing code, without a session", async () => {
    const gh = await account();
    const start = await startLogin();
    const back = new URL(await atGithub(start.location, gh.login));
    const code = back.searchParams.get("code")!;

    const other = await startLogin();
    await expectRefused(
      await edge(`/api/auth/github/callback?code=${code}&state=${start.state}`, { cookie: other.pair }),
      400,
      "invalid_request",
      /does not match/,
    );
    await expectRefused(
      await edge(`/api/auth/github/callback?code=${code}`, { cookie: start.pair }),
      400,
      "invalid_request",
      /does not match/,
    );
    await expectRefused(
      await edge(`/api/auth/github/callback?code=${code}&state=${start.state}`),
      400,
      "invalid_request",
      /cookie is missing or expired/,
    );
    await expectRefused(
      await edge(`/api/auth/github/callback?state=${start.state}`, { cookie: start.pair }),
      400,
      "invalid_request",
      /no authorization code/,
    );
    // The user declined at GitHub.
    const declined = await startLogin();
    await expectRefused(
      await edge(`/api/auth/github/callback?error=access_denied&state=${declined.state}`, {
        cookie: declined.pair,
      }),
      401,
      "unauthorized",
      /access_denied/,
    );
    const users = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE github_id = ?")
      .bind(gh.id)
      .first<{ n: number }>();
    expect(users?.n).toBe(0);
  });

  it("refuses when GitHub's token endpoint rejects the code or GET /user fails, without a session or user", async () => {
    const start = await startLogin();
    await expectRefused(
      await edge(`/api/auth/github/callback?code=not-a-code&state=${start.state}`, { cookie: start.pair }),
      401,
      "unauthorized",
      /bad_verification_code/,
    );

    const broken = await account({ userStatus: 500 });
    const { text } = await expectRefused(await signIn(broken.login), 401, "unauthorized", /HTTP 500/);
    const tokens = await issuedTokens();
    expect(tokens.length).toBeGreaterThan(0);
    for (const t of tokens) expect(text).not.toContain(t);
    const users = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE github_id = ?")
      .bind(broken.id)
      .first<{ n: number }>();
    expect(users?.n).toBe(0);
  });

  it("the client secret and GitHub access tokens appear in no response and nowhere in D1", async () => {
    const gh = await account();
    const start = await startLogin();
    const back = await atGithub(start.location, gh.login);
    const cb = await edge(back, { cookie: start.pair });
    expect(cb.status).toBe(302);
    const session = cookiePair(cb, "oa_session")!;
    const me = await api("/api/me", { headers: { cookie: session } });
    const secret = env.GITHUB_CLIENT_SECRET!;
    expect(secret.length).toBeGreaterThan(20);
    const tokens = await issuedTokens();
    expect(tokens.length).toBeGreaterThan(0);
    const seen = [start.res, cb, me].map((r) => `${r.status} ${JSON.stringify([...r.headers])}`).join("\n");
    const bodies = `${await start.res.text()}${await cb.text()}${await me.text()}`;
    const d1 = await dumpD1();
    expect(d1).toContain(String(gh.id));
    for (const haystack of [seen, bodies, d1, start.location.toString()]) {
      expect(haystack).not.toContain(secret);
      for (const t of tokens) expect(haystack).not.toContain(t);
    }
  });

  it("answers 404 not_found on both routes when GitHub login is not configured", async () => {
    const app = createApp();
    const bare = { ...env, GITHUB_CLIENT_ID: undefined };
    for (const path of ["/api/auth/github/login", "/api/auth/github/callback?code=x&state=y"]) {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`http://edge.test${path}`), bare, ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("not_found");
      expect(body.error.message).toMatch(/GitHub login is not configured/);
    }
    const ctx = createExecutionContext();
    const noSecret = await app.fetch(
      new Request("http://edge.test/api/auth/github/login"),
      { ...env, GITHUB_CLIENT_SECRET: undefined },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(noSecret.status).toBe(404);
    expect(await noSecret.text()).toMatch(/GITHUB_CLIENT_SECRET/);
  });

  it("the migration and the schema the Worker applies are the same statements", () => {
    const statements = migration
      .split("\n")
      .filter((l: string) => l.trim() !== "" && !l.startsWith("--"))
      .map((l: string) => l.trim());
    expect(statements).toEqual([...GITHUB_SCHEMA]);
  });
});
