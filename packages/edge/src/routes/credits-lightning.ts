import { ErrorCode, type Result } from "@openagents/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import { HttpError } from "../http-error.ts";
import { CREDITS_PER_USD } from "../ledger.ts";
import { INVOICE_EXPIRY_SEC, LightningCredits, MAX_PURCHASE, MIN_PURCHASE } from "../lightning.ts";
import { readJson } from "../read-json.ts";

/**
 * Buying credits with Lightning (mounted under `/api/credits`): `POST /invoice` makes an invoice in
 * the platform's NWC wallet, `GET /invoice/:id` checks it and credits the user once it is paid.
 */
export const lightningCreditRoutes = new Hono<AppEnv>();

const unwrap = <T>(r: Result<T>): T => {
  if (!r.ok) throw HttpError.from(r.error);
  return r.value;
};

const bad = (message: string, path?: string) =>
  new HttpError(ErrorCode.InvalidRequest, message, path === undefined ? {} : { path });

/** `{amountUsd}` or `{credits}` (exactly one), and optionally `expirySec`, to credits and expiry. */
function purchase(body: unknown): { credits: number; expirySec: number } {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw bad('body must be an object: {"amountUsd"} or {"credits"}, and "expirySec"?');
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).find((k) => !["amountUsd", "credits", "expirySec"].includes(k));
  if (extra !== undefined) throw bad(`unknown field "${extra}"`, extra);
  if ((b.amountUsd === undefined) === (b.credits === undefined))
    throw bad("give exactly one of amountUsd and credits");
  let credits: number;
  if (b.amountUsd !== undefined) {
    if (typeof b.amountUsd !== "number" || !Number.isFinite(b.amountUsd))
      throw bad("amountUsd must be a number of US dollars", "amountUsd");
    credits = Math.round(b.amountUsd * CREDITS_PER_USD);
  } else {
    if (typeof b.credits !== "number" || !Number.isSafeInteger(b.credits))
      throw bad("credits must be an integer", "credits");
    credits = b.credits;
  }
  const path = b.amountUsd !== undefined ? "amountUsd" : "credits";
  if (credits < MIN_PURCHASE || credits > MAX_PURCHASE)
    throw bad(`a purchase is from ${MIN_PURCHASE} to ${MAX_PURCHASE} credits ($0.01 to $1000)`, path);
  const expirySec = b.expirySec ?? INVOICE_EXPIRY_SEC;
  if (
    typeof expirySec !== "number" ||
    !Number.isSafeInteger(expirySec) ||
    expirySec < 1 ||
    expirySec > 86_400
  )
    throw bad("expirySec must be an integer from 1 to 86400", "expirySec");
  return { credits, expirySec };
}

lightningCreditRoutes.post("/invoice", requireUser, async (c) => {
  const p = purchase(unwrap(await readJson(c.req.raw)));
  const inv = unwrap(await new LightningCredits(c.env).create(c.var.user.id, p));
  return c.json(inv, 201);
});

lightningCreditRoutes.get("/invoice/:id", requireUser, async (c) => {
  const id = c.req.param("id");
  if (!/^[0-9a-f]{64}$/i.test(id)) throw new HttpError(ErrorCode.NotFound, `no invoice ${id}`);
  return c.json(unwrap(await new LightningCredits(c.env).check(c.var.user.id, id)));
});
