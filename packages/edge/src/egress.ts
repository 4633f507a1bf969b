import { ErrorCode } from "@openagents/protocol";
import { Hono } from "hono";
import type { AppEnv } from "./app-env.ts";
import { pricesFor } from "./billing.ts";
import { randomToken, sha256Hex } from "./crypto.ts";
import { ensureSchema } from "./db/schema.ts";
import type { Env } from "./env.ts";
import { hasKey, PROVIDERS, type Provider, useKey } from "./key-store.ts";
import { KeyVault } from "./key-vault.ts";
import { isMetered, Ledger } from "./ledger.ts";
import { callProvider, providerError } from "./provider-call.ts";

/** Storage key (ContainerDO) of the current container run's egress grant. */
const GRANT = "egressGrant";

interface EgressGrant {
  /** SHA-256 of the capability token: the token itself lives only in the container's env. */
  hash: string;
  userId: string;
}

const b64url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

/**
 * The user a capability token claims (`oa-eg.<base64url user id>.<random>`); the claim is only a
 * routing hint — the user's ContainerDO checks the whole token against the grant it issued.
 */
export function egressUserOf(token: string): string | null {
  const m = /^oa-eg\.([A-Za-z0-9_-]{1,200})\.[0-9a-f]{64}$/.exec(token);
  if (!m) return null;
  try {
    return new TextDecoder().decode(
      Uint8Array.from(atob(m[1]!.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0)),
    );
  } catch {
    return null;
  }
}

/**
 * Issues a new egress grant for a container run and returns the variables its runner needs: a
 * capability token, the git egress for GitHub fetches, and `ANTHROPIC_BASE_URL`/`OPENAI_BASE_URL`
 * pointing at this edge's `/egress/<vendor>` with the token as the "API key". The runner's own per-task key proxy then forwards the agent's
 * calls here; the real key is added only by `serveEgress`, outside the container. Without
 * `EGRESS_URL` nothing is issued (the local container host's key proxy, if any, is the egress).
 *
 * @example
 * const env = { RUNNER_TOKEN, ...(await openEgress(ctx.storage, this.env, userId)) };
 */
export async function openEgress(
  storage: DurableObjectStorage,
  env: Env,
  userId: string,
): Promise<Record<string, string>> {
  const base = env.EGRESS_URL?.trim().replace(/\/+$/, "");
  if (!base || !userId) return {};
  // Only vendors that something here can pay for go through the edge: otherwise the container keeps
  // the local host's own egress (a key in the environment of `openagents up`). A key stored after
  // the container started is used from its next start.
  const vendors: Provider[] = [];
  for (const vendor of PROVIDERS) {
    const platformKey = vendor === "anthropic" ? env.PLATFORM_ANTHROPIC_KEY : env.PLATFORM_OPENAI_KEY;
    if (platformKey || (await hasKey(env.DB, userId, vendor))) vendors.push(vendor);
  }
  const token = `oa-eg.${b64url(userId)}.${randomToken()}`;
  storage.kv.put<EgressGrant>(GRANT, { hash: await sha256Hex(token), userId });
  // GitHub fetches always go through the edge, which adds the user's GitHub token (git-egress.ts).
  const vars: Record<string, string> = {
    OPENAGENTS_GIT_EGRESS_URL: `${base}/egress/git`,
    OPENAGENTS_EGRESS_TOKEN: token,
  };
  if (vendors.includes("anthropic")) {
    vars.ANTHROPIC_BASE_URL = `${base}/egress/anthropic`;
    vars.ANTHROPIC_API_KEY = token;
  }
  if (vendors.includes("openai")) {
    vars.OPENAI_BASE_URL = `${base}/egress/openai`;
    vars.OPENAI_API_KEY = token;
  }
  return vars;
}

/** The grant `token` belongs to, when it is the current container run's; else null. */
export async function egressGrantOf(
  storage: DurableObjectStorage,
  token: string,
): Promise<{ userId: string } | null> {
  const grant = storage.kv.get<EgressGrant>(GRANT);
  return grant && grant.hash === (await sha256Hex(token)) ? { userId: grant.userId } : null;
}

