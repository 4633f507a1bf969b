import { ErrorCode, err, ok, type Result, type Task } from "@openagents/protocol";
import type { KeysCreditsEnv } from "./keys-credits-env.ts";
import { ensureKeysCreditsSchema } from "./keys-credits-schema.ts";

/**
 * Credits are integers: 1 000 000 credits = 1 US dollar (so a token of a $3/Mtok model costs 3).
 * Positive entries add (grant, purchase, refund), negative entries spend.
 */
export const CREDITS_PER_USD = 1_000_000;

export const ENTRY_KINDS = [
  "grant",
  "purchase",
  "refund",
  "container_seconds",
  "tokens",
  "market_payment",
] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export interface LedgerEntry {
  id: number;
  kind: EntryKind;
  /** Signed credits: > 0 adds, < 0 spends. */
  amount: number;
  taskId: string | null;
  model: string | null;
  /** Tokens for `tokens`, seconds for `container_seconds`. */
  quantity: number | null;
  note: string;
  created: string;
}

/** Credits per million input/output tokens of a model. */
export interface ModelPrice {
  input: number;
  output: number;
}

/** The price list (the `PRICES` var, JSON, merged over these defaults). */
export interface Prices {
  /** Credits per second a task holds its container. */
  containerSecond: number;
  /** By model id prefix; the longest matching prefix wins (`claude-sonnet-4` matches `claude-sonnet-4-5-2025…`). */
  models: Record<string, ModelPrice>;
  /** For models not in `models`. */
  defaultModel: ModelPrice;
  /** What an estimate assumes for an agent task (a shell task uses no tokens). */
  estimate: { containerSeconds: number; inputTokens: number; outputTokens: number };
}

export const DEFAULT_PRICES: Prices = {
  containerSecond: 20,
  models: {
    "claude-opus-4": { input: 15_000_000, output: 75_000_000 },
    "claude-sonnet-4": { input: 3_000_000, output: 15_000_000 },
    "claude-haiku-4": { input: 1_000_000, output: 5_000_000 },
    "gpt-5": { input: 1_250_000, output: 10_000_000 },
  },
  defaultModel: { input: 3_000_000, output: 15_000_000 },
  estimate: { containerSeconds: 300, inputTokens: 200_000, outputTokens: 20_000 },
};

const nonNegInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads the `PRICES` var: JSON with any of `containerSecond`, `models`, `defaultModel`, `estimate`,
 * merged over {@link DEFAULT_PRICES}. Every price is a non-negative integer of credits.
 *
 * @example
 * parsePrices('{"containerSecond": 30, "models": {"claude-sonnet-4": {"input": 3000000, "output": 15000000}}}');
 */
