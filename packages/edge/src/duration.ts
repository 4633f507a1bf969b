const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as "10m", "30s", "1500ms" or "2h" into milliseconds; a bare number is
 * seconds. Returns `fallback` for anything else, so a typo in a variable never disables a timer.
 *
 * @example
 * parseDuration("10m", 0); // 600000
 */
export function parseDuration(value: string | undefined, fallback: number): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value ?? "");
  if (!match) return fallback;
  const ms = Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1000);
  return Number.isFinite(ms) && ms >= 0 ? ms : fallback;
}
