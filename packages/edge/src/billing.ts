import { ErrorCode, err, ok, type Result, type Task, type UsageBody } from "@openagents/protocol";
import { hasKey, type Provider } from "./key-store.ts";
import type { KeysCreditsEnv } from "./keys-credits-env.ts";
import {
  DEFAULT_PRICES,
  type Estimate,
  estimateTask,
  isMetered,
  Ledger,
  modelPrice,
  type Prices,
  parsePrices,
  type Standing,
  tokenCost,
} from "./ledger.ts";

type BillingEnv = KeysCreditsEnv & { DB: D1Database; LOCAL_TOKEN?: string };

/** The deployment's prices; a broken `PRICES` var is logged and the defaults are used. */
export function pricesFor(env: KeysCreditsEnv): Prices {
  const prices = parsePrices(env.PRICES);
  if (prices.ok) return prices.value;
  console.error(`billing: ${prices.error.message}; using the default prices`);
  return DEFAULT_PRICES;
}

/** Which vendor a model id belongs to (its key pays, or the platform's key billed to the user). */
export const providerOfModel = (model: string | undefined): Provider =>
  model !== undefined && /^(gpt-|o\d|codex)/.test(model) ? "openai" : "anthropic";

/** Which vendor a task's agent calls. */
export const providerOfAgent = (agent: Task["agent"]): Provider | null =>
  agent === "codex" ? "openai" : agent === "claude-code" ? "anthropic" : null;

/**
 * The credit check of `POST /api/task/start`: a metered user's task is refused before it starts
 * (`insufficient_credits`, 402) when its estimate exceeds the balance or what the daily/weekly
 * budgets leave. Token costs are left out of the estimate when the user's own key pays for them.
 *
 * @example
 * const check = await checkTaskStart(env, user.id, task);
 * if (!check.ok) throw HttpError.from(check.error);
 */
export async function checkTaskStart(
  env: BillingEnv,
  userId: string,
  task: Task,
): Promise<Result<Estimate | null>> {
  const ledger = new Ledger(env.DB);
  if (!isMetered(env, await ledger.account(userId))) return ok(null);
  const estimate = await estimateFor(env, userId, task);
  const standing = await ledger.standing(userId, { metered: true });
  if (standing.spendable >= estimate.credits) return ok(estimate);
  const why =
    standing.balance < estimate.credits
      ? `the balance is ${standing.balance}`
      : `the daily/weekly budget leaves ${standing.spendable}`;
  return err(
    ErrorCode.InsufficientCredits,
    `insufficient credits: this task is estimated at ${estimate.credits} credits and ${why}`,
  );
}

/** The estimate of a task for this user: no token cost when their own key pays the vendor. */
export async function estimateFor(
  env: BillingEnv,
  userId: string,
  task: Pick<Task, "agent" | "timeoutSec">,
): Promise<Estimate> {
  const estimate = estimateTask(pricesFor(env), task);
  const vendor = providerOfAgent(task.agent);
  if (vendor && (await hasKey(env.DB, userId, vendor))) {
    const seconds = estimate.containerSeconds;
    return {
      containerSeconds: seconds,
      inputTokens: 0,
      outputTokens: 0,
      credits: seconds * pricesFor(env).containerSecond,
    };
  }
  return estimate;
}

/**
 * One charge of a running task: a `usage` event, or container seconds (while the turn runs, at
 * each watchdog alarm, and the rest at its end).
 */
export type TaskCharge = { usage: UsageBody } | { seconds: number };

/**
 * Bills a task's usage to its owner's ledger (metered users only). Tokens are billed only when the
 * platform's key paid for them (the user has no key of that vendor); container seconds always.
 * Usage already consumed is charged down to a zero balance, never below: `exhausted` then tells the
 * caller to stop the task, with `message` for its `error` event.
 */
export async function billTask(
  env: BillingEnv,
  owner: string,
  taskId: string,
  charge: TaskCharge,
): Promise<{ exhausted: boolean; message: string }> {
  const ledger = new Ledger(env.DB);
  if (!isMetered(env, await ledger.account(owner))) return { exhausted: false, message: "" };
  const prices = pricesFor(env);
  let short = 0;
  if ("usage" in charge) {
    const { usage } = charge;
    if (await hasKey(env.DB, owner, providerOfModel(usage.model))) return { exhausted: false, message: "" };
    const price = modelPrice(prices, usage.model);
    const input = usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
    const cost = tokenCost(price.input, input) + tokenCost(price.output, usage.outputTokens);
    const r = await ledger.spendUpTo(owner, "tokens", cost, {
      taskId,
      quantity: input + usage.outputTokens,
      note: `${input} input + ${usage.outputTokens} output tokens`,
      ...(usage.model === undefined ? {} : { model: usage.model }),
    });
    short = r.short;
  } else if (charge.seconds > 0) {
    const r = await ledger.spendUpTo(owner, "container_seconds", charge.seconds * prices.containerSecond, {
      taskId,
      quantity: charge.seconds,
      note: `${charge.seconds} s of container time`,
    });
    short = r.short;
  }
  const after = await ledger.standing(owner, { metered: true });
  const exhausted = short > 0 || after.spendable <= 0;
  return { exhausted, message: exhausted ? stopMessage(after) : "" };
}

/** Why a running task is stopped, for its `insufficient_credits` error: which limit ran out. */
function stopMessage(s: Standing): string {
  const why =
    s.balance <= 0
      ? "the credit balance ran out"
      : s.dailyBudget !== null && s.spentDay >= s.dailyBudget
        ? `the daily budget of ${s.dailyBudget} credits is used up`
        : s.weeklyBudget !== null && s.spentWeek >= s.weeklyBudget
          ? `the weekly budget of ${s.weeklyBudget} credits is used up`
          : "the credits or budget ran out";
  return `insufficient credits: ${why}; the task was stopped`;
}
