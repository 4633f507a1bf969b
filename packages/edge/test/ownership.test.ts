import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

describe("ownership: another user's task is a 404 on every route", () => {
  it("user B cannot see, watch, read, cancel or follow up user A's task, nor find it in a list", async () => {
    const a = await newUser();
    const b = await newUser();
    const id = await startTask(a.token, shellTask("echo mine"));
    await (await watch(id, a.token)).untilResult();

    const attempts: Array<[string, string, unknown?]> = [
      ["GET", `/api/tasks/${id}`],
      ["GET", `/api/tasks/${id}/events`],
      ["POST", `/api/tasks/${id}/cancel`],
      ["POST", `/api/tasks/${id}/messages`, { prompt: "hi" }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await api(path, { token: b.token, method, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
    }
    const ws = await SELF.fetch(`http://edge.test/api/task/ws/${id}`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${b.token}` },
    });
    expect(ws.status).toBe(404);
    const listB = (await (await api("/api/tasks", { token: b.token })).json()) as { tasks: unknown[] };
    expect(listB.tasks).toEqual([]);

    // The owner still sees it, unchanged by B's attempts.
    const mine = await api(`/api/tasks/${id}`, { token: a.token });
    expect(await mine.json()).toMatchObject({ id, status: "succeeded" });
    const listA = (await (await api("/api/tasks", { token: a.token })).json()) as {
      tasks: Array<{ id: string }>;
    };
    expect(listA.tasks.map((t) => t.id)).toEqual([id]);
  });

  it("each user gets their own container", async () => {
    const a = await newUser();
    const b = await newUser();
    await (await watch(await startTask(a.token, shellTask("true")), a.token)).untilResult();
    expect(await (await api("/api/container", { token: a.token })).json()).toMatchObject({
      state: "running",
    });
    expect(await (await api("/api/container", { token: b.token })).json()).toMatchObject({ state: "cold" });
  });
});
