import { ErrorCode, type Result } from "@openagents/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import type { Env } from "../env.ts";
import { HttpError } from "../http-error.ts";
import { addKey, deleteKey, isKeyId, listKeys, PROVIDERS, type Provider, useKey } from "../key-store.ts";
import { KeyVault } from "../key-vault.ts";
import { testProviderKey } from "../provider-call.ts";
import { readJson } from "../read-json.ts";

/**
 * Bring-your-own API keys: add, list (masked), delete, test. A key is accepted once and never
 * shown again: answers carry the provider, label, last four characters and dates only. Every route
 * looks the key up by id *and* user, so another user's key is a 404 like a missing one.
 */
export const keyRoutes = new Hono<AppEnv>();

const MAX_KEY_CHARS = 512;
const MAX_LABEL_CHARS = 80;

function vault(env: Env): KeyVault {
  const v = KeyVault.fromEnv(env);
  if (!v.ok) {
    // The operator's mistake, not the caller's: log the reason (no secret in it), answer plainly.
    console.error(`keys: ${v.error.message}`);
    throw new HttpError(
      ErrorCode.Internal,
      "this server cannot store API keys (no PLATFORM_SECRET configured)",
    );
  }
  return v.value;
}

function parseNewKey(body: unknown): { provider: Provider; key: string; label: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(ErrorCode.InvalidRequest, 'body must be an object: {"provider", "key", "label"?}');
  }
  const extra = Object.keys(body).find((k) => k !== "provider" && k !== "key" && k !== "label");
  if (extra !== undefined)
    throw new HttpError(ErrorCode.InvalidRequest, `unknown field "${extra}"`, { path: extra });
  const { provider, key, label } = body as Record<string, unknown>;
  if (typeof provider !== "string" || !(PROVIDERS as readonly string[]).includes(provider)) {
    throw new HttpError(ErrorCode.InvalidRequest, `provider must be one of ${PROVIDERS.join(", ")}`, {
      path: "provider",
    });
  }
  // The messages below never quote the key: they describe it.
  if (typeof key !== "string" || key.length < 8 || key.length > MAX_KEY_CHARS) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      `key must be a string of 8 to ${MAX_KEY_CHARS} characters`,
      {
        path: "key",
      },
    );
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new HttpError(ErrorCode.InvalidRequest, "key must be printable ASCII without spaces", {
      path: "key",
    });
  }
  if (label !== undefined && (typeof label !== "string" || label.length > MAX_LABEL_CHARS)) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      `label must be a string of at most ${MAX_LABEL_CHARS} characters`,
      {
        path: "label",
      },
    );
  }
  return { provider: provider as Provider, key, label: (label as string | undefined)?.trim() || provider };
}

const unwrap = <T>(r: Result<T>): T => {
  if (!r.ok) throw HttpError.from(r.error);
  return r.value;
};

/** A changed key set takes effect in the user's container from its next start (see `openEgress`). */
const recycleContainer = (env: Env, userId: string) =>
  env.CONTAINER.get(env.CONTAINER.idFromName(userId)).recycleIfIdle("API keys changed");

keyRoutes.post("/keys", requireUser, async (c) => {
  const input = parseNewKey(unwrap(await readJson(c.req.raw, 16 * 1024)));
  const masked = await addKey(c.env.DB, vault(c.env), c.var.user.id, input);
  await recycleContainer(c.env, c.var.user.id);
  return c.json(masked, 201, { location: `/api/keys/${masked.id}` });
});

keyRoutes.get("/keys", requireUser, async (c) => c.json({ keys: await listKeys(c.env.DB, c.var.user.id) }));

keyRoutes.delete("/keys/:id", requireUser, async (c) => {
  const id = c.req.param("id");
  if (!isKeyId(id) || !(await deleteKey(c.env.DB, c.var.user.id, id))) {
    throw new HttpError(ErrorCode.NotFound, `no key ${id}`);
  }
  await recycleContainer(c.env, c.var.user.id);
  return c.body(null, 204);
});

keyRoutes.post("/keys/:id/test", requireUser, async (c) => {
  const id = c.req.param("id");
  if (!isKeyId(id)) throw new HttpError(ErrorCode.NotFound, `no key ${id}`);
  const used = await useKey(c.env.DB, vault(c.env), c.var.user.id, { id });
  if (!used.ok) {
    if (used.error.code === ErrorCode.NotFound) throw new HttpError(ErrorCode.NotFound, `no key ${id}`);
    console.error(`keys: key ${id} of user ${c.var.user.id}: ${used.error.message}`);
    throw new HttpError(
      ErrorCode.Internal,
      "the stored key could not be decrypted; delete it and add it again",
    );
  }
  const { record } = used.value;
  const result = await testProviderKey(c.env, record.provider, used.value.key);
  return c.json({ id, provider: record.provider, ...result, lastUsed: record.lastUsed });
});
