import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.ts";

describe("backoffDelay", () => {
  const mid = () => 0.5; // no jitter

  it("doubles from the base delay up to the cap", () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelay(n, {}, mid));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("jitters within ±20 % and never above the cap", () => {
    expect(backoffDelay(2, {}, () => 0)).toBe(1600);
    expect(backoffDelay(2, {}, () => 1)).toBe(2400);
    expect(backoffDelay(30, {}, () => 1)).toBe(30000);
  });

  it("takes its own base, factor and cap", () => {
    expect(backoffDelay(3, { baseMs: 10, factor: 3, maxMs: 200, jitter: 0 })).toBe(200);
    expect(backoffDelay(2, { baseMs: 10, factor: 3, maxMs: 200, jitter: 0 })).toBe(90);
  });
});
