import type { RunEvent } from "@openagents/protocol";
import { emptyDiffstat } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { EventLog } from "./event-log.ts";
import { EventPump, type EventSink } from "./event-pump.ts";

const tick = () => new Promise((resolve) => setImmediate(resolve));
const result = {
  type: "result",
  ok: true,
  exitCode: 0,
  summary: "",
  diffstat: emptyDiffstat(),
  patch: "",
} as const;

/** A transport whose buffer holds `capacity` events; the test drains it by hand. */
function recordingSink(capacity: number) {
  const written: RunEvent[] = [];
  const batches: number[] = [];
  let buffered = 0;
  let resume: (() => void) | undefined;
  let finished = false;
  const sink: EventSink = {
    write(events) {
      written.push(...events);
      batches.push(events.length);
      buffered += events.length;
      return buffered < capacity;
    },
    onDrain(fn) {
      resume = fn;
    },
    finish() {
      finished = true;
    },
  };
  return {
    sink,
    written,
    batches,
    get finished() {
      return finished;
    },
    get waiting() {
      return resume !== undefined;
    },
    drain() {
      buffered = 0;
      const fn = resume;
      resume = undefined;
      fn?.();
    },
  };
}

describe("EventPump", () => {
  it("batches a tick's events into one write and finishes after the result", async () => {
    const log = new EventLog();
    const rec = recordingSink(Number.POSITIVE_INFINITY);
    new EventPump(log, 0, rec.sink);
    for (let i = 0; i < 100; i++) log.append({ type: "log", stream: "stdout", text: `${i}` });
    await tick();
    expect(rec.batches).toEqual([100]);
    log.append(result);
    await tick();
    expect(rec.written.map((e) => e.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(rec.finished).toBe(true);
  });

  it("holds events while the sink drains, without loss, duplicates or reordering", async () => {
    const log = new EventLog();
    for (let i = 0; i < 50; i++) log.append({ type: "log", stream: "stdout", text: `old${i}` });
    const rec = recordingSink(32);
    new EventPump(log, 10, rec.sink, { batchSize: 16 });
    await tick();
    // 10 events were before the resume point; two batches of 16 filled the sink.
    expect(rec.waiting).toBe(true);
    expect(rec.written).toHaveLength(32);
    for (let i = 0; i < 200; i++) log.append({ type: "log", stream: "stdout", text: `new${i}` });
    log.append(result);
    await tick();
    expect(rec.written).toHaveLength(32); // still waiting: nothing written past a full buffer
    while (rec.waiting) {
      rec.drain();
      await tick();
    }
    expect(rec.written.map((e) => e.seq)).toEqual(Array.from({ length: 241 }, (_, i) => i + 11));
    expect(rec.finished).toBe(true);
  });

  it("stops writing once stopped, and finishes at once on a closed log with nothing left", async () => {
    const log = new EventLog();
    const rec = recordingSink(Number.POSITIVE_INFINITY);
    const pump = new EventPump(log, 0, rec.sink);
    log.append({ type: "status", phase: "running" });
    pump.stop();
    log.append(result);
    await tick();
    expect(rec.written).toEqual([]);
    expect(rec.finished).toBe(false);

    const after = recordingSink(Number.POSITIVE_INFINITY);
    new EventPump(log, 2, after.sink);
    await tick();
    expect(after.written).toEqual([]);
    expect(after.finished).toBe(true);
  });
});
