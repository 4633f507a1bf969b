/** The platform's unit: 1,000,000 credits are one US dollar (the edge says so in `creditsPerUsd`). */
export const CREDITS_PER_USD = 1_000_000;

/**
 * Credits as dollars, precise enough for one small task: $0, $0.0042, $1.23, $1,234.50.
 *
 * @example
 * formatCredits(42_000); // "$0.042"
 */
export function formatCredits(credits: number, perUsd = CREDITS_PER_USD): string {
  if (!Number.isFinite(credits)) return "—";
  const sign = credits < 0 ? "-" : "";
  const usd = Math.abs(credits) / perUsd;
  if (usd === 0) return "$0";
  // Below a cent, keep two significant digits so a $0.0004 task does not read as $0.00.
  if (usd < 0.01) return `${sign}$${Number(usd.toPrecision(2)).toString()}`;
  if (usd < 1) return `${sign}$${usd.toFixed(usd < 0.1 ? 3 : 2)}`;
  return `${sign}$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** A budget as the form shows it: "5.00", or "" for no budget. */
export function budgetToInput(credits: number | null, perUsd = CREDITS_PER_USD): string {
  if (credits === null) return "";
  return (credits / perUsd).toFixed(2);
}

/**
 * Reads a budget typed in dollars: "" → null (no budget), "5" or "$5.50" → credits (integer).
 *
 * @example
 * parseBudget("2.50"); // { ok: true, credits: 2_500_000 }
 */
export function parseBudget(
  text: string,
  perUsd = CREDITS_PER_USD,
): { ok: true; credits: number | null } | { ok: false; message: string } {
  const t = text.trim().replace(/^\$/, "").replaceAll(",", "");
  if (t === "") return { ok: true, credits: null };
  if (!/^\d+(\.\d{1,6})?$/.test(t)) {
    return { ok: false, message: "Enter an amount in dollars, like 5 or 2.50, or leave it empty" };
  }
  const credits = Math.round(Number(t) * perUsd);
  if (!Number.isSafeInteger(credits)) return { ok: false, message: "That amount is too large" };
  return { ok: true, credits };
}

/** The figures of an estimate in one line: "about 10 min of container time and 250k tokens". */
export function estimateDetail(e: {
  containerSeconds: number;
  inputTokens: number;
  outputTokens: number;
}): string {
  const parts: string[] = [];
  if (e.containerSeconds > 0) {
    const s = e.containerSeconds;
    parts.push(s < 60 ? `${s} s of container time` : `${Math.round(s / 60)} min of container time`);
  }
  const tokens = e.inputTokens + e.outputTokens;
  if (tokens > 0) parts.push(`${compact(tokens)} tokens`);
  return parts.length === 0 ? "" : `up to ${parts.join(" and ")}`;
}

const compact = (n: number) =>
  n < 1000 ? String(n) : n < 1_000_000 ? `${Math.round(n / 1000)}k` : `${(n / 1_000_000).toFixed(1)}M`;
