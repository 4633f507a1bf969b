import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { RunEvent } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { EventLog } from "../src/event-log.ts";

const freshTaskObject = () => env.TASK.get(env.TASK.idFromName(`log-${crypto.randomUUID()}`));

describe("EventLog in a TaskDO's SQLite storage", () => {
  it("assigns gap-free seqs from 1, keeps order, and replays from any seq", async () => {
    await runInDurableObject(freshTaskObject(), (_obj, state) => {
      const log = new EventLog(state.storage.sql);
      expect(log.lastSeq).toBe(0);
      for (let i = 1; i <= 20; i++) {
        const { event } = log.append({ type: "log", stream: "stdout", text: `line ${i}` });
        expect(event.seq).toBe(i);
      }
      const all = [...log.after(0)].map((j) => JSON.parse(j) as RunEvent);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(all.map((e) => (e.type === "log" ? e.text : ""))).toEqual(all.map((e) => `line ${e.seq}`));
      for (let after = 0; after <= 20; after++) {
        expect([...log.after(after)].map((j) => (JSON.parse(j) as RunEvent).seq)).toEqual(
          all.slice(after).map((e) => e.seq),
        );
      }
      expect([...log.after(5, 3)].map((j) => (JSON.parse(j) as RunEvent).seq)).toEqual([6, 7, 8]);
    });
  });

  it("continues after the last seq when the object is reopened (storage, not memory, is the truth)", async () => {
    const stub = freshTaskObject();
    await runInDurableObject(stub, (_obj, state) => {
      const log = new EventLog(state.storage.sql);
      log.append({ type: "status", phase: "queued" });
      log.append({ type: "status", phase: "running" });
    });
    await runInDurableObject(stub, (_obj, state) => {
      const reopened = new EventLog(state.storage.sql);
      expect(reopened.lastSeq).toBe(2);
      expect(reopened.append({ type: "log", stream: "system", text: "x" }).event.seq).toBe(3);
    });
  });

  it("appends a burst in multi-row inserts with consecutive seqs, in order, after what is there", async () => {
    await runInDurableObject(freshTaskObject(), (_obj, state) => {
      const log = new EventLog(state.storage.sql);
      log.append({ type: "status", phase: "running" });
      // 100 rows: more than one INSERT (at most 100 bound parameters per statement).
      const items = Array.from({ length: 100 }, (_, i) => ({
        body: { type: "log" as const, stream: "stdout" as const, text: `l${i + 1}` },
        time: `2026-01-01T00:00:${String(i % 60).padStart(2, "0")}.000Z`,
      }));
      const appended = log.appendMany(items);
      expect(appended.map((a) => a.event.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
      expect(log.lastSeq).toBe(101);
      const stored = [...log.after(1)];
      expect(stored).toEqual(appended.map((a) => a.json));
      expect(JSON.parse(stored[99]!)).toEqual({ seq: 101, time: items[99]!.time, ...items[99]!.body });
    });
  });

  it("a failed transaction leaves no gap", async () => {
    await runInDurableObject(freshTaskObject(), (_obj, state) => {
      const log = new EventLog(state.storage.sql);
      log.append({ type: "status", phase: "queued" });
      expect(() =>
        state.storage.transactionSync(() => {
          log.append({ type: "status", phase: "running" });
          throw new Error("boom");
        }),
      ).toThrow("boom");
      expect(log.lastSeq).toBe(1);
      expect(log.append({ type: "log", stream: "stdout", text: "next" }).event.seq).toBe(2);
    });
  });
});
