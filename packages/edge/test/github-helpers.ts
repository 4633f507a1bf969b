/// <reference path="./github-context.d.ts" />
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";

// Sign-in with GitHub as a browser does it, against the scripted GitHub (support/scripted-github.ts).

export const github = () => inject("github");
export const rand = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
let nextId = 1_000_000 + Math.floor(Math.random() * 1_000_000);

/** Adds an account to the scripted GitHub. */
export async function account(
  opts: { login?: string; name?: string | null; userStatus?: number; id?: number; tokenTtl?: number } = {},
) {
  const a = {
    id: opts.id ?? nextId++,
    login: opts.login ?? `gh-${rand()}`,
    name: opts.name === undefined ? "Mona Lisa" : opts.name,
    userStatus: opts.userStatus,
    tokenTtl: opts.tokenTtl,
  };
  const res = await fetch(`${github()}/__accounts`, { method: "POST", body: JSON.stringify(a) });
  expect(res.status).toBe(201);
  return a;
}

export const edge = (path: string, headers: Record<string, string> = {}) =>
  SELF.fetch(path.startsWith("http") ? path : `http://edge.test${path}`, { headers, redirect: "manual" });

export const cookiePair = (res: Response, name: string): string | null => {
  for (const c of res.headers.getSetCookie()) {
    if (c.startsWith(`${name}=`) && !c.startsWith(`${name}=;`)) return c.split(";")[0]!;
  }
  return null;
};

/** `GET /api/auth/github/login`: the authorize URL and the state cookie. */
export async function startLogin() {
  const res = await edge("/api/auth/github/login");
  expect(res.status, await res.clone().text()).toBe(302);
  const location = new URL(res.headers.get("location")!);
  const stateCookie = res.headers.getSetCookie().find((c) => c.startsWith("oa_oauth_state="))!;
  return {
    res,
    location,
    stateCookie,
    pair: stateCookie.split(";")[0]!,
    state: location.searchParams.get("state")!,
  };
}

/** The user signs in at the scripted GitHub as `login`; returns GitHub's redirect back to the callback. */
export async function atGithub(authorize: URL, login: string): Promise<string> {
  const url = new URL(authorize);
  url.searchParams.set("test_login", login);
  const res = await fetch(url, { redirect: "manual" });
  expect(res.status, await res.clone().text()).toBe(302);
  return res.headers.get("location")!;
}

/** The whole round trip as a browser does it; returns the callback's response. */
export async function signIn(login: string) {
  const start = await startLogin();
  const back = await atGithub(start.location, login);
  return edge(back, { cookie: start.pair });
}

/** Every string in every row of every table of D1. */
export async function dumpD1(): Promise<string> {
  const tables = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
  ).all<{ name: string }>();
  let out = "";
  for (const { name } of tables.results) {
    const rows = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    out += `${name}:${JSON.stringify(rows.results)}\n`;
  }
  return out;
}

export const issuedTokens = async () => (await (await fetch(`${github()}/__tokens`)).json()) as string[];
