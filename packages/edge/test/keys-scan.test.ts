import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openEgress } from "../src/egress.ts";
import { api, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

const ADMIN = { authorization: `Bearer ${env.LOCAL_TOKEN}` };

/** Every row of every table of a SQLite database (D1 or a Durable Object's), as JSON text. */
function dumpSql(exec: (sql: string) => Array<Record<string, unknown>>): string {
  const tables = exec("SELECT name FROM sqlite_master WHERE type = 'table'")
    .map((r) => String(r.name))
    .filter((n) => !n.startsWith("sqlite_") && !n.startsWith("_cf_"));
  return JSON.stringify(tables.map((t) => [t, exec(`SELECT * FROM "${t}"`)]));
}

async function dumpObject(stub: DurableObjectStub): Promise<string> {
  return runInDurableObject(stub, (_i, state) => {
    const kv = JSON.stringify([...state.storage.kv.list()]);
    return kv + dumpSql((sql) => [...state.storage.sql.exec(sql)] as Array<Record<string, unknown>>);
  });
}

describe("no key ever leaks", () => {
  it("the raw key appears in nothing the system writes or answers during a full task", async () => {
    const { user, token } = await newUser();
    await api("/api/admin/credits/account", {
      method: "PUT",
      headers: ADMIN,
      body: { user: user.id, metered: true },
    });
    await api("/api/admin/credits/grant", { headers: ADMIN, body: { user: user.id, amount: 5_000_000 } });
    const key = `sk-ant-good-${crypto.randomUUID().replaceAll("-", "")}`;
    const answers: string[] = [];
    const keep = async (res: Response) => {
      const text = await res.text();
      answers.push(text);
      return text;
    };
    const rec = JSON.parse(
      await keep(await api("/api/keys", { token, body: { provider: "anthropic", key, label: "scan" } })),
    ) as {
      id: string;
    };
    await keep(await api(`/api/keys/${rec.id}/test`, { token, method: "POST" }));

    // The sandboxed process prints its whole environment into the task's events.
    const id = await startTask(token, shellTask('env; echo "key=$ANTHROPIC_API_KEY"; sleep 2; echo end'));
    const w = await watch(id, token);
    await w.until((e) => e.type === "status" && e.phase === "running");
    const cap = (
      await runInDurableObject(env.CONTAINER.get(env.CONTAINER.idFromName(user.id)), (_i, state) =>
        openEgress(state.storage, { ...env, EGRESS_URL: "http://edge.test" }, user.id),
      )
    ).ANTHROPIC_API_KEY!;
    await keep(
      await SELF.fetch("http://edge.test/egress/anthropic/v1/messages", {
        method: "POST",
        headers: { "x-api-key": cap, "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-scripted-1", max_tokens: 5, stream: true, messages: [] }),
      }),
    );
    // A failing call too: its error must not carry the key either.
    await keep(
      await SELF.fetch("http://edge.test/egress/anthropic/v1/nothing", {
        method: "POST",
        headers: { "x-api-key": cap },
      }),
    );
    const events = await w.untilResult();
    answers.push(JSON.stringify(events));
    expect(events.some((e) => e.type === "log" && e.text.includes("end"))).toBe(true);

    for (const path of [
      "/api/keys",
      "/api/tasks",
      `/api/tasks/${id}`,
      `/api/tasks/${id}/events`,
      "/api/credits",
      "/api/credits/entries",
      "/api/credits/tasks",
      `/api/credits/tasks/${id}`,
      "/api/container",
      "/api/me",
    ]) {
      await keep(await api(path, { token }));
    }

    const tables = (
      await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all<{ name: string }>()
    ).results
      .map((r) => r.name)
      .filter((n) => !n.startsWith("sqlite_") && !n.startsWith("_cf_") && n !== "d1_migrations");
    const d1Rows: string[] = [];
    for (const t of tables)
      d1Rows.push(JSON.stringify((await env.DB.prepare(`SELECT * FROM "${t}"`).all()).results));
    const taskStore = await dumpObject(env.TASK.get(env.TASK.idFromName(id)));
    const containerStore = await dumpObject(env.CONTAINER.get(env.CONTAINER.idFromName(user.id)));

    const everything = [...answers, ...d1Rows, taskStore, containerStore].join("\n");
    // The scan looked at the right places: the key's row, the task's log and the ledger are in it.
    expect(everything).toContain(`"last4":"${key.slice(-4)}"`);
    expect(everything).toContain("v1.t1.");
    expect(taskStore).toContain("key=");
    expect(d1Rows.join()).toContain("container_seconds");
    // …and the key itself is nowhere, nor its distinctive middle part.
    expect(everything.includes(key)).toBe(false);
    expect(everything.includes(key.slice(12, 40))).toBe(false);
  });
});
