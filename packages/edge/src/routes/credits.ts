import { ErrorCode, parseTask, type Result } from "@openagents/protocol";
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import { checkTaskStart, estimateFor, pricesFor } from "../billing.ts";
import { isTaskId, sha256Hex } from "../crypto.ts";
import { getOwnedTask } from "../db/tasks.ts";
import { HttpError } from "../http-error.ts";
import { CREDITS_PER_USD, isMetered, Ledger } from "../ledger.ts";
import { LightningCredits } from "../lightning.ts";
import { readJson } from "../read-json.ts";
import { lightningCreditRoutes } from "./credits-lightning.ts";

/**
 * Credits: balance and budgets, entries, spend per task, an estimate before starting a task, and
 * the user's own budgets. `/api/admin/credits/*` lets an operator grant credits and set accounts.
 */
export const creditRoutes = new Hono<AppEnv>();

const unwrap = <T>(r: Result<T>): T => {
  if (!r.ok) throw HttpError.from(r.error);
  return r.value;
};

function intParam(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new HttpError(ErrorCode.InvalidRequest, `${name} must be an integer from 0 to ${max}`, {
      path: name,
    });
  }
  return n;
}

function object(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(ErrorCode.InvalidRequest, `body must be an object with ${allowed.join(", ")}`);
  }
  const extra = Object.keys(body).find((k) => !allowed.includes(k));
  if (extra !== undefined)
    throw new HttpError(ErrorCode.InvalidRequest, `unknown field "${extra}"`, { path: extra });
  return body as Record<string, unknown>;
}

/** A budget field: a non-negative integer of credits, null (no budget), or absent (unchanged). */
function budget(value: unknown, name: string): number | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      `${name} must be a non-negative integer of credits or null`,
      {
        path: name,
      },
    );
  }
  return value;
}

// Buying credits with Lightning: POST /credits/invoice, GET /credits/invoice/:id.
creditRoutes.route("/credits", lightningCreditRoutes);

creditRoutes.get("/credits", requireUser, async (c) => {
  const ledger = new Ledger(c.env.DB);
  const metered = isMetered(c.env, await ledger.account(c.var.user.id));
  return c.json({
    unit: "credits",
    creditsPerUsd: CREDITS_PER_USD,
    // Whether POST /api/credits/invoice can sell credits here (a Lightning wallet is configured).
    lightning: LightningCredits.configured(c.env),
    ...(await ledger.standing(c.var.user.id, { metered })),
  });
});

creditRoutes.get("/credits/entries", requireUser, async (c) => {
  const limit = intParam(c.req.query("limit"), "limit", 50, 500);
  const before = c.req.query("before");
  const opts =
    before === undefined
      ? { limit }
      : { limit, before: intParam(before, "before", 0, Number.MAX_SAFE_INTEGER) };
  return c.json({ entries: await new Ledger(c.env.DB).entries(c.var.user.id, opts) });
});

creditRoutes.get("/credits/tasks", requireUser, async (c) => {
  const limit = intParam(c.req.query("limit"), "limit", 50, 500);
  return c.json({ tasks: await new Ledger(c.env.DB).spendByTask(c.var.user.id, limit) });
});

creditRoutes.get("/credits/tasks/:id", requireUser, async (c) => {
  const id = c.req.param("id");
  const row = isTaskId(id) ? await getOwnedTask(c.env.DB, id, c.var.user.id) : null;
  if (!row) throw new HttpError(ErrorCode.NotFound, `no task ${id}`);
  const entries = await new Ledger(c.env.DB).entries(c.var.user.id, { limit: 1000, taskId: id });
  return c.json({ taskId: id, credits: -entries.reduce((sum, e) => sum + e.amount, 0), entries });
});

creditRoutes.put("/credits/budget", requireUser, async (c) => {
  const body = object(unwrap(await readJson(c.req.raw)), ["daily", "weekly"]);
  const change: { dailyBudget?: number | null; weeklyBudget?: number | null } = {};
  const daily = budget(body.daily, "daily");
  const weekly = budget(body.weekly, "weekly");
  if (daily !== undefined) change.dailyBudget = daily;
  if (weekly !== undefined) change.weeklyBudget = weekly;
  const account = await new Ledger(c.env.DB).setAccount(c.var.user.id, change);
  return c.json({ daily: account.dailyBudget, weekly: account.weeklyBudget });
});

