/// <reference path="../github-context.d.ts" />
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { makeBareRepo } from "../../../runner/test/git-fixtures.ts";
import { gitHttpBackend } from "../../../runner/test/git-http-backend.ts";

/** The OAuth app the Worker under test is configured with (vitest.config.ts bindings). */
export const GITHUB_TEST_CLIENT_ID = "Iv1.edgetestclient";
export const GITHUB_TEST_CLIENT_SECRET = "gh-test-client-secret-0123456789abcdef";

/**
 * An account of the scripted GitHub; `userStatus` makes `GET /user` fail with that status;
 * `tokenTtl` (seconds) makes its tokens expire like a GitHub App's, with a refresh token.
 */
export interface ScriptedAccount {
  id: number;
  login: string;
  name: string | null;
  userStatus?: number;
  tokenTtl?: number;
}

/** A repository of the scripted GitHub: public, or private and readable by `readers` only. */
export interface ScriptedRepo {
  owner: string;
  name: string;
  private: boolean;
  readers: string[];
  files?: Record<string, string>;
}

/** One git request the scripted GitHub served, with the login its credentials named (or null). */
export interface GitRequest {
  path: string;
  method: string;
  login: string | null;
  authorization: string | null;
}

export interface ScriptedGithub {
  url: string;
  close(): Promise<void>;
}

interface Token {
  login: string;
  expires: number;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = "";
    req.on("data", (d: Buffer) => {
      s += d;
    });
    req.on("end", () => resolve(s));
  });

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/**
 * A scripted GitHub on loopback serving OAuth, the REST API and git, with GitHub's real protocols:
 * - `GET /login/oauth/authorize?client_id&redirect_uri&scope&state&test_login=<login>` stands in for
 *   the user signing in at GitHub as `test_login`: it checks the client id and redirects to
 *   `redirect_uri?code&state` with a fresh single-use code;
 * - `POST /login/oauth/access_token` (form) trades a code (client id, secret, redirect_uri checked) or,
 *   with `grant_type=refresh_token`, a refresh token, for `{access_token, …}`; errors as GitHub does
 *   (HTTP 200 `{error}`);
 * - `GET /user` and `GET /repos/:owner/:name` with `Authorization: Bearer <token>`;
 * - smart-HTTP git (`/:owner/:name.git/info/refs`, `git-upload-pack`) served by real git
 *   (`git http-backend`), private repositories only with HTTP basic auth whose password is a live
 *   token of a reader (401 otherwise, like GitHub).
 * Test controls: `POST /__accounts`, `POST /__repos`, `GET /__tokens` (every token issued, so tests
 * can look for them where they must not be), `GET /__git?repo=owner/name` (the git requests served).
 */
