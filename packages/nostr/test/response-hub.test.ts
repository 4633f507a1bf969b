import { randomBytes } from "node:crypto";
import { finalizeEvent, generateSecretKey } from "nostr-tools/pure";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResponseHub } from "../src/customer/response-hub.ts";
import { type NostrEvent, nowSec, RelayPool } from "../src/index.ts";
import { startNostrRelay, type TestRelay } from "./relays.ts";

let relay: TestRelay;
beforeAll(async () => {
  relay = await startNostrRelay();
}, 30_000);
afterAll(async () => {
  await relay?.stop();
});

const provider = generateSecretKey();
const feedback = (requestId: string, status: string): NostrEvent =>
  finalizeEvent(
    {
      kind: 7000,
      tags: [
        ["e", requestId],
        ["status", status],
      ],
      content: "",
      created_at: nowSec(),
    },
    provider,
  );

const until = async (cond: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("ResponseHub (nostr-relay, which caps subscriptions per connection)", () => {
  it("150 jobs opened at once share 2 subscriptions; each gets its own responses once; settled jobs free them", async () => {
    const pool = new RelayPool([relay.url]);
    expect(await pool.ready()).toBe(true);
    const hub = new ResponseHub(pool, 5930);
    const ids = Array.from({ length: 150 }, () => randomBytes(32).toString("hex"));
    const got = new Map<string, string[]>(ids.map((id) => [id, []]));
    const watches = ids.map((id) => hub.watch(id, (ev) => got.get(id)!.push(ev.id)));
    await Promise.all(watches.map((w) => w.ready));
    expect(hub.subscriptions).toBe(2);

    // A later job replaces the set with one that covers all 151; nothing between the two is lost.
    const late = randomBytes(32).toString("hex");
    got.set(late, []);
    const lateWatch = hub.watch(late, (ev) => got.get(late)!.push(ev.id));
    const sent = new Map<string, string>();
    for (const id of [ids[0]!, ids[120]!, ids[149]!]) {
      const ev = feedback(id, "processing");
      sent.set(id, ev.id);
      expect((await pool.publish(ev)).map((o) => o.ok)).toEqual([true]);
    }
    await lateWatch.ready;
    expect(hub.subscriptions).toBe(2);
    const lateEv = feedback(late, "processing");
    sent.set(late, lateEv.id);
    await pool.publish(lateEv);
    await until(() => [...sent.keys()].every((id) => got.get(id)!.length > 0), 5_000, "the responses");
    // A moment more for any duplicate to show.
    await new Promise((r) => setTimeout(r, 200));
    for (const [id, events] of got) expect(events).toEqual(sent.has(id) ? [sent.get(id)] : []);

    for (const w of [...watches.slice(0, 100), lateWatch]) w.close();
    expect(hub.subscriptions).toBeLessThanOrEqual(1);
    for (const w of watches.slice(100)) w.close();
    expect(hub.subscriptions).toBe(0);
    pool.close();
  });
});
