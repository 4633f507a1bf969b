import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import migration from "../migrations/0003_keys_credits.sql?raw";
import { addKey, listKeys, rotateAll, useKey } from "../src/key-store.ts";
import { KeyVault, parsePlatformSecrets } from "../src/key-vault.ts";
import { KEYS_CREDITS_SCHEMA } from "../src/keys-credits-schema.ts";
import { api, newUser } from "./worker-helpers.ts";

const rand = () => crypto.randomUUID().replaceAll("-", "");
const goodKey = () => `sk-ant-good-${rand()}`;
const vaultOf = (value: string) => {
  const v = parsePlatformSecrets(value);
  if (!v.ok) throw new Error(v.error.message);
  return new KeyVault(v.value);
};
const SECRET_A = `a:${"A".repeat(40)}`;
const SECRET_B = `b:${"B".repeat(40)}`;

describe("key vault", () => {
  it("round-trips, binds ciphertexts to user and record, and rejects tampering", async () => {
    const vault = vaultOf(SECRET_A);
    const sealed = await vault.seal("sk-ant-secret-value-1234", { userId: "u1", recordId: "r1" });
    expect(sealed).toMatch(/^v1\.a\./);
    expect(sealed).not.toContain("secret-value");
    expect(await vault.open(sealed, { userId: "u1", recordId: "r1" })).toEqual({
      ok: true,
      value: "sk-ant-secret-value-1234",
    });
    // Moved to another user or another record: the AAD (and, for users, the derived key) differs.
    expect((await vault.open(sealed, { userId: "u2", recordId: "r1" })).ok).toBe(false);
    expect((await vault.open(sealed, { userId: "u1", recordId: "r2" })).ok).toBe(false);
    // One flipped bit anywhere in the ciphertext or the IV.
    const parts = sealed.split(".");
    for (const i of [2, 3]) {
      const p = [...parts];
      const s = p[i]!;
      p[i] = (s[0] === "A" ? "B" : "A") + s.slice(1);
      const tampered = await vault.open(p.join("."), { userId: "u1", recordId: "r1" });
      expect(tampered.ok).toBe(false);
      if (!tampered.ok) expect(tampered.error.message).not.toContain("secret-value");
    }
    expect(
      (await vault.open(`${parts.slice(0, 3).join(".")}.AAAA`, { userId: "u1", recordId: "r1" })).ok,
    ).toBe(false);
    // Same plaintext twice: different ciphertexts (fresh IV).
    expect(await vault.seal("x".repeat(20), { userId: "u1", recordId: "r1" })).not.toBe(
      await vault.seal("x".repeat(20), { userId: "u1", recordId: "r1" }),
    );
  });

  it("rejects a bad PLATFORM_SECRET without echoing it", () => {
    for (const bad of [
      "",
      "k:short",
      `bad id!:${"x".repeat(40)}`,
      `a:${"x".repeat(40)},a:${"y".repeat(40)}`,
    ]) {
      const r = parsePlatformSecrets(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).not.toContain("xxxxxxxx");
    }
    expect(parsePlatformSecrets("z".repeat(40))).toMatchObject({ ok: true, value: [{ id: "k0" }] });
  });

  it("rotation: keys sealed with A still decrypt after rotating to B, then without A at all", async () => {
    const { user } = await newUser();
    const a = vaultOf(SECRET_A);
    const keys = [goodKey(), goodKey(), goodKey()];
    const stored = [];
    for (const key of keys)
      stored.push(await addKey(env.DB, a, user.id, { provider: "anthropic", key, label: "l" }));

    const both = vaultOf(`${SECRET_B},${SECRET_A}`);
    expect(await rotateAll(env.DB, both, { userId: user.id })).toEqual({ rotated: 3, failed: 0 });
    const { results } = await env.DB.prepare("SELECT kid FROM provider_keys WHERE user_id = ?")
      .bind(user.id)
      .all<{ kid: string }>();
    expect(results.map((r) => r.kid)).toEqual(["b", "b", "b"]);
    expect((await rotateAll(env.DB, both, { userId: user.id })).rotated).toBe(0); // idempotent

    const onlyB = vaultOf(SECRET_B);
    for (const [i, rec] of stored.entries()) {
      expect(await useKey(env.DB, onlyB, user.id, { id: rec.id })).toMatchObject({
        ok: true,
        value: { key: keys[i] },
      });
    }
    // A vault that lost the secret the rows were made with says so, without the key.
    const onlyA = vaultOf(SECRET_A);
    const lost = await useKey(env.DB, onlyA, user.id, { id: stored[0]!.id });
    expect(lost).toMatchObject({
      ok: false,
      error: { message: expect.stringContaining("platform secret b") },
    });
    // Tampered row in D1 is rejected, not returned.
    await env.DB.prepare(
      "UPDATE provider_keys SET ciphertext = replace(ciphertext, '.b.', '.b.A') WHERE id = ?",
    )
      .bind(stored[1]!.id)
      .run();
    expect((await useKey(env.DB, onlyB, user.id, { id: stored[1]!.id })).ok).toBe(false);
    // Restore this user's rows to the test deployment's own secret so other tests are unaffected.
    await env.DB.prepare("DELETE FROM provider_keys WHERE user_id = ?").bind(user.id).run();
    expect(await listKeys(env.DB, user.id)).toEqual([]);
  });

  it("the migration and the schema the Worker applies are the same statements", () => {
    const statements = migration.split("\n").filter((l: string) => l.trim() !== "" && !l.startsWith("--"));
    expect(statements).toEqual([...KEYS_CREDITS_SCHEMA]);
  });
});