export async function startScriptedGithub(): Promise<ScriptedGithub> {
  const accounts = new Map<string, ScriptedAccount>();
  const codes = new Map<string, { login: string; redirectUri: string }>();
  const tokens = new Map<string, Token>();
  const refreshTokens = new Map<string, string>();
  const repos = new Map<string, ScriptedRepo & { bare: string }>();
  const gitRequests = new Map<string, GitRequest[]>();
  const roots: string[] = [];

  const loginOf = (token: string | undefined): string | null => {
    const t = tokens.get(token ?? "");
    return t && t.expires > Date.now() ? t.login : null;
  };
  const issue = (login: string) => {
    const account = accounts.get(login)!;
    const token = `gho_${randomBytes(18).toString("hex")}`;
    tokens.set(token, { login, expires: Date.now() + (account.tokenTtl ?? 86_400) * 1000 });
    if (!account.tokenTtl) return { access_token: token, token_type: "bearer", scope: "read:user" };
    const refresh = `ghr_${randomBytes(18).toString("hex")}`;
    refreshTokens.set(refresh, login);
    return {
      access_token: token,
      token_type: "bearer",
      scope: "",
      expires_in: account.tokenTtl,
      refresh_token: refresh,
      refresh_token_expires_in: 15_811_200,
    };
  };
  const canRead = (repo: ScriptedRepo, login: string | null) =>
    !repo.private || (login !== null && repo.readers.includes(login));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://github.test");
    const git = /^\/([^/]+)\/([^/]+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(url.pathname);
    if (git) {
      const key = `${git[1]}/${git[2]}`.toLowerCase();
      const repo = repos.get(key);
      const basic = /^Basic (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
      const password = basic
        ? Buffer.from(basic, "base64").toString().split(":").slice(1).join(":")
        : undefined;
      const login = loginOf(password);
      const list = gitRequests.get(key) ?? [];
      list.push({
        path: url.pathname,
        method: req.method ?? "",
        login,
        authorization: req.headers.authorization ?? null,
      });
      gitRequests.set(key, list);
      if (!repo || !canRead(repo, login) || git[3] === "git-receive-pack") {
        if (req.headers.authorization) return send(res, 404, { message: "Repository not found." });
        res.writeHead(401, { "www-authenticate": 'Basic realm="GitHub"' });
        return res.end();
      }
      return gitHttpBackend(req, res, repo.bare, git[3]!);
    }
    const body = await readBody(req);
    if (req.method === "POST" && url.pathname === "/__accounts") {
      const account = JSON.parse(body) as ScriptedAccount;
      accounts.set(account.login, account);
      return send(res, 201, account);
    }
    if (req.method === "POST" && url.pathname === "/__repos") {
      const repo = JSON.parse(body) as ScriptedRepo;
      const { bare } = makeBareRepo(repo.files ?? { "README.md": `# ${repo.name}\n` });
      roots.push(path.dirname(bare));
      repos.set(`${repo.owner}/${repo.name}`.toLowerCase(), { ...repo, bare });
      return send(res, 201, { owner: repo.owner, name: repo.name });
    }
    if (req.method === "GET" && url.pathname === "/__tokens") return send(res, 200, [...tokens.keys()]);
    if (req.method === "GET" && url.pathname === "/__git") {
      return send(res, 200, gitRequests.get((url.searchParams.get("repo") ?? "").toLowerCase()) ?? []);
    }
    if (req.method === "GET" && url.pathname === "/login/oauth/authorize") {
      const q = url.searchParams;
      const login = q.get("test_login") ?? "";
      const redirectUri = q.get("redirect_uri");
      if (q.get("client_id") !== GITHUB_TEST_CLIENT_ID || !redirectUri || !accounts.has(login)) {
        return send(res, 400, { error: "bad authorize request" });
      }
      if (q.get("scope") !== "read:user") return send(res, 400, { error: "unexpected scope" });
      const code = randomBytes(10).toString("hex");
      codes.set(code, { login, redirectUri });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state") ?? "");
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/login/oauth/access_token") {
      const form = new URLSearchParams(body);
      if (
        form.get("client_id") !== GITHUB_TEST_CLIENT_ID ||
        form.get("client_secret") !== GITHUB_TEST_CLIENT_SECRET
      ) {
        return send(res, 401, { error: "incorrect_client_credentials" });
      }
      if (form.get("grant_type") === "refresh_token") {
        const login = refreshTokens.get(form.get("refresh_token") ?? "");
        refreshTokens.delete(form.get("refresh_token") ?? "");
        if (!login)
          return send(res, 200, {
            error: "bad_refresh_token",
            error_description: "The refresh token is invalid.",
          });
        return send(res, 200, issue(login));
      }
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      if (!grant || grant.redirectUri !== form.get("redirect_uri")) {
        return send(res, 200, {
          error: "bad_verification_code",
          error_description: "The code passed is incorrect or expired.",
        });
      }
      return send(res, 200, issue(grant.login));
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (req.method === "GET" && url.pathname === "/user") {
      const account = accounts.get(loginOf(bearer) ?? "");
      if (!account || !req.headers["user-agent"]) return send(res, 401, { message: "Bad credentials" });
      if (account.userStatus) return send(res, account.userStatus, { message: "scripted failure" });
      return send(res, 200, { id: account.id, login: account.login, name: account.name, type: "User" });
    }
    const repoApi = /^\/repos\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && repoApi) {
      if (bearer !== undefined && loginOf(bearer) === null)
        return send(res, 401, { message: "Bad credentials" });
      const repo = repos.get(
        `${decodeURIComponent(repoApi[1]!)}/${decodeURIComponent(repoApi[2]!)}`.toLowerCase(),
      );
      if (!repo || !canRead(repo, loginOf(bearer))) return send(res, 404, { message: "Not Found" });
      return send(res, 200, { full_name: `${repo.owner}/${repo.name}`, private: repo.private });
    }
    send(res, 404, { message: "Not Found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          for (const r of roots) rmSync(r, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/** Global setup of the edge tests: one scripted GitHub for the run, provided as `github`. */
export default async function setup(project: TestProject) {
  const github = await startScriptedGithub();
  project.provide("github", github.url);
  return () => github.close();
}
