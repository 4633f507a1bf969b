import type { Provider } from "./key-store.ts";
import type { KeysCreditsEnv } from "./keys-credits-env.ts";

const DEFAULT_UPSTREAM: Record<Provider, string> = {
  anthropic: "https://api.anthropic.com",
  openai: "https://api.openai.com/v1",
};

// RFC 9110 hop-by-hop headers, the ones that carry a credential in, and what names the edge's own host.
const DROP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "x-api-key",
  "authorization",
  "cookie",
]);

/** Base URL of a provider's API for this deployment (the `*_UPSTREAM` var or the public API). */
export function upstreamBase(env: KeysCreditsEnv, provider: Provider): string {
  const configured = provider === "anthropic" ? env.ANTHROPIC_UPSTREAM : env.OPENAI_UPSTREAM;
  return (configured?.trim() || DEFAULT_UPSTREAM[provider]).replace(/\/+$/, "");
}

/** Replaces every occurrence of `secret` in `text`: messages that reach a caller never carry a key. */
export const redact = (text: string, secret: string): string =>
  secret.length >= 8 ? text.split(secret).join("[redacted]") : text;

/**
 * Sends one request to a provider's API with the real key in the provider's own header (Anthropic:
 * `x-api-key`, OpenAI: `Authorization: Bearer`), dropping whatever credential the caller presented.
 * The request and response bodies stream through unbuffered (SSE included). A network failure is
 * answered in the provider's error shape with the key redacted from the message.
 *
 * @example
 * const res = await callProvider(env, "anthropic", key, "/v1/models", new Request("http://x/", { method: "GET" }));
 */
export async function callProvider(
  env: KeysCreditsEnv,
  provider: Provider,
  key: string,
  pathAndQuery: string,
  request: Request,
): Promise<Response> {
  const target = `${upstreamBase(env, provider)}${pathAndQuery.startsWith("/") ? "" : "/"}${pathAndQuery}`;
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    if (!DROP.has(name) && !name.startsWith("cf-") && !name.startsWith("x-openagents-"))
      headers.set(name, value);
  }
  if (provider === "anthropic") headers.set("x-api-key", key);
  else headers.set("authorization", `Bearer ${key}`);
  let res: Response;
  try {
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    res = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? request.body : null,
      signal: request.signal,
    });
  } catch (e) {
    return providerError(
      provider,
      502,
      `the egress could not reach ${new URL(target).origin}: ${redact((e as Error).message, key)}`,
    );
  }
  const out = new Headers();
  for (const [name, value] of res.headers) if (!DROP.has(name) && name !== "set-cookie") out.set(name, value);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
}

/**
 * An error in the provider's own shape, so an agent prints a readable message instead of retrying
 * forever on an unfamiliar body.
 */
export function providerError(provider: Provider, status: number, message: string): Response {
  const type =
    status === 401
      ? "authentication_error"
      : status === 402
        ? "billing_error"
        : status === 403
          ? "permission_error"
          : "api_error";
  const body =
    provider === "anthropic"
      ? { type: "error", error: { type, message } }
      : { error: { message, type, code: status === 401 ? "invalid_api_key" : type } };
  return Response.json(body, { status });
}

/**
 * Checks a key with the cheapest authenticated call a provider has (`GET /v1/models`, no tokens
 * spent). `ok` is true on a 2xx; otherwise the provider's status and message (redacted).
 *
 * @example
 * const r = await testProviderKey(env, "anthropic", key); // { ok: true, status: 200 }
 */
export async function testProviderKey(
  env: KeysCreditsEnv,
  provider: Provider,
  key: string,
): Promise<{ ok: boolean; status: number; message: string }> {
  const path = provider === "anthropic" ? "/v1/models?limit=1" : "/models?limit=1";
  const headers: Record<string, string> =
    provider === "anthropic" ? { "anthropic-version": "2023-06-01" } : {};
  const res = await callProvider(env, provider, key, path, new Request("http://egress/", { headers }));
  const text = await res.text().catch(() => "");
  if (res.ok) return { ok: true, status: res.status, message: "the provider accepted the key" };
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // Not JSON: keep the status line.
  }
  return { ok: false, status: res.status, message: redact(message, key).slice(0, 300) };
}
