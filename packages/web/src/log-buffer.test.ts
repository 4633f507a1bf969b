import { describe, expect, it } from "vitest";
import { LogBuffer } from "./log-buffer.ts";

describe("LogBuffer", () => {
  it("splits multi-line text, drops a trailing newline and a CR", () => {
    const b = new LogBuffer();
    b.append(1, "stdout", "a\r\nb\n");
    b.append(2, "stderr", "");
    expect([b.at(0)?.text, b.at(1)?.text, b.at(2)?.text]).toEqual(["a", "b", ""]);
    expect(b.toText()).toBe("a\nb\n");
  });

  it("keeps the last state of a line redrawn with carriage returns", () => {
    const b = new LogBuffer();
    b.append(1, "system", "Counting:  33% (1/3)   \rCounting: 100% (3/3), done.");
    expect(b.at(0)?.text).toBe("Counting: 100% (3/3), done.");
  });

  it("drops the oldest lines past its capacity and counts them", () => {
    const b = new LogBuffer(100);
    for (let i = 0; i < 1000; i++) b.append(i + 1, "stdout", String(i));
    expect(b.length).toBeLessThanOrEqual(100);
    expect(b.dropped + b.length).toBe(1000);
    expect(b.at(0)?.text).toBe(String(b.dropped));
    expect(b.at(b.length - 1)?.text).toBe("999");
  });
});
