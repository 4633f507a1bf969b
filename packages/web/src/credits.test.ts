import { describe, expect, it } from "vitest";
import { budgetToInput, estimateDetail, formatCredits, parseBudget } from "./credits.ts";

describe("formatCredits", () => {
  it("shows dollars at 1,000,000 credits per dollar", () => {
    expect(formatCredits(0)).toBe("$0");
    expect(formatCredits(1_000_000)).toBe("$1.00");
    expect(formatCredits(1_234_500_000)).toBe("$1,234.50");
    expect(formatCredits(250_000)).toBe("$0.25");
    expect(formatCredits(42_000)).toBe("$0.042");
    expect(formatCredits(400)).toBe("$0.0004");
    expect(formatCredits(1)).toBe("$0.000001");
    expect(formatCredits(-3_000_000)).toBe("-$3.00");
    expect(formatCredits(Number.NaN)).toBe("—");
  });
});

describe("budgets", () => {
  it("reads dollars into whole credits, empty as no budget", () => {
    expect(parseBudget("")).toEqual({ ok: true, credits: null });
    expect(parseBudget("  ")).toEqual({ ok: true, credits: null });
    expect(parseBudget("5")).toEqual({ ok: true, credits: 5_000_000 });
    expect(parseBudget("$2.50")).toEqual({ ok: true, credits: 2_500_000 });
    expect(parseBudget("1,000")).toEqual({ ok: true, credits: 1_000_000_000 });
    expect(parseBudget("0.000001")).toEqual({ ok: true, credits: 1 });
    expect(parseBudget("0")).toEqual({ ok: true, credits: 0 });
  });

  it("refuses what is not an amount", () => {
    for (const bad of ["-1", "abc", "1.2.3", "1e3", "0.0000001", "5 dollars"]) {
      expect(parseBudget(bad).ok, bad).toBe(false);
    }
    expect(parseBudget("99999999999999999").ok).toBe(false);
  });

  it("round-trips a stored budget through the input", () => {
    expect(budgetToInput(null)).toBe("");
    expect(budgetToInput(2_500_000)).toBe("2.50");
    expect(parseBudget(budgetToInput(7_000_000))).toEqual({ ok: true, credits: 7_000_000 });
  });
});

describe("estimateDetail", () => {
  it("names container time and tokens", () => {
    expect(estimateDetail({ containerSeconds: 600, inputTokens: 200_000, outputTokens: 50_000 })).toBe(
      "up to 10 min of container time and 250k tokens",
    );
    expect(estimateDetail({ containerSeconds: 30, inputTokens: 0, outputTokens: 0 })).toBe(
      "up to 30 s of container time",
    );
    expect(estimateDetail({ containerSeconds: 0, inputTokens: 0, outputTokens: 0 })).toBe("");
  });
});