creditRoutes.get("/credits/prices", requireUser, (c) =>
  c.json({ unit: "credits", creditsPerUsd: CREDITS_PER_USD, ...pricesFor(c.env) }),
);

creditRoutes.post("/credits/estimate", requireUser, async (c) => {
  const task = unwrap(parseTask(unwrap(await readJson(c.req.raw))));
  const estimate = await estimateFor(c.env, c.var.user.id, task);
  const check = await checkTaskStart(c.env, c.var.user.id, task);
  const ledger = new Ledger(c.env.DB);
  const metered = isMetered(c.env, await ledger.account(c.var.user.id));
  const standing = await ledger.standing(c.var.user.id, { metered });
  return c.json({
    estimate,
    balance: standing.balance,
    spendable: standing.spendable,
    metered,
    allowed: check.ok,
    ...(check.ok ? {} : { reason: check.error.message }),
  });
});

/**
 * Operators only: `Authorization: Bearer <ADMIN_TOKEN>` (a secret in production) or, on a local
 * stack, the local token (`openagents up`'s operator is its one user).
 */
const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const m = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "");
  const given = m ? await sha256Hex(m[1]!) : "";
  const accepted = [c.env.ADMIN_TOKEN, c.env.LOCAL_TOKEN].filter(
    (t): t is string => typeof t === "string" && t.length >= 16,
  );
  for (const t of accepted) if ((await sha256Hex(t)) === given) return next();
  throw new HttpError(
    ErrorCode.Unauthorized,
    "admin routes need Authorization: Bearer <ADMIN_TOKEN> (or the local token)",
    {
      headers: { "www-authenticate": 'Bearer realm="openagents-admin"' },
    },
  );
});

async function userIdOf(db: D1Database, user: unknown): Promise<string> {
  if (typeof user !== "string" || user === "") {
    throw new HttpError(ErrorCode.InvalidRequest, "user must be a user id or login", { path: "user" });
  }
  const row = await db
    .prepare("SELECT id FROM users WHERE id = ?1 OR login = ?1")
    .bind(user)
    .first<{ id: string }>();
  if (!row) throw new HttpError(ErrorCode.NotFound, `no user ${user}`);
  return row.id;
}

creditRoutes.post("/admin/credits/grant", requireAdmin, async (c) => {
  const body = object(unwrap(await readJson(c.req.raw)), ["user", "amount", "note", "ref"]);
  const userId = await userIdOf(c.env.DB, body.user);
  if (body.note !== undefined && typeof body.note !== "string")
    throw new HttpError(ErrorCode.InvalidRequest, "note must be a string", { path: "note" });
  if (body.ref !== undefined && typeof body.ref !== "string")
    throw new HttpError(ErrorCode.InvalidRequest, "ref must be a string", { path: "ref" });
  const ledger = new Ledger(c.env.DB);
  const opts: { note: string; ref?: string } = { note: (body.note as string | undefined) ?? "admin grant" };
  if (body.ref !== undefined) opts.ref = `grant:${body.ref as string}`;
  const added = unwrap(await ledger.add(userId, "grant", body.amount as number, opts));
  const standing = await ledger.standing(userId, { metered: isMetered(c.env, await ledger.account(userId)) });
  return c.json({ user: userId, added: added.added, balance: standing.balance }, added.added ? 201 : 200);
});

creditRoutes.put("/admin/credits/account", requireAdmin, async (c) => {
  const body = object(unwrap(await readJson(c.req.raw)), ["user", "metered", "daily", "weekly"]);
  const userId = await userIdOf(c.env.DB, body.user);
  const change: { metered?: boolean | null; dailyBudget?: number | null; weeklyBudget?: number | null } = {};
  if (body.metered !== undefined) {
    if (body.metered !== null && typeof body.metered !== "boolean")
      throw new HttpError(ErrorCode.InvalidRequest, "metered must be true, false or null", {
        path: "metered",
      });
    change.metered = body.metered;
  }
  const daily = budget(body.daily, "daily");
  const weekly = budget(body.weekly, "weekly");
  if (daily !== undefined) change.dailyBudget = daily;
  if (weekly !== undefined) change.weeklyBudget = weekly;
  return c.json({ user: userId, ...(await new Ledger(c.env.DB).setAccount(userId, change)) });
});
