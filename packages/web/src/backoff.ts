export interface BackoffOptions {
  /** First delay in ms. */
  baseMs?: number;
  /** Upper bound of any delay in ms. */
  maxMs?: number;
  /** Growth per attempt. */
  factor?: number;
  /** Fraction of the delay randomised (0.2 → ±20 %), so many tabs do not reconnect in lockstep. */
  jitter?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry): exponential, capped, jittered.
 *
 * @example
 * backoffDelay(0); // ≈ 500 ms
 * backoffDelay(10); // ≈ 30 s (the cap)
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random) {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const factor = opts.factor ?? 2;
  const jitter = opts.jitter ?? 0.2;
  const raw = Math.min(max, base * factor ** Math.max(0, attempt));
  const spread = raw * jitter * (random() * 2 - 1);
  return Math.round(Math.max(0, Math.min(max, raw + spread)));
}
