import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NostrEvent, nowSec, RelayPool } from "../src/index.ts";
import { freePort, PYTHON, startLocalRelay, startNostrRelay, type TestRelay } from "./relays.ts";

let sqliteRelay: TestRelay;
let memRelay: TestRelay;

beforeAll(async () => {
  [sqliteRelay, memRelay] = await Promise.all([startNostrRelay(), startLocalRelay()]);
}, 30_000);

afterAll(async () => {
  await Promise.all([sqliteRelay?.stop(), memRelay?.stop()]);
});

const sk = generateSecretKey();
const note = (content: string): NostrEvent =>
  finalizeEvent({ kind: 5930, tags: [["i", content, "text"]], content: "", created_at: nowSec() }, sk);

const until = async (cond: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("RelayPool", () => {
  it("a relay restarted mid-subscription: events published while it was down arrive after reconnect, once each", async () => {
    const statuses: string[] = [];
    // A slow first reconnect (4.8 s at the earliest, with jitter) makes sure the outage events are
    // published before the pool is back, even when a loaded machine is slow to restart the relay.
    const pool = new RelayPool([sqliteRelay.url, memRelay.url], {
      backoff: { initialMs: 6000, maxMs: 6000 },
      onstatus: (url, s) => statuses.push(`${url === sqliteRelay.url ? "sqlite" : "mem"}:${s}`),
    });
    const got: Array<{ id: string; relay: string }> = [];
    const sub = pool.subscribe([{ kinds: [5930], authors: [getPublicKey(sk)], since: nowSec() - 60 }], {
      onevent: (ev, relay) => got.push({ id: ev.id, relay }),
    });
    expect(await pool.ready(2)).toBe(true);

    const before = note("before the outage");
    const outcomes = await pool.publish(before);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
    await until(() => got.length >= 1, 5_000, "the first event");

    await sqliteRelay.kill();
    await until(() => statuses.includes("sqlite:down"), 5_000, "the pool to see the drop");
    await sqliteRelay.start();

    // Published by another client straight to the restarted relay while our pool is still away.
    const other = new RelayPool([sqliteRelay.url]);
    const during = [note("during the outage 1"), note("during the outage 2")];
    for (const ev of during) expect((await other.publish(ev))[0]).toMatchObject({ ok: true });
    other.close();
    expect(pool.connected()).not.toContain(sqliteRelay.url);

    await until(() => got.length >= 3, 10_000, "the outage events after reconnect");
    await new Promise((r) => setTimeout(r, 500)); // room for any duplicate to show up
    expect(got.map((g) => g.id).sort()).toEqual([before.id, ...during.map((e) => e.id)].sort());
    expect(got.filter((g) => g.id !== before.id).every((g) => g.relay === sqliteRelay.url)).toBe(true);
    expect(statuses.filter((s) => s === "sqlite:open").length).toBe(2);
    sub.close();
    pool.close();
  }, 45_000);

  it("publish reports each relay's verdict and retries an unreachable relay", async () => {
    const dead = `ws://127.0.0.1:${await freePort()}`;
    const pool = new RelayPool([sqliteRelay.url, memRelay.url, dead], {
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const ev = note("fan-out");
    const outcomes = await pool.publish(ev, { timeoutMs: 400, retries: 2 });
    expect(outcomes).toMatchObject([
      { relay: sqliteRelay.url, ok: true, attempts: 1 },
      { relay: memRelay.url, ok: true, attempts: 1 },
      { relay: dead, ok: false, attempts: 3, message: "error: relay not connected" },
    ]);
    // Publishing the same event again is fine: `duplicate:` counts as accepted.
    const again = await pool.publish(ev, { timeoutMs: 400, retries: 0 });
    expect(again.slice(0, 2).every((o) => o.ok)).toBe(true);
    // A relay's definitive refusal is reported, not retried.
    const forged = { ...note("x"), sig: "00".repeat(64) };
    const refused = await new RelayPool([memRelay.url]).publish(forged, { timeoutMs: 2_000, retries: 2 });
    expect(refused[0]).toMatchObject({ ok: false, attempts: 1 });
    pool.close();
  }, 20_000);

  it("a publish during an outage succeeds once the relay is back", async () => {
    const pool = new RelayPool([sqliteRelay.url], { backoff: { initialMs: 100, maxMs: 400 } });
    expect(await pool.ready()).toBe(true);
    await sqliteRelay.kill();
    const pending = pool.publish(note("queued"), { timeoutMs: 3_000, retries: 3 });
    await new Promise((r) => setTimeout(r, 300));
    await sqliteRelay.start();
    const [outcome] = await pending;
    expect(outcome).toMatchObject({ ok: true });
    pool.close();
  }, 30_000);

  it("query collects stored events from every relay without duplicates", async () => {
    const pool = new RelayPool([sqliteRelay.url, memRelay.url]);
    const evs = [note("q1"), note("q2")];
    for (const ev of evs) await pool.publish(ev);
    const found = await pool.query([{ ids: evs.map((e) => e.id) }], 3_000);
    expect(found.map((e) => e.id).sort()).toEqual(evs.map((e) => e.id).sort());
    pool.close();
  });
});

describe("RelayPool against a scripted relay", () => {
  it("drops forged and non-matching events, and re-subscribes with since = last seen − overlap", async () => {
    const port = await freePort();
    const child = spawn(PYTHON, [join(import.meta.dirname, "scripted_relay.py"), String(port)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const frames: Array<{ conn: number; frame: unknown[] }> = [];
    let ready = false;
    createInterface({ input: child.stdout }).on("line", (line) => {
      const msg = JSON.parse(line);
      if (msg.ready) ready = true;
      else frames.push(msg);
    });
    const send = (frame: unknown[]) => child.stdin.write(`${JSON.stringify({ send: frame })}\n`);
    try {
      await until(() => ready, 5_000, "the scripted relay");
      const pool = new RelayPool([`ws://127.0.0.1:${port}`], {
        overlapSec: 7,
        backoff: { initialMs: 100, maxMs: 200 },
      });
      const got: string[] = [];
      let eose = 0;
      const sub = pool.subscribe([{ kinds: [5930], since: 1000 }], {
        onevent: (e) => got.push(e.id),
        oneose: () => eose++,
      });
      await until(() => frames.some((f) => f.frame[0] === "REQ"), 5_000, "the first REQ");
      const req = frames.find((f) => f.frame[0] === "REQ")!.frame;
      const subId = req[1];
      expect(req[2]).toEqual({ kinds: [5930], since: 1000 });

      const at = (created_at: number, kind = 5930) =>
        finalizeEvent({ kind, tags: [], content: String(created_at), created_at }, sk);
      const stored = [at(5000), at(4000)]; // stored events come newest first
      send(["EVENT", subId, { ...at(4500), content: "forged" }]);
      send(["EVENT", subId, at(4600, 1)]);
      send(["EVENT", "someone-elses-sub", at(4700)]);
      for (const ev of stored) send(["EVENT", subId, ev]);
      send(["EVENT", subId, stored[0]]); // the same event again
      send(["EOSE", subId]);
      const live = at(6000);
      send(["EVENT", subId, live]);
      await until(() => got.length === 3 && eose === 1, 5_000, "the stored and live events");
      expect(got).toEqual([stored[0]!.id, stored[1]!.id, live.id]);

      child.stdin.write(`${JSON.stringify({ drop: true })}\n`);
      await until(
        () => frames.filter((f) => f.frame[0] === "REQ").length === 2,
        5_000,
        "the re-subscription",
      );
      const again = frames.filter((f) => f.frame[0] === "REQ")[1]!;
      expect(again.conn).toBe(2);
      expect(again.frame.slice(1)).toEqual([subId, { kinds: [5930], since: 6000 - 7 }]);
      expect(eose).toBe(1);
      sub.close();
      await until(() => frames.some((f) => f.frame[0] === "CLOSE"), 5_000, "CLOSE");
      pool.close();
    } finally {
      child.kill("SIGTERM");
    }
  });
});
