/// <reference path="../github-context.d.ts" />
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

/** The OAuth app the Worker under test is configured with (vitest.config.ts bindings). */
export const GITHUB_TEST_CLIENT_ID = "Iv1.edgetestclient";
export const GITHUB_TEST_CLIENT_SECRET = "gh-test-client-secret-0123456789abcdef";

/** An account of the scripted GitHub; `userStatus` makes `GET /user` fail with that status. */
interface Account {
  id: number;
  login: string;
  name: string | null;
  userStatus?: number;
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
 * Node side of the GitHub sign-in tests: a scripted GitHub on loopback serving both
 * `GITHUB_OAUTH_URL` and `GITHUB_API_URL`, with GitHub's real protocol:
 * - `GET /login/oauth/authorize?client_id&redirect_uri&scope&state&test_login=<login>` stands in for
 *   the user signing in at GitHub as `test_login`: it checks the client id and scope and redirects to
 *   `redirect_uri?code&state` with a fresh single-use code;
 * - `POST /login/oauth/access_token` (form) checks client id, secret, code and redirect_uri and answers
 *   `{access_token}`, or, like GitHub, HTTP 200 `{error:"bad_verification_code"}`;
 * - `GET /user` with `Authorization: Bearer <token>` answers the account.
 * Test controls: `POST /__accounts {id,login,name,userStatus?}` adds an account, `GET /__tokens` lists
 * every access token issued (so tests can look for them where they must not be).
 */
export default async function setup(project: TestProject) {
  const accounts = new Map<string, Account>();
  const codes = new Map<string, { login: string; redirectUri: string }>();
  const tokens = new Map<string, string>();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://github.test");
    const body = await readBody(req);
    if (req.method === "POST" && url.pathname === "/__accounts") {
      const account = JSON.parse(body) as Account;
      accounts.set(account.login, account);
      return send(res, 201, account);
    }
    if (req.method === "GET" && url.pathname === "/__tokens") return send(res, 200, [...tokens.keys()]);
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
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      if (!grant || grant.redirectUri !== form.get("redirect_uri")) {
        return send(res, 200, {
          error: "bad_verification_code",
          error_description: "The code passed is incorrect or expired.",
        });
      }
      const token = `gho_${randomBytes(18).toString("hex")}`;
      tokens.set(token, grant.login);
      return send(res, 200, { access_token: token, token_type: "bearer", scope: "read:user" });
    }
    if (req.method === "GET" && url.pathname === "/user") {
      const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
      const account = accounts.get(tokens.get(match?.[1] ?? "") ?? "");
      if (!account || !req.headers["user-agent"]) return send(res, 401, { message: "Bad credentials" });
      if (account.userStatus) return send(res, account.userStatus, { message: "scripted failure" });
      return send(res, 200, { id: account.id, login: account.login, name: account.name, type: "User" });
    }
    send(res, 404, { message: "Not Found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("github", `http://127.0.0.1:${port}`);
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}
