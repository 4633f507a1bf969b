/**
 * The NIP-90 market end to end on loopback: our provider (with the real runner) and our customer,
 * over both independent relays (nostr-relay and nostr-sdk's LocalRelay), with requests from an
 * independent client (nostr-sdk) and payments through the NIP-47 wallet double.
 */
import { rmSync } from "node:fs";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { bytesToHex } from "nostr-tools/utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submitJob } from "../src/customer/index.ts";
import {
  buildJobCancellation,
  encryptFor,
  type Filter,
  type JobFeedback,
  type NostrEvent,
  nowSec,
  parseJobResultContent,
  RelayPool,
  verifyResultFor,
} from "../src/index.ts";
import { localRepo, startTestProvider, type TestProvider } from "./market-fixtures.ts";
import { type Peer, startLocalRelay, startNostrRelay, startPeer, type TestRelay } from "./relays.ts";

let relays: TestRelay[] = [];
let peer: Peer;
const repo = localRepo();

beforeAll(async () => {
  relays = await Promise.all([startNostrRelay(), startLocalRelay()]);
  peer = startPeer();
}, 30_000);

afterAll(async () => {
  await peer?.stop();
  await Promise.all(relays.map((r) => r.stop()));
  rmSync(repo.root, { recursive: true, force: true });
});

