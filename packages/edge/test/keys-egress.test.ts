import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openEgress } from "../src/egress.ts";
import { api, newUser, shellTask, startTask, watch } from "./worker-helpers.ts";

const rand = () => crypto.randomUUID().replaceAll("-", "");
const box = (userId: string) => env.CONTAINER.get(env.CONTAINER.idFromName(userId));
const ADMIN = { authorization: `Bearer ${env.LOCAL_TOKEN}` };

/** Issues a fresh egress grant in the user's ContainerDO, as a container start does, and returns its env. */
const grant = (userId: string) =>
  runInDurableObject(box(userId), (_instance, state) =>
    openEgress(state.storage, { ...env, EGRESS_URL: "http://edge.test" }, userId),
  );

/** A model call through the edge egress, as the runner inside a container makes it. */
async function egressFetch(token: string, tag: string, vendor = "anthropic", path = "/v1/messages") {
  const { SELF } = await import("cloudflare:test");
  return SELF.fetch(`http://edge.test/egress/${vendor}${path}`, {
    method: "POST",
    headers: {
      "x-api-key": token,
      "x-test-tag": tag,
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
    },
    body: JSON.stringify({
      model: "claude-scripted-1",
      max_tokens: 5,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    }),
  });
}

async function upstreamSaw(tag: string): Promise<Array<{ apiKey: string | null; url: string }>> {
  return (await (await fetch(`${env.ANTHROPIC_UPSTREAM}/__requests?tag=${tag}`)).json()) as Array<{
    apiKey: string | null;
    url: string;
  }>;
}

describe("egress: the key is added outside the container, only while a task runs", () => {
  it("a stored key pays; the token works only during the user's task and only for its container run", async () => {
    const { user, token } = await newUser();
    const key = `sk-ant-good-${rand()}`;
    expect((await api("/api/keys", { token, body: { provider: "anthropic", key } })).status).toBe(201);

    const id = await startTask(token, shellTask("sleep 4; echo done"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "status" && e.phase === "running");
    const vars = await grant(user.id);
    expect(vars.ANTHROPIC_BASE_URL).toBe("http://edge.test/egress/anthropic");
    expect(vars.ANTHROPIC_API_KEY).toMatch(/^oa-eg\./);
    expect(JSON.stringify(vars)).not.toContain(key);
    const cap = vars.ANTHROPIC_API_KEY!;

    const tag = rand();
    const started = Date.now();
    const res = await egressFetch(cap, tag);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    // Streamed: the first chunk arrives before the scripted API has sent its last one (3 × 50 ms).
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain("message_stop");
    expect(firstAt).toBeLessThan(Date.now() - started);
    expect(await upstreamSaw(tag)).toEqual([expect.objectContaining({ url: "/v1/messages", apiKey: key })]);

    // Not a capability: a guessed or another user's token.
    expect((await egressFetch(`${cap.slice(0, -4)}0000`, rand())).status).toBe(401);
    expect((await egressFetch("sk-ant-good-anything", rand())).status).toBe(401);
    const other = await newUser();
    const forged = `oa-eg.${btoa(other.user.id).replace(/=+$/, "")}.${cap.slice(-64)}`;
    expect((await egressFetch(forged, rand())).status).toBe(401);
    // No OpenAI key stored and no platform OpenAI key: refused in OpenAI's shape.
    const o = await egressFetch(cap, rand(), "openai", "/responses");
    expect(o.status).toBe(401);
    expect(await o.json()).toMatchObject({
      error: { message: expect.stringContaining("no openai API key") },
    });

    await w.untilResult();
    // The task ended: the door is closed although the container still runs.
    const closed = await egressFetch(cap, rand());
    expect(closed.status).toBe(401);
    expect(await closed.text()).toContain("no task of this user is running");
    // Stopping the container revokes the grant for good.
    await api("/api/container/stop", { token, method: "POST" });
    const id2 = await startTask(token, shellTask("sleep 2"));
    const w2 = await watch(id2, token);
    await w2.until((e) => e.type === "status" && e.phase === "running");
    expect((await egressFetch(cap, rand())).status).toBe(401);
    await w2.untilResult();
  });

  it("without a stored key the platform key pays; a metered user with no credits is refused (402)", async () => {
    const { user, token } = await newUser();
    const id = await startTask(token, shellTask("sleep 3"));
    const w = await watch(id, token);
    await w.until((e) => e.type === "status" && e.phase === "running");
    const cap = (await grant(user.id)).ANTHROPIC_API_KEY!;
    const tag = rand();
    expect((await egressFetch(cap, tag)).status).toBe(200);
    expect((await upstreamSaw(tag))[0]?.apiKey).toBe(env.PLATFORM_ANTHROPIC_KEY);

    await api("/api/admin/credits/account", {
      method: "PUT",
      headers: ADMIN,
      body: { user: user.id, metered: true },
    });
    const refused = await egressFetch(cap, rand());
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ type: "error", error: { type: "billing_error" } });
    await w.untilResult();
  });
});
