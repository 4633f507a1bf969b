import { describe, expect, it } from "vitest";
import migration from "../migrations/0001_init.sql?raw";
import { createApp } from "../src/app.ts";
import { SCHEMA } from "../src/db/schema.ts";
import { api, newUser, watch } from "./worker-helpers.ts";

const expectError = async (res: Response, status: number, code: string) => {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
};

describe("bad input is a 4xx JSON error, never a 500", () => {
  it.each([
    ["malformed JSON", "{", 400, "invalid_request"],
    ["empty body", "", 400, "invalid_request"],
    ["JSON that is not an object", "[1,2]", 400, "invalid_task"],
    ["missing repo", { agent: "shell", script: "true" }, 400, "invalid_task"],
    ["missing agent", { repo: "https://x/y.git", script: "true" }, 400, "invalid_task"],
    ["wrong type of repo", { repo: 42, agent: "shell", script: "true" }, 400, "invalid_task"],
    ["unknown agent", { repo: "https://x/y.git", agent: "gpt", prompt: "hi" }, 400, "invalid_task"],
    ["shell without script", { repo: "https://x/y.git", agent: "shell" }, 400, "invalid_task"],
    [
      "unknown field",
      { repo: "https://x/y.git", agent: "shell", script: "true", cpu: 9 },
      400,
      "invalid_task",
    ],
    [
      "wrong type of timeoutSec",
      { repo: "https://x/y.git", agent: "shell", script: "true", timeoutSec: "1" },
      400,
      "invalid_task",
    ],
    [
      "compute not served here",
      { repo: "https://x/y.git", agent: "shell", script: "true", compute: "market" },
      400,
      "invalid_task",
    ],
  ])("POST /api/task/start with %s", async (_name, body, status, code) => {
    const { token } = await newUser();
    await expectError(await api("/api/task/start", { token, method: "POST", body }), status, code);
  });

  it("names the offending field", async () => {
    const { token } = await newUser();
    const res = await api("/api/task/start", {
      token,
      body: { repo: "https://x/y.git", agent: "shell", script: 5 },
    });
    expect(await expectError(res, 400, "invalid_task")).toMatchObject({ path: "script" });
  });

  it("a body over 1 MiB is 413, whether declared or streamed", async () => {
    const { token } = await newUser();
    const big = JSON.stringify({ repo: "https://x/y.git", agent: "shell", script: "x".repeat(1024 * 1024) });
    await expectError(await api("/api/task/start", { token, body: big }), 413, "payload_too_large");
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(32));
        controller.close();
      },
    });
    const streamed = await createApp().request(
      "/api/task/start",
      {
        method: "POST",
        body: chunks,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (await import("cloudflare:workers")).env,
    );
    await expectError(streamed, 413, "payload_too_large");
  });

  it("a non-JSON content type is 415", async () => {
    const { token } = await newUser();
    const res = await api("/api/task/start", {
      token,
      body: "repo=x",
      headers: { "content-type": "text/plain" },
    });
    await expectError(res, 415, "unsupported_media_type");
  });

  it("bad follow-ups and query parameters are 400", async () => {
    const { token } = await newUser();
    const id = `t_${"0".repeat(24)}`;
    await expectError(await api("/api/tasks?limit=-1", { token }), 400, "invalid_request");
    await expectError(await api("/api/tasks?limit=abc", { token }), 400, "invalid_request");
    await expectError(await api("/api/tasks?before=yesterday", { token }), 400, "invalid_request");
    // A task that does not exist is a 404 before the body is even read.
    await expectError(
      await api(`/api/tasks/${id}/messages`, { token, body: { prompt: 1 } }),
      404,
      "not_found",
    );
    await expectError(await api("/api/tasks/not-an-id", { token }), 404, "not_found");
    await expectError(await api("/api/nothing-here", { token }), 404, "not_found");
  });

  it("a follow-up body must be {prompt: non-empty string}", async () => {
    const { token } = await newUser();
    const res = await api("/api/task/start", {
      token,
      body: { repo: "https://x/y.git", agent: "codex", prompt: "hi" },
    });
    const { id } = (await res.json()) as { id: string };
    await (await watch(id, token)).untilResult();
    for (const body of [{}, { prompt: 3 }, { prompt: "" }, { prompt: "x", extra: 1 }, "[]"]) {
      await expectError(await api(`/api/tasks/${id}/messages`, { token, body }), 400, "invalid_request");
    }
  });
});

describe("authentication", () => {
  it("every /api route but openapi.json and session is 401 without credentials or with a bad token", async () => {
    const id = `t_${"0".repeat(24)}`;
    const routes: Array<[string, string]> = [
      ["POST", "/api/task/start"],
      ["GET", `/api/task/ws/${id}`],
      ["GET", "/api/tasks"],
      ["GET", `/api/tasks/${id}`],
      ["GET", `/api/tasks/${id}/events`],
      ["POST", `/api/tasks/${id}/cancel`],
      ["POST", `/api/tasks/${id}/messages`],
      ["GET", "/api/container"],
      ["POST", "/api/container/stop"],
      ["DELETE", "/api/container"],
      ["GET", "/api/me"],
    ];
    for (const [method, path] of routes) {
      const res = await api(path, { method });
      await expectError(res, 401, "unauthorized");
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      await expectError(await api(path, { method, token: "oa_wrong" }), 401, "unauthorized");
    }
  });

  it("the local user exists with LOCAL_TOKEN", async () => {
    const res = await api("/api/me", { token: "local-test-token-0123456789" });
    expect(await res.json()).toMatchObject({ id: "local", login: "local", via: "token" });
  });

  it("POST /api/session trades a token for an HttpOnly SameSite=Strict cookie that works, same-origin only", async () => {
    const { user, token } = await newUser();
    await expectError(await api("/api/session", { body: { token: "oa_nope" } }), 401, "unauthorized");
    await expectError(await api("/api/session", { body: { tok: token } }), 400, "invalid_request");
    const res = await api("/api/session", { body: { token } });
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^oa_session=s_[0-9a-f]{64};/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const pair = cookie.split(";")[0]!;
    const me = await api("/api/me", { headers: { cookie: pair } });
    expect(await me.json()).toMatchObject({ id: user.id, via: "session" });
    const sameOrigin = await api("/api/me", { headers: { cookie: pair, origin: "http://edge.test" } });
    expect(sameOrigin.status).toBe(200);
    await expectError(
      await api("/api/me", { headers: { cookie: pair, origin: "https://evil.example" } }),
      403,
      "forbidden",
    );
    expect((await api("/api/session", { method: "DELETE", headers: { cookie: pair } })).status).toBe(204);
    await expectError(await api("/api/me", { headers: { cookie: pair } }), 401, "unauthorized");
  });
});

describe("openapi.json and the schema", () => {
  it("is valid JSON listing every /api route of the app", async () => {
    const res = await api("/api/openapi.json");
    expect(res.status).toBe(200);
    const doc = JSON.parse(await res.text()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    const routes = createApp()
      .routes.filter((r) => r.path.startsWith("/api/") && r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    expect(routes.length).toBeGreaterThanOrEqual(14);
    for (const route of routes) {
      const [method, path] = route.split(" ") as [string, string];
      expect(doc.paths[path]?.[method], route).toBeDefined();
    }
  });

  it("the migration and the schema the Worker applies are the same statements", () => {
    const statements = migration
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("--"))
      .map((l) => l.trim());
    expect(statements).toEqual([...SCHEMA]);
  });
});