const until = async (what: string, check: () => boolean, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Resolves with the first event matching `filter` (stored or live). */
function nextEvent(pool: RelayPool, filter: Filter, timeoutMs = 8_000): Promise<NostrEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no event for ${JSON.stringify(filter)}`)), timeoutMs);
    const sub = pool.subscribe([filter], {
      onevent: (ev) => {
        clearTimeout(t);
        sub.close();
        resolve(ev);
      },
    });
  });
}

describe.each(["nostr-relay", "nostr-sdk"] as const)("market over %s", (relayName) => {
  let url: string;
  let free: TestProvider;
  let customerPool: RelayPool;
  const customer = generateSecretKey();

  beforeAll(async () => {
    url = relays.find((r) => r.name === relayName)!.url;
    free = await startTestProvider({ relays: [url], allowRoot: repo.root, maxJobs: 2 });
    customerPool = new RelayPool([url], { backoff: { initialMs: 100, maxMs: 1_000 } });
    await customerPool.ready();
  }, 30_000);

  afterAll(async () => {
    customerPool?.close();
    await free?.stop();
  });

  it("runs a free compute job through the real runner and returns a verified result", async () => {
    const feedback: JobFeedback[] = [];
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool: customerPool,
      kind: 5930,
      job: { repo: repo.url, instructions: "echo hello" },
      provider: free.provider.pubkey,
      timeoutMs: 30_000,
      onFeedback: (fb) => feedback.push(fb),
    });
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}\n${free.logs.join("\n")}`);
    expect(r.value.content).toMatchObject({ ok: true, exitCode: 0 });
    expect(r.value.content.log).toBe("hello");
    expect(r.value.provider).toBe(free.provider.pubkey);
    expect(r.value.paidMsats).toBe(0);
    expect(feedback.map((f) => f.status)).toContain("processing");
    // The customer can see the result before the provider has read the relay's OK for it.
    await until("delivery recorded", () => free.store.get(r.value.request.id)?.state === "done");
    const job = free.store.get(r.value.request.id)!;
    expect(job).toMatchObject({ state: "done", attempts: 1, ok: true, exitCode: 0 });
  });

  it("serves a request built and signed by nostr-sdk, and nostr-sdk reads the result", async () => {
    const sdkCustomer = generateSecretKey();
    const sent = await peer.call<{ event: NostrEvent }>("job_request", {
      secret: bytesToHex(sdkCustomer),
      kind: 5930,
      tags: [
        ["i", repo.url, "url"],
        ["i", "echo from-sdk", "text"],
        ["p", free.provider.pubkey],
      ],
      relays: [url],
    });
    const got = await nextEvent(customerPool, { kinds: [6930], "#e": [sent.event.id] }, 20_000);
    const verified = verifyResultFor(sent.event, got, free.provider.pubkey);
    if (!verified.ok) throw new Error(verified.error.message);
    expect(parseJobResultContent(verified.value.content)).toMatchObject({
      ok: true,
      value: { log: "from-sdk" },
    });
    const { events } = await peer.call<{
      events: Array<{ describe: { verified: boolean; is_job_result: boolean } }>;
    }>("fetch", { relays: [url], filter: { ids: [got.id] } });
    expect(events[0]?.describe).toMatchObject({ verified: true, is_job_result: true });
  });

  it.each(["nip44", "nip04"] as const)(
    "opens a %s-encrypted request and encrypts the result",
    async (scheme) => {
      const r = await submitJob({
        secretKey: customer,
        relays: [url],
        pool: customerPool,
        kind: 5930,
        job: { repo: repo.url, instructions: "echo secret-job" },
        provider: free.provider.pubkey,
        encrypt: scheme,
        timeoutMs: 30_000,
      });
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value.result.encryption).toBe(scheme);
      expect(r.value.result.event.content).not.toContain("secret-job");
      expect(r.value.request.tags.flat()).not.toContain("echo secret-job");
      expect(r.value.content.log).toBe("secret-job");
    },
  );

  it("queues beyond --max-jobs with feedback and runs every job once", async () => {
    const feedback: JobFeedback[] = [];
    const runs = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        submitJob({
          secretKey: customer,
          relays: [url],
          pool: customerPool,
          kind: 5930,
          job: { repo: repo.url, instructions: `sleep 0.5; echo job-${n}` },
          provider: free.provider.pubkey,
          timeoutMs: 30_000,
          onFeedback: (fb) => feedback.push(fb),
        }),
      ),
    );
    expect(runs.map((r) => (r.ok ? r.value.content.log : r.error.message))).toEqual([
      "job-1",
      "job-2",
      "job-3",
      "job-4",
    ]);
    expect(
      feedback.some((f) => f.status === "processing" && /^queued: [1-9]? ?\d* ?job/.test(f.extraInfo ?? "")),
    ).toBe(true);
    for (const r of runs) if (r.ok) expect(free.store.get(r.value.request.id)?.attempts).toBe(1);
  });

  it("sends throttled partial feedback while the job runs", async () => {
    const feedback: JobFeedback[] = [];
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool: customerPool,
      kind: 5930,
      job: { repo: repo.url, instructions: "for i in 1 2 3 4 5 6 7 8; do echo line$i; sleep 0.2; done" },
      provider: free.provider.pubkey,
      timeoutMs: 30_000,
      onFeedback: (fb) => feedback.push(fb),
    });
    if (!r.ok) throw new Error(r.error.message);
    const partials = feedback.filter((f) => f.status === "partial");
    // 1.6 s of output at one partial per 300 ms: a handful, never one per line burst.
    expect(partials.length).toBeGreaterThanOrEqual(2);
    expect(partials.length).toBeLessThanOrEqual(8);
    expect(partials.map((p) => p.content).join("\n")).toContain("line1");
    const times = partials.map((p) => p.event.created_at);
    expect(times).toEqual([...times].sort());
    expect(r.value.content.log).toBe("line1\nline2\nline3\nline4\nline5\nline6\nline7\nline8");
  });

  it("reports a failing script as error feedback plus a result with its log and exit code", async () => {
    const feedback: JobFeedback[] = [];
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool: customerPool,
      kind: 5930,
      job: { repo: repo.url, instructions: "echo about-to-fail; exit 3" },
      provider: free.provider.pubkey,
      timeoutMs: 30_000,
      onFeedback: (fb) => feedback.push(fb),
    });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.content).toMatchObject({ ok: false, exitCode: 3, log: "about-to-fail" });
    await until("error feedback", () => feedback.some((f) => f.status === "error"));
    await until("failed state", () => free.store.get(r.value.request.id)?.state === "failed");
  });

  it("ignores duplicates, stale requests and requests for another provider; refuses local repos outside the allowlist", async () => {
    const publishRequest = async (tags: string[][], createdAt = nowSec()) => {
      const ev = finalizeEvent({ kind: 5930, tags, content: "", created_at: createdAt }, customer);
      expect((await customerPool.publish(ev))[0]?.ok).toBe(true);
      return ev;
    };
    const me = free.provider.pubkey;
    const stale = await publishRequest(
      [
        ["i", "echo stale", "text"],
        ["i", repo.url, "url"],
        ["p", me],
      ],
      nowSec() - 3_600,
    );
    const other = await publishRequest([
      ["i", "echo other", "text"],
      ["i", repo.url, "url"],
      ["p", getPublicKey(generateSecretKey())],
    ]);
    const local = await publishRequest([
      ["i", "cat /etc/passwd", "text"],
      ["i", "file:///etc", "url"],
      ["p", me],
    ]);
    const dotdot = await publishRequest([
      ["i", "echo x", "text"],
      ["i", `${repo.url}/../../..`, "url"],
      ["p", me],
    ]);
    const good = await publishRequest([
      ["i", "echo once", "text"],
      ["i", repo.url, "url"],
      ["p", me],
    ]);
    await until("the good job", () => free.store.get(good.id)?.state === "done");
    // The same request again (a relay replay, or a second relay): never run twice.
    await customerPool.publish(good);
    await until(
      "refusals",
      () => free.store.get(local.id)?.state === "refused" && free.store.get(dotdot.id)?.state === "refused",
    );
    await new Promise((r) => setTimeout(r, 800));
    expect(free.store.has(stale.id)).toBe(false);
    expect(free.store.has(other.id)).toBe(false);
    expect(free.store.get(local.id)?.error).toMatch(/local repositories/);
    expect(free.store.get(good.id)?.attempts).toBe(1);
    const results = await customerPool.query([{ kinds: [6930], "#e": [good.id] }]);
    expect(results).toHaveLength(1);
    const errors = await customerPool.query([{ kinds: [7000], "#e": [local.id] }]);
    expect(errors.map((e) => e.tags.find((t) => t[0] === "status")?.[1])).toEqual(["error"]);
  });

  it("survives malformed events of every field type and keeps serving", async () => {
    const me = free.provider.pubkey;
    const sealed = (plaintext: string) => encryptFor("nip44", customer, me, plaintext);
    const bad: Array<{ tags: string[][]; content?: string }> = [
      { tags: [["i"]] },
      { tags: [["i", "x", "bogus"]] },
      {
        tags: [
          ["i", "not a url", "url"],
          ["i", "echo", "text"],
        ],
      },
      { tags: [["i", "zz", "job"]] },
      {
        tags: [
          ["i", "a".repeat(64), "job"],
          ["i", "echo", "text"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["bid", "abc"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["bid", "-5"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["bid", "99999999999999999999"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["relays", "http://nope"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["p", "nothex"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["expiration", "soon"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["param", "timeout"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["param", "timeout", "-1"],
        ],
      },
      {
        tags: [
          ["i", "echo", "text"],
          ["param", "agent", "rm -rf /"],
        ],
      },
      {
        tags: [
          ["i", "echo a", "text"],
          ["i", "echo b", "text"],
        ],
      },
      { tags: [] },
      { tags: [["p", me], ["encrypted"]], content: "garbage" },
      { tags: [["p", me], ["encrypted"]], content: sealed("not json") },
      { tags: [["p", me], ["encrypted"]], content: sealed('{"a":1}') },
      { tags: [["p", me], ["encrypted"]], content: sealed("[[1,2],3]") },
      { tags: [["p", me], ["p", me], ["encrypted"]], content: sealed("[]") },
      { tags: [["i", "echo", "text"], ["output"]] },
      { tags: [["i", "\u0000", "text"]] },
    ];
    const ids: string[] = [];
    for (const b of bad) {
      const ev = finalizeEvent(
        { kind: 5930, tags: b.tags, content: b.content ?? "", created_at: nowSec() },
        customer,
      );
      ids.push(ev.id);
      await customerPool.publish(ev, { retries: 0 });
    }
    // Frames that are not events at all, straight onto the relay.
    const ws = new WebSocket(url);
    await new Promise((r) => ws.addEventListener("open", r, { once: true }));
    for (const frame of [
      ["EVENT", { kind: 5930 }],
      ["EVENT", { id: 1, pubkey: null, kind: "5930", tags: "x", content: 5, sig: [] }],
      [
        "EVENT",
        {
          ...finalizeEvent(
            { kind: 5930, tags: [["i", "echo forged", "text"]], content: "", created_at: nowSec() },
            customer,
          ),
          sig: "0".repeat(128),
        },
      ],
    ]) {
      ws.send(JSON.stringify(frame));
    }
    ws.close();
    const r = await submitJob({
      secretKey: customer,
      relays: [url],
      pool: customerPool,
      kind: 5930,
      job: { repo: repo.url, instructions: "echo still-alive" },
      provider: me,
      timeoutMs: 30_000,
    });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.content.log).toBe("still-alive");
    expect(free.logs.filter((l) => l.startsWith("internal error"))).toEqual([]);
    // Nothing malformed was run.
    for (const id of ids) expect(free.store.get(id)?.attempts ?? 0).toBe(0);
  });

  it("stops a running job when the customer cancels it (NIP-09)", async () => {
    const controller = new AbortController();
    let requestEv: NostrEvent | undefined;
    const pending = submitJob({
      secretKey: customer,
      relays: [url],
      pool: customerPool,
      kind: 5930,
      job: { repo: repo.url, instructions: "sleep 20; echo never" },
      provider: free.provider.pubkey,
      timeoutMs: 30_000,
      signal: controller.signal,
      onRequest: (ev) => {
        requestEv = ev;
      },
    });
    await until(
      "job running",
      () => requestEv !== undefined && free.store.get(requestEv.id)?.state === "running",
    );
    const del = buildJobCancellation(
      { id: requestEv!.id, kind: 5930, customer: getPublicKey(customer) },
      customer,
    );
    if (!del.ok) throw new Error(del.error.message);
    await customerPool.publish(del.value);
    await until("job cancelled", () => free.store.get(requestEv!.id)?.state === "cancelled", 10_000);
    controller.abort();
    expect((await pending).ok).toBe(false);
  });

  it("delivers the result when the relay restarts in the middle of the job", async () => {
    const relay = relays.find((r) => r.name === relayName)!;
    let requestEv: NostrEvent | undefined;
    const pending = submitJob({
      secretKey: customer,
      relays: [url],
      pool: customerPool,
      kind: 5930,
      job: { repo: repo.url, instructions: "sleep 2; echo survived" },
      provider: free.provider.pubkey,
      timeoutMs: 60_000,
      onRequest: (ev) => {
        requestEv = ev;
      },
    });
    await until(
      "job running",
      () => requestEv !== undefined && free.store.get(requestEv.id)?.state === "running",
    );
    await relay.kill();
    await new Promise((r) => setTimeout(r, 500));
    await relay.start();
    const r = await pending;
    if (!r.ok) throw new Error(`${r.error.message}\n${free.logs.join("\n")}`);
    expect(r.value.content.log).toBe("survived");
    // The customer can see the result before the provider has read the relay's OK for it.
    await until("delivery recorded", () => free.store.get(r.value.request.id)?.state === "done");
    expect(free.store.get(r.value.request.id)).toMatchObject({ state: "done", attempts: 1 });
  }, 90_000);
});
