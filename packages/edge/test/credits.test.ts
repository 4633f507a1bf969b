import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

const ADMIN = { authorization: `Bearer ${env.LOCAL_TOKEN}` };
const admin = (path: string, body: unknown, method = "POST") => api(path, { method, body, headers: ADMIN });

describe("/api/credits", () => {
  it("a metered user without credits is refused before the task starts (402); after a grant it runs and is billed", async () => {
    const { user, token } = await newUser();
    expect((await admin("/api/admin/credits/account", { user: user.id, metered: true }, "PUT")).status).toBe(
      200,
    );

    const est = (await (
      await api("/api/credits/estimate", { token, body: shellTask("echo hi") })
    ).json()) as {
      estimate: { credits: number };
      allowed: boolean;
      reason: string;
    };
    expect(est.allowed).toBe(false);
    expect(est.estimate.credits).toBeGreaterThan(0);
    const refused = await api("/api/task/start", { token, body: shellTask("echo hi") });
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ error: { code: "insufficient_credits" } });
    expect(await (await api("/api/tasks", { token })).json()).toEqual({ tasks: [] }); // nothing started

    const grant = await admin("/api/admin/credits/grant", {
      user: user.login,
      amount: 1_000_000,
      ref: "welcome",
    });
    expect(grant.status).toBe(201);
    expect(
      (await admin("/api/admin/credits/grant", { user: user.login, amount: 1_000_000, ref: "welcome" }))
        .status,
    ).toBe(200);
    expect(await (await api("/api/credits", { token })).json()).toMatchObject({
      balance: 1_000_000,
      metered: true,
    });

    const id = await startTask(token, shellTask("sleep 1.2; echo billed"));
    await (await watch(id, token)).untilResult();
    // Container seconds are billed at the end of the turn.
    let perTask: { credits: number; entries: Array<{ kind: string }> } = { credits: 0, entries: [] };
    for (let i = 0; i < 50 && perTask.entries.length === 0; i++) {
      perTask = (await (await api(`/api/credits/tasks/${id}`, { token })).json()) as typeof perTask;
      if (perTask.entries.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(perTask.entries.map((e) => e.kind)).toContain("container_seconds");
    expect(perTask.credits).toBeGreaterThan(0);
    const summary = (await (await api("/api/credits/tasks", { token })).json()) as {
      tasks: Array<{ taskId: string }>;
    };
    expect(summary.tasks.map((t) => t.taskId)).toContain(id);
    const { balance } = (await (await api("/api/credits", { token })).json()) as { balance: number };
    expect(balance).toBe(1_000_000 - perTask.credits);
  });

  it("budgets: a task over the daily budget is refused though the balance covers it", async () => {
    const { user, token } = await newUser();
    await admin("/api/admin/credits/account", { user: user.id, metered: true }, "PUT");
    await admin("/api/admin/credits/grant", { user: user.id, amount: 10_000_000 });
    const set = await api("/api/credits/budget", { token, method: "PUT", body: { daily: 10, weekly: null } });
    expect(await set.json()).toEqual({ daily: 10, weekly: null });
    const res = await api("/api/task/start", { token, body: shellTask("echo no") });
    expect(res.status).toBe(402);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("budget");
    expect((await api("/api/credits/budget", { token, method: "PUT", body: { daily: -1 } })).status).toBe(
      400,
    );
  });

  it("cross-user task ids are 404; admin routes need the admin token; unmetered users are never refused", async () => {
    const a = await newUser();
    const b = await newUser();
    const id = await startTask(a.token, shellTask("echo a")); // unmetered (local stack default)
    await (await watch(id, a.token)).untilResult();
    expect((await api(`/api/credits/tasks/${id}`, { token: b.token })).status).toBe(404);
    expect((await api("/api/credits/tasks/t_000000000000000000000000", { token: a.token })).status).toBe(404);
    expect(
      (await api("/api/admin/credits/grant", { token: a.token, body: { user: a.user.id, amount: 5 } }))
        .status,
    ).toBe(401);
    expect((await admin("/api/admin/credits/grant", { user: "nobody-here", amount: 5 })).status).toBe(404);
    expect((await admin("/api/admin/credits/grant", { user: a.user.id, amount: -5 })).status).toBe(400);
    expect(await (await api("/api/credits/entries", { token: b.token })).json()).toEqual({ entries: [] });
  });
});