/** Revokes the current grant: the container run ended, so its token opens nothing any more. */
export function closeEgress(storage: DurableObjectStorage): void {
  storage.kv.delete(GRANT);
}

/**
 * One model call through the egress, inside the user's ContainerDO (the object that makes the
 * outbound call, so the only place the key is decrypted). The token must match the grant of the
 * container's current run, and the user must have a task queued or running — the door is closed
 * between tasks. The user's own stored key for the vendor pays; otherwise the platform's key
 * (`PLATFORM_*_KEY`), billed to the user's credits through the task's usage events, and refused
 * up front when a metered user has nothing left to spend.
 */
export async function serveEgress(
  storage: DurableObjectStorage,
  env: Env,
  vendor: Provider,
  token: string,
  pathAndQuery: string,
  request: Request,
): Promise<Response> {
  const grant = await egressGrantOf(storage, token);
  if (!grant) {
    return providerError(
      vendor,
      401,
      "egress token is not valid: the container run it was issued to has ended",
    );
  }
  const active = await env.DB.prepare(
    "SELECT 1 AS one FROM tasks WHERE owner = ? AND status IN ('queued', 'provisioning', 'running') LIMIT 1",
  )
    .bind(grant.userId)
    .first();
  if (!active) return providerError(vendor, 401, "the egress is closed: no task of this user is running");

  const vault = KeyVault.fromEnv(env);
  if (vault.ok) {
    const own = await useKey(env.DB, vault.value, grant.userId, { provider: vendor });
    if (own.ok) return callProvider(env, vendor, own.value.key, pathAndQuery, request);
    if (own.error.code !== ErrorCode.NotFound) {
      console.error(`egress: user ${grant.userId}: ${own.error.message}`);
      return providerError(vendor, 401, "the stored API key could not be used; add it again in Settings");
    }
  }
  const platformKey = vendor === "anthropic" ? env.PLATFORM_ANTHROPIC_KEY : env.PLATFORM_OPENAI_KEY;
  if (!platformKey) {
    return providerError(
      vendor,
      401,
      `no ${vendor} API key: add one in Settings (this server has no platform key)`,
    );
  }
  const ledger = new Ledger(env.DB);
  if (isMetered(env, await ledger.account(grant.userId))) {
    const { spendable } = await ledger.standing(grant.userId, { metered: true });
    // Refuse when not even a minimal call could be paid for.
    if (spendable <= pricesFor(env).containerSecond) {
      return providerError(
        vendor,
        402,
        "out of credits (or over budget): buy credits or add your own API key",
      );
    }
  }
  return callProvider(env, vendor, platformKey, pathAndQuery, request);
}

/**
 * `/egress/<vendor>/<path>`: where containers' model traffic leaves the platform. Authenticated by
 * the capability token in the vendor's own header (`x-api-key` or `Authorization: Bearer`), routed
 * to the token's user's ContainerDO, which checks it and adds the key.
 */
export const egressRoutes = new Hono<AppEnv>();

egressRoutes.all("/:vendor/*", async (c) => {
  const vendor = c.req.param("vendor");
  if (!(PROVIDERS as readonly string[]).includes(vendor)) {
    return providerError("anthropic", 404, `no egress for vendor "${vendor}"`);
  }
  const presented =
    c.req.header("x-api-key") ?? /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  const userId = egressUserOf(presented);
  if (!userId) return providerError(vendor as Provider, 401, "missing or malformed egress token");
  await ensureSchema(c.env.DB);
  const url = new URL(c.req.url);
  const pathAndQuery = url.pathname.slice(`/egress/${vendor}`.length) + url.search;
  const stub = c.env.CONTAINER.get(c.env.CONTAINER.idFromName(userId));
  return stub.egress(vendor as Provider, presented, pathAndQuery, c.req.raw);
});
