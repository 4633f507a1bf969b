import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { RunEvent } from "@openagents/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GITHUB_TEST_CLIENT_ID,
  GITHUB_TEST_CLIENT_SECRET,
  type ScriptedGithub,
  startScriptedGithub,
} from "../../edge/test/support/scripted-github.ts";
import { type LocalStack, startLocalStack } from "../../web/test/local-stack.ts";

// `openagents up` configured with a GitHub app (the scripted GitHub on loopback, real git behind it):
// a user signs in with GitHub and runs a task on a private repository. The container's runner fetches
// it through the edge's git egress, which adds the user's GitHub token; nothing of it is written
// anywhere the agent or the stack's storage could show it.

let github: ScriptedGithub;
let stack: LocalStack;

beforeAll(async () => {
  github = await startScriptedGithub();
  stack = await startLocalStack({
    token: "up-github-test-token-0123456789",
    env: {
      GITHUB_CLIENT_ID: GITHUB_TEST_CLIENT_ID,
      GITHUB_CLIENT_SECRET: GITHUB_TEST_CLIENT_SECRET,
      GITHUB_OAUTH_URL: github.url,
      GITHUB_API_URL: github.url,
      GITHUB_GIT_URL: github.url,
    },
  });
}, 180_000);

afterAll(async () => {
  if (stack) expect(await stack.stop()).toEqual([]);
  await github?.close();
});

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", body: JSON.stringify(body) }).then((r) => expect(r.status).toBe(201));

/** The browser's sign-in round trip; returns the session cookie. */
async function signInWithGithub(login: string): Promise<string> {
  const info = (await (await fetch(`${stack.url}/api/auth/github`)).json()) as { configured: boolean };
  expect(info.configured).toBe(true);
  const login1 = await fetch(`${stack.url}/api/auth/github/login`, { redirect: "manual" });
  expect(login1.status).toBe(302);
  const state = login1.headers
    .getSetCookie()
    .find((c) => c.startsWith("oa_oauth_state="))!
    .split(";")[0]!;
  const authorize = new URL(login1.headers.get("location")!);
  authorize.searchParams.set("test_login", login);
  const atGithub = await fetch(authorize, { redirect: "manual" });
  expect(atGithub.status).toBe(302);
  const callback = await fetch(atGithub.headers.get("location")!, {
    headers: { cookie: state },
    redirect: "manual",
  });
  expect(callback.status, await callback.clone().text()).toBe(302);
  return callback.headers
    .getSetCookie()
    .find((c) => c.startsWith("oa_session="))!
    .split(";")[0]!;
}

async function call(cookie: string, method: string, pathname: string, body?: unknown) {
  const res = await fetch(`${stack.url}${pathname}`, {
    method,
    headers: { cookie, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json().catch(() => undefined)) as unknown };
}

async function finished(cookie: string, id: string): Promise<RunEvent[]> {
  for (let i = 0; i < 600; i++) {
    const { json } = await call(cookie, "GET", `/api/tasks/${id}/events?after=0&limit=5000`);
    const events = (json as { events: RunEvent[] }).events;
    if (events.at(-1)?.type === "result") return events;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`task ${id} did not finish`);
}

/** Every file below `dir` that contains `needle` (the stack's D1, Durable Objects, workspaces, logs). */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const info = statSync(file, { throwIfNoEntry: false });
    if (!info) continue;
    if (info.isDirectory()) hits.push(...filesContaining(file, needle));
    else if (info.isFile() && readFileSync(file).includes(needle)) hits.push(file);
  }
  return hits;
}

describe("openagents up with sign-in with GitHub", () => {
  it("runs a task on a private repository fetched through the git egress with the user's GitHub token", async () => {
    await post(`${github.url}/__accounts`, { id: 4_200_001, login: "mona", name: "Mona" });
    await post(`${github.url}/__repos`, {
      owner: "acme",
      name: "private-app",
      private: true,
      readers: ["mona"],
      files: { "README.md": "# secret sauce\n" },
    });
    await post(`${github.url}/__repos`, {
      owner: "acme",
      name: "not-yours",
      private: true,
      readers: ["octo"],
    });
    const cookie = await signInWithGithub("mona");

    const refused = await call(cookie, "POST", "/api/task/start", {
      repo: "https://github.com/acme/not-yours",
      agent: "shell",
      script: "true",
    });
    expect(refused.status).toBe(422);
    expect(refused.json).toMatchObject({ error: { code: "repo_not_found" } });

    const started = await call(cookie, "POST", "/api/task/start", {
      repo: "https://github.com/acme/private-app",
      agent: "shell",
      script: "cat README.md; echo '## more' >> README.md; cat .git/config; env | sort; echo done",
    });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    const { id } = started.json as { id: string };
    const events = await finished(cookie, id);
    const result = events.at(-1) as Extract<RunEvent, { type: "result" }>;
    expect(result.ok, JSON.stringify(events.slice(-6))).toBe(true);
    const stdout = events.flatMap((e) => (e.type === "log" && e.stream === "stdout" ? [e.text] : []));
    expect(stdout).toContain("# secret sauce");
    // The workspace's git config names no remote, no header, no token; the sandboxed script's
    // environment holds neither the GitHub token nor the container's capability.
    expect(stdout.join("\n")).not.toMatch(/extraheader|egress|OPENAGENTS_EGRESS_TOKEN|oa-eg\./i);

    expect(result.patch).toContain("+## more");

    // GitHub saw the user's token on every fetch; the user's token is nowhere in clear.
    const seen = (await (await fetch(`${github.url}/__git?repo=acme/private-app`)).json()) as Array<{
      login: string | null;
    }>;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.login === "mona")).toBe(true);
    const tokens = (await (await fetch(`${github.url}/__tokens`)).json()) as string[];
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) {
      expect(JSON.stringify(events)).not.toContain(token);
      expect(filesContaining(stack.stateHome, token)).toEqual([]);
    }
  });
});
