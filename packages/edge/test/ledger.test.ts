import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_PRICES, estimateTask, Ledger, modelPrice, parsePrices } from "../src/ledger.ts";
import { newUser } from "./worker-helpers.ts";

describe("credit ledger", () => {
  it("50 concurrent spends against a balance that covers 10: exactly 10 succeed, balance 0", async () => {
    const { user } = await newUser();
    const ledger = new Ledger(env.DB);
    expect((await ledger.add(user.id, "grant", 1000)).ok).toBe(true);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ledger.spend(user.id, "tokens", 100, { note: `spend ${i}` })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    const refused = results.filter((r) => !r.ok);
    expect(refused).toHaveLength(40);
    expect(refused[0]).toMatchObject({ ok: false, error: { code: "insufficient_credits" } });
    const standing = await ledger.standing(user.id, { metered: true });
    expect(standing.balance).toBe(0);
    const entries = await ledger.entries(user.id, { limit: 100 });
    expect(entries.filter((e) => e.kind === "tokens")).toHaveLength(10);
  });

  it("a credit with the same ref (an invoice paid twice) is added once", async () => {
    const { user } = await newUser();
    const ledger = new Ledger(env.DB);
    const twice = await Promise.all([
      ledger.add(user.id, "purchase", 5000, { ref: "invoice:abc" }),
      ledger.add(user.id, "purchase", 5000, { ref: "invoice:abc" }),
      ledger.add(user.id, "purchase", 5000, { ref: "invoice:abc" }),
    ]);
    expect(twice.filter((r) => r.ok && r.value.added)).toHaveLength(1);
    expect((await ledger.standing(user.id, { metered: true })).balance).toBe(5000);
    expect((await ledger.add(user.id, "grant", 0)).ok).toBe(false);
    expect((await ledger.add(user.id, "grant", 1.5)).ok).toBe(false);
  });

  it("daily and weekly budgets cap spending even with balance left; spendUpTo never goes below zero", async () => {
    const { user } = await newUser();
    const ledger = new Ledger(env.DB);
    await ledger.add(user.id, "grant", 10_000);
    await ledger.setAccount(user.id, { dailyBudget: 300, weeklyBudget: 1000 });
    expect((await ledger.spend(user.id, "tokens", 200)).ok).toBe(true);
    const over = await ledger.spend(user.id, "tokens", 200);
    expect(over).toMatchObject({
      ok: false,
      error: { code: "insufficient_credits", message: expect.stringContaining("budget") },
    });
    expect((await ledger.standing(user.id, { metered: true })).spendable).toBe(100);
    // Usage already consumed: charged up to what is left, the rest reported short.
    expect(await ledger.spendUpTo(user.id, "tokens", 250)).toEqual({ spent: 100, short: 150 });
    expect((await ledger.standing(user.id, { metered: true })).spendable).toBe(0);
    await ledger.setAccount(user.id, { dailyBudget: null });
    expect((await ledger.standing(user.id, { metered: true })).spendable).toBe(700); // weekly 1000 − 300 spent

    const poor = (await newUser()).user;
    await ledger.add(poor.id, "grant", 50);
    expect(await ledger.spendUpTo(poor.id, "container_seconds", 80)).toEqual({ spent: 50, short: 30 });
    expect((await ledger.standing(poor.id, { metered: true })).balance).toBe(0);
  });

  it("prices come from configuration; models match by longest prefix; estimates cap by timeout", () => {
    const p = parsePrices(
      '{"containerSecond": 7, "models": {"claude-sonnet-4-5": {"input": 1, "output": 2}}}',
    );
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.value.containerSecond).toBe(7);
    expect(modelPrice(p.value, "claude-sonnet-4-5-20250929")).toEqual({ input: 1, output: 2 });
    expect(modelPrice(p.value, "claude-sonnet-4-0")).toEqual(DEFAULT_PRICES.models["claude-sonnet-4"]);
    expect(modelPrice(p.value, "mystery")).toEqual(DEFAULT_PRICES.defaultModel);
    expect(parsePrices("{").ok).toBe(false);
    expect(parsePrices('{"containerSecond": -1}').ok).toBe(false);
    expect(estimateTask(p.value, { agent: "shell", timeoutSec: 60 })).toEqual({
      containerSeconds: 60,
      inputTokens: 0,
      outputTokens: 0,
      credits: 420,
    });
  });
});