export function parsePrices(text: string | undefined): Result<Prices> {
  if (!text?.trim()) return ok(DEFAULT_PRICES);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return err(ErrorCode.Internal, `PRICES is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null) return err(ErrorCode.Internal, "PRICES must be a JSON object");
  const r = raw as Partial<Record<keyof Prices, unknown>>;
  const isPrice = (p: unknown): p is ModelPrice =>
    typeof p === "object" &&
    p !== null &&
    nonNegInt((p as ModelPrice).input) &&
    nonNegInt((p as ModelPrice).output);
  const prices: Prices = structuredClone(DEFAULT_PRICES);
  if (r.containerSecond !== undefined) {
    if (!nonNegInt(r.containerSecond))
      return err(ErrorCode.Internal, "PRICES.containerSecond must be an integer ≥ 0");
    prices.containerSecond = r.containerSecond;
  }
  if (r.models !== undefined) {
    if (typeof r.models !== "object" || r.models === null)
      return err(ErrorCode.Internal, "PRICES.models must be an object");
    for (const [name, p] of Object.entries(r.models)) {
      if (!isPrice(p)) return err(ErrorCode.Internal, `PRICES.models.${name} needs integer input and output`);
      prices.models[name] = p;
    }
  }
  if (r.defaultModel !== undefined) {
    if (!isPrice(r.defaultModel))
      return err(ErrorCode.Internal, "PRICES.defaultModel needs integer input and output");
    prices.defaultModel = r.defaultModel;
  }
  if (r.estimate !== undefined) {
    const e = r.estimate as Prices["estimate"];
    if (!nonNegInt(e?.containerSeconds) || !nonNegInt(e.inputTokens) || !nonNegInt(e.outputTokens))
      return err(
        ErrorCode.Internal,
        "PRICES.estimate needs integer containerSeconds, inputTokens, outputTokens",
      );
    prices.estimate = e;
  }
  return ok(prices);
}

/** The price of a model: the longest configured prefix of its id, else the default. */
export function modelPrice(prices: Prices, model: string | undefined): ModelPrice {
  let best: string | null = null;
  for (const name of Object.keys(prices.models)) {
    if (model?.startsWith(name) && (best === null || name.length > best.length)) best = name;
  }
  return best === null ? prices.defaultModel : prices.models[best]!;
}

/** Credits for a number of tokens, rounded up so many small calls cannot be free. */
export const tokenCost = (perMillion: number, tokens: number): number =>
  Math.ceil((perMillion * tokens) / 1_000_000);

export interface Estimate {
  containerSeconds: number;
  inputTokens: number;
  outputTokens: number;
  credits: number;
}

/** What a task is expected to cost before it starts (container time capped by its timeout). */
export function estimateTask(prices: Prices, task: Pick<Task, "agent" | "timeoutSec">): Estimate {
  const seconds = Math.min(prices.estimate.containerSeconds, task.timeoutSec ?? Number.POSITIVE_INFINITY);
  const tokens =
    task.agent === "shell"
      ? { input: 0, output: 0 }
      : { input: prices.estimate.inputTokens, output: prices.estimate.outputTokens };
  const price = prices.defaultModel;
  return {
    containerSeconds: seconds,
    inputTokens: tokens.input,
    outputTokens: tokens.output,
    credits:
      seconds * prices.containerSecond +
      tokenCost(price.input, tokens.input) +
      tokenCost(price.output, tokens.output),
  };
}

export interface Account {
  /** null: follows the deployment's `BILLING` default. */
  metered: boolean | null;
  dailyBudget: number | null;
  weeklyBudget: number | null;
}

export interface Standing {
  balance: number;
  metered: boolean;
  dailyBudget: number | null;
  weeklyBudget: number | null;
  /** Spent in the last 24 hours / 7 days (rolling windows). */
  spentDay: number;
  spentWeek: number;
  /** The most that can be spent now: balance, capped by what the budgets leave. */
  spendable: number;
}

const DAY_MS = 24 * 3600 * 1000;
const since = (ms: number) => new Date(Date.now() - ms).toISOString();

/**
 * The user's credit ledger in D1. Balance and spend are always derived from the entries (sums),
 * never stored beside them, so they cannot drift.
 *
 * Serialisation: every spend is ONE statement, `INSERT … SELECT … WHERE balance ≥ cost AND budgets
 * allow`, with the balance and the budget sums computed in the same statement. D1 runs each
 * database's statements one at a time on its single SQLite primary, so the check and the insert
 * cannot interleave with another spend: 50 concurrent spends against a balance that covers 10 give
 * exactly 10 rows. A per-user Durable Object would serialise too, but adds a hop and a second
 * source of truth for what D1 already guarantees.
 *
 * @example
 * const ledger = new Ledger(env.DB);
 * await ledger.add(user.id, "grant", 5_000_000, { note: "welcome" });
 * const spent = await ledger.spend(user.id, "tokens", 1200, { taskId, model, quantity: 400 });
 */
export class Ledger {
  readonly #db: D1Database;

  constructor(db: D1Database) {
    this.#db = db;
  }

  /**
   * Adds credits (grant, purchase, refund). With `ref`, at most once per user and ref: a second call
   * with the same ref (a paid invoice seen twice) changes nothing and returns `added: false`.
   */
  async add(
    userId: string,
    kind: "grant" | "purchase" | "refund" | "market_payment",
    amount: number,
    opts: { note?: string; ref?: string; taskId?: string } = {},
  ): Promise<Result<{ added: boolean }>> {
    if (!Number.isSafeInteger(amount) || amount <= 0)
      return err(ErrorCode.InvalidRequest, "amount must be a positive integer of credits", "amount");
    await ensureKeysCreditsSchema(this.#db);
    const res = await this.#db
      .prepare(
        "INSERT INTO ledger (user_id, kind, amount, task_id, model, quantity, ref, note, created) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?) ON CONFLICT (user_id, ref) DO NOTHING",
      )
      .bind(
        userId,
        kind,
        amount,
        opts.taskId ?? null,
        opts.ref ?? null,
        opts.note ?? kind,
        new Date().toISOString(),
      )
      .run();
    return ok({ added: res.meta.changes > 0 });
  }

  /**
   * Spends `amount` credits if the balance covers it and the budgets allow it, atomically (see the
   * class comment); otherwise spends nothing and says why.
   */
  async spend(
    userId: string,
    kind: "container_seconds" | "tokens" | "market_payment",
    amount: number,
    opts: { taskId?: string; model?: string; quantity?: number; note?: string; ref?: string } = {},
  ): Promise<Result<{ spent: number }>> {
    if (!Number.isSafeInteger(amount) || amount < 0)
      return err(ErrorCode.InvalidRequest, "amount must be a non-negative integer of credits", "amount");
    if (amount === 0) return ok({ spent: 0 });
    await ensureKeysCreditsSchema(this.#db);
    const res = await this.#db
      .prepare(SPEND_SQL)
      .bind(
        userId,
        kind,
        amount,
        opts.taskId ?? null,
        opts.model ?? null,
        opts.quantity ?? null,
        opts.ref ?? null,
        opts.note ?? kind,
        new Date().toISOString(),
        since(DAY_MS),
        since(7 * DAY_MS),
      )
      .run();
    if (res.meta.changes > 0) return ok({ spent: amount });
    const s = await this.standing(userId, { metered: true });
    return err(
      ErrorCode.InsufficientCredits,
      s.balance < amount
        ? `insufficient credits: ${amount} needed, balance ${s.balance}`
        : `the budget does not allow ${amount} more credits (spent ${s.spentDay} in 24 h, ${s.spentWeek} in 7 days)`,
    );
  }

  /**
   * Spends as much of `amount` as the balance and budgets allow (for usage already consumed, which
   * cannot be refused): never below zero. `short` > 0 means the user ran out — stop the task.
   */
  async spendUpTo(
    userId: string,
    kind: "container_seconds" | "tokens",
    amount: number,
    opts: { taskId?: string; model?: string; quantity?: number; note?: string } = {},
  ): Promise<{ spent: number; short: number }> {
    let want = amount;
    for (let attempt = 0; attempt < 5 && want > 0; attempt++) {
      const r = await this.spend(userId, kind, want, opts);
      if (r.ok) return { spent: want, short: amount - want };
      if (r.error.code !== ErrorCode.InsufficientCredits) break;
      // Another spend may land between this read and the next try; the next try re-checks atomically.
      want = Math.min(want, (await this.standing(userId, { metered: true })).spendable);
    }
    return { spent: 0, short: amount };
  }

  /** Balance, budgets and recent spend; `spendable` is what a spend may take now. */
  async standing(userId: string, opts: { metered: boolean }): Promise<Standing> {
    await ensureKeysCreditsSchema(this.#db);
    const row = await this.#db
      .prepare(STANDING_SQL)
      .bind(userId, since(DAY_MS), since(7 * DAY_MS))
      .first<{ bal: number; day: number; week: number; dmax: number | null; wmax: number | null }>();
    const { bal = 0, day = 0, week = 0, dmax = null, wmax = null } = row ?? {};
    const left = [bal, dmax === null ? bal : dmax - day, wmax === null ? bal : wmax - week];
    return {
      balance: bal,
      metered: opts.metered,
      dailyBudget: dmax,
      weeklyBudget: wmax,
      spentDay: day,
      spentWeek: week,
      spendable: Math.max(0, Math.min(...left)),
    };
  }

  /** A user's entries, newest first; `before` (an entry id) pages back. */
  async entries(
    userId: string,
    opts: { limit: number; before?: number; taskId?: string },
  ): Promise<LedgerEntry[]> {
    await ensureKeysCreditsSchema(this.#db);
    const { results } = await this.#db
      .prepare(
        "SELECT id, kind, amount, task_id AS taskId, model, quantity, note, created FROM ledger WHERE user_id = ?1 AND id < ?2 AND (?3 IS NULL OR task_id = ?3) ORDER BY id DESC LIMIT ?4",
      )
      .bind(userId, opts.before ?? Number.MAX_SAFE_INTEGER, opts.taskId ?? null, opts.limit)
      .all<LedgerEntry>();
    return results;
  }

  /** Spend per task (credits, tokens, container seconds), most recent tasks first. */
  async spendByTask(
    userId: string,
    limit: number,
  ): Promise<Array<{ taskId: string; credits: number; tokens: number; containerSeconds: number }>> {
    await ensureKeysCreditsSchema(this.#db);
    const { results } = await this.#db
      .prepare(
        `SELECT task_id AS taskId, -SUM(amount) AS credits,
           COALESCE(SUM(CASE WHEN kind = 'tokens' THEN quantity END), 0) AS tokens,
           COALESCE(SUM(CASE WHEN kind = 'container_seconds' THEN quantity END), 0) AS containerSeconds
         FROM ledger WHERE user_id = ? AND task_id IS NOT NULL AND amount < 0
         GROUP BY task_id ORDER BY MAX(id) DESC LIMIT ?`.replace(/\s+/g, " "),
      )
      .bind(userId, limit)
      .all<{ taskId: string; credits: number; tokens: number; containerSeconds: number }>();
    return results;
  }

  async account(userId: string): Promise<Account> {
    await ensureKeysCreditsSchema(this.#db);
    const row = await this.#db
      .prepare("SELECT metered, daily_budget, weekly_budget FROM credit_accounts WHERE user_id = ?")
      .bind(userId)
      .first<{ metered: number | null; daily_budget: number | null; weekly_budget: number | null }>();
    return {
      metered: row?.metered === null || row?.metered === undefined ? null : row.metered === 1,
      dailyBudget: row?.daily_budget ?? null,
      weeklyBudget: row?.weekly_budget ?? null,
    };
  }

  /** Sets budgets and/or the metered flag; fields left undefined keep their value, null clears. */
  async setAccount(userId: string, change: Partial<Account>): Promise<Account> {
    const now = { ...(await this.account(userId)), ...change };
    await this.#db
      .prepare(
        "INSERT INTO credit_accounts (user_id, metered, daily_budget, weekly_budget, updated) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE SET metered = ?2, daily_budget = ?3, weekly_budget = ?4, updated = ?5",
      )
      .bind(
        userId,
        now.metered === null ? null : now.metered ? 1 : 0,
        now.dailyBudget,
        now.weeklyBudget,
        new Date().toISOString(),
      )
      .run();
    return now;
  }
}

/** The sums a spend is checked against, all in one statement with the insert (see Ledger). */
const SUMS = `SELECT
    (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = ?1) AS bal,
    (SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE user_id = ?1 AND amount < 0 AND created >= ?D) AS day,
    (SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE user_id = ?1 AND amount < 0 AND created >= ?W) AS week,
    (SELECT daily_budget FROM credit_accounts WHERE user_id = ?1) AS dmax,
    (SELECT weekly_budget FROM credit_accounts WHERE user_id = ?1) AS wmax`;

const SPEND_SQL = `INSERT INTO ledger (user_id, kind, amount, task_id, model, quantity, ref, note, created)
  SELECT ?1, ?2, -?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM (${SUMS.replace("?D", "?10").replace("?W", "?11")}) s
  WHERE s.bal >= ?3 AND (s.dmax IS NULL OR s.day + ?3 <= s.dmax) AND (s.wmax IS NULL OR s.week + ?3 <= s.wmax)
  ON CONFLICT (user_id, ref) DO NOTHING`.replace(/\s+/g, " ");

const STANDING_SQL = SUMS.replace("?D", "?2").replace("?W", "?3").replace(/\s+/g, " ");

/**
 * Whether a user's tasks are billed: their account's flag, else the deployment's `BILLING` var, else
 * on in production and off on a local stack (`LOCAL_TOKEN` set), where the operator is the user.
 */
export function isMetered(env: KeysCreditsEnv & { LOCAL_TOKEN?: string }, account: Account): boolean {
  if (account.metered !== null) return account.metered;
  if (env.BILLING === "on") return true;
  if (env.BILLING === "off") return false;
  return !env.LOCAL_TOKEN;
}