describe("/api/keys", () => {
  it("adds, lists masked, tests against the provider, and deletes; the key is never in an answer", async () => {
    const { token } = await newUser();
    const key = goodKey();
    const added = await api("/api/keys", { token, body: { provider: "anthropic", key, label: "work" } });
    const addedText = await added.text();
    expect(added.status, addedText).toBe(201);
    expect(addedText).not.toContain(key);
    const rec = JSON.parse(addedText) as { id: string; last4: string; provider: string; lastUsed: null };
    expect(rec).toMatchObject({ provider: "anthropic", label: "work", last4: key.slice(-4), lastUsed: null });

    const list = await api("/api/keys", { token });
    const listText = await list.text();
    expect(listText).not.toContain(key);
    expect(JSON.parse(listText)).toEqual({
      keys: [expect.objectContaining({ id: rec.id, last4: key.slice(-4) })],
    });

    const tested = await api(`/api/keys/${rec.id}/test`, { token, method: "POST" });
    const testedText = await tested.text();
    expect(tested.status, testedText).toBe(200);
    expect(testedText).not.toContain(key);
    expect(JSON.parse(testedText)).toMatchObject({ ok: true, status: 200, provider: "anthropic" });
    // The scripted provider got the real key in its own header — from the edge, not from the caller.
    const seen = (await (await fetch(`${env.ANTHROPIC_UPSTREAM}/__requests`)).json()) as Array<{
      url: string;
      apiKey: string | null;
    }>;
    expect(seen.some((r) => r.url.startsWith("/v1/models") && r.apiKey === key)).toBe(true);
    const after = (await (await api("/api/keys", { token })).json()) as {
      keys: Array<{ lastUsed: string | null }>;
    };
    expect(after.keys[0]!.lastUsed).not.toBeNull();

    expect((await api(`/api/keys/${rec.id}`, { token, method: "DELETE" })).status).toBe(204);
    expect(await (await api("/api/keys", { token })).json()).toEqual({ keys: [] });
    expect((await api(`/api/keys/${rec.id}`, { token, method: "DELETE" })).status).toBe(404);
  });

  it("a key the provider refuses tests as ok:false with the provider's reason, key redacted", async () => {
    const { token } = await newUser();
    const key = `sk-ant-bad-${rand()}`;
    const rec = (await (await api("/api/keys", { token, body: { provider: "anthropic", key } })).json()) as {
      id: string;
    };
    const res = await api(`/api/keys/${rec.id}/test`, { token, method: "POST" });
    const text = await res.text();
    expect(text).not.toContain(key);
    expect(JSON.parse(text)).toMatchObject({ ok: false, status: 401, message: "invalid x-api-key" });

    const openai = `sk-good-${rand()}`;
    const o = (await (
      await api("/api/keys", { token, body: { provider: "openai", key: openai } })
    ).json()) as {
      id: string;
    };
    expect(await (await api(`/api/keys/${o.id}/test`, { token, method: "POST" })).json()).toMatchObject({
      ok: true,
    });
  });

  it("another user's key ids are a 404 on every route; bad input is a 400 that does not quote the key", async () => {
    const a = await newUser();
    const b = await newUser();
    const key = goodKey();
    const rec = (await (
      await api("/api/keys", { token: a.token, body: { provider: "anthropic", key } })
    ).json()) as {
      id: string;
    };
    for (const [method, path] of [
      ["DELETE", `/api/keys/${rec.id}`],
      ["POST", `/api/keys/${rec.id}/test`],
      ["DELETE", "/api/keys/pk_nothing"],
      ["POST", "/api/keys/pk_nothing/test"],
    ] as const) {
      const res = await api(path, { token: b.token, method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.text()).not.toContain(key);
    }
    expect(await (await api("/api/keys", { token: b.token })).json()).toEqual({ keys: [] });
    expect((await (await api("/api/keys", { token: a.token })).json()) as { keys: unknown[] }).toMatchObject({
      keys: [{ id: rec.id }],
    });

    const withSpace = `sk-ant ${rand()}`;
    for (const body of [
      { provider: "gemini", key },
      { provider: "anthropic", key: withSpace },
      { provider: "anthropic", key: "short" },
      { provider: "anthropic", key, extra: 1 },
      { provider: "anthropic", key, label: 5 },
    ]) {
      const res = await api("/api/keys", { token: a.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const text = await res.text();
      expect(text).not.toContain(key);
      expect(text).not.toContain(withSpace);
    }
    expect((await api("/api/keys", { token: a.token, body: "not json" })).status).toBe(400);
    expect((await api("/api/keys")).status).toBe(401);
  });
});
