/**
 * Interop with an independent implementation (rust-nostr's nostr-sdk, from Python), both ways, over
 * both independent relays (nostr-relay and nostr-sdk's LocalRelay).
 */
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { bytesToHex } from "nostr-tools/utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildJobFeedback,
  buildJobRequest,
  buildJobResult,
  codingJobTags,
  decryptFrom,
  encryptFor,
  type Filter,
  type NostrEvent,
  nowSec,
  parseJobFeedback,
  parseJobRequest,
  RelayPool,
  verifyResultFor,
} from "../src/index.ts";
import { type Peer, startLocalRelay, startNostrRelay, startPeer, type TestRelay } from "./relays.ts";

interface Described {
  verified: boolean;
  kind: number;
  is_job_request: boolean;
  is_job_result: boolean;
  status: { status: string; extra: string | null } | null;
  tags: Array<{ raw: string[]; std: string | null; value?: string }>;
  author: string;
  id: string;
}

let relays: TestRelay[] = [];
let peer: Peer;

beforeAll(async () => {
  relays = await Promise.all([startNostrRelay(), startLocalRelay()]);
  peer = startPeer();
}, 30_000);

afterAll(async () => {
  await peer?.stop();
  await Promise.all(relays.map((r) => r.stop()));
});

/** Resolves with the first event matching `filter` on `pool` (stored or live). */
function next(pool: RelayPool, filter: Filter, timeoutMs = 8_000): Promise<NostrEvent> {
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

/** How nostr-sdk standardised the first `name` tag, and the id or key it read from it. */
const tagStd = (d: Described, name: string) => {
  const t = d.tags.find((x) => x.raw[0] === name);
  return t && `${t.std}:${t.value ?? ""}`;
};

describe.each(["nostr-relay", "nostr-sdk"] as const)("interop over %s", (relayName) => {
  let pool: RelayPool;
  let url: string;
  const customer = generateSecretKey();
  const provider = generateSecretKey();
  const providerPk = getPublicKey(provider);
  const customerHex = bytesToHex(customer);
  const providerHex = bytesToHex(provider);

  beforeAll(async () => {
    url = relays.find((r) => r.name === relayName)!.url;
    pool = new RelayPool([url]);
    expect(await pool.ready()).toBe(true);
  });
  afterAll(() => pool.close());

  const fetchDescribed = async (id: string): Promise<Described> => {
    const { events } = await peer.call<{ events: Array<{ describe: Described }> }>("fetch", {
      relays: [url],
      filter: { ids: [id] },
    });
    expect(events).toHaveLength(1);
    return events[0]!.describe;
  };

  it("a request built and signed by nostr-sdk is parsed by our nip90", async () => {
    const tags = [
      ["i", "https://github.com/acme/app.git", "url"],
      ["i", "Make the tests pass", "text"],
      ["param", "ref", "main"],
      ["bid", "42000"],
      ["relays", url],
      ["p", providerPk],
    ];
    const sent = await peer.call<{ event: NostrEvent }>("job_request", {
      secret: customerHex,
      kind: 5932,
      tags,
      relays: [url],
    });
    const got = await next(pool, { ids: [sent.event.id] });
    const req = parseJobRequest(got);
    expect(req).toMatchObject({
      ok: true,
      value: {
        kind: 5932,
        customer: getPublicKey(customer),
        inputs: [
          { value: "https://github.com/acme/app.git", type: "url" },
          { value: "Make the tests pass", type: "text" },
        ],
        params: [{ name: "ref", value: "main" }],
        bidMsats: 42000,
        relays: [url],
        providers: [providerPk],
      },
    });
  });

  it("our request, feedback and result are understood by nostr-sdk", async () => {
    const built = buildJobRequest(
      {
        kind: 5932,
        ...codingJobTags({ repo: "https://github.com/acme/app.git", instructions: "Add docs" }),
        bidMsats: 1000,
      },
      customer,
    );
    if (!built.ok) throw new Error(built.error.message);
    expect((await pool.publish(built.value))[0]).toMatchObject({ ok: true });
    const d = await fetchDescribed(built.value.id);
    expect(d).toMatchObject({
      verified: true,
      kind: 5932,
      is_job_request: true,
      author: getPublicKey(customer),
    });

    const req = parseJobRequest(built.value);
    if (!req.ok) throw new Error(req.error.message);
    const fb = buildJobFeedback(
      req.value,
      { status: "payment-required", extraInfo: "pay first", amount: { msats: 1000, bolt11: "lnbcrt10n1qq" } },
      provider,
    );
    if (!fb.ok) throw new Error(fb.error.message);
    expect((await pool.publish(fb.value))[0]!.ok).toBe(true);
    const fd = await fetchDescribed(fb.value.id);
    expect(fd).toMatchObject({
      verified: true,
      kind: 7000,
      status: { status: "PAYMENT_REQUIRED", extra: "pay first" },
    });
    expect(tagStd(fd, "e")).toBe(`EVENT_TAG:${built.value.id}`);
    expect(tagStd(fd, "p")).toBe(`PUBLIC_KEY_TAG:${getPublicKey(customer)}`);

    const res = buildJobResult(
      req.value,
      { content: JSON.stringify({ ok: true, summary: "docs", exitCode: 0 }) },
      provider,
    );
    if (!res.ok) throw new Error(res.error.message);
    expect((await pool.publish(res.value))[0]!.ok).toBe(true);
    const rd = await fetchDescribed(res.value.id);
    expect(rd).toMatchObject({ verified: true, kind: 6932, is_job_result: true, author: providerPk });
    expect(tagStd(rd, "e")).toBe(`EVENT_TAG:${built.value.id}`);
    expect(tagStd(rd, "p")).toBe(`PUBLIC_KEY_TAG:${getPublicKey(customer)}`);
  });

  it("nostr-sdk's feedback and result for our request pass parseJobFeedback and verifyResultFor", async () => {
    const built = buildJobRequest(
      { kind: 5933, inputs: [{ value: "Review", type: "text" }], providers: [providerPk] },
      customer,
    );
    if (!built.ok) throw new Error(built.error.message);
    await pool.publish(built.value);
    const json = JSON.stringify(built.value);

    const fb = await peer.call<{ event: NostrEvent }>("job_feedback", {
      secret: providerHex,
      request: json,
      status: "processing",
      extra: "cloning",
      relays: [url],
    });
    const gotFb = await next(pool, { ids: [fb.event.id] });
    expect(parseJobFeedback(gotFb)).toMatchObject({
      ok: true,
      value: { status: "processing", extraInfo: "cloning", requestId: built.value.id, provider: providerPk },
    });

    const content = JSON.stringify({ ok: true, summary: "LGTM", report: "# ok", exitCode: 0 });
    const res = await peer.call<{ event: NostrEvent }>("job_result", {
      secret: providerHex,
      request: json,
      payload: content,
      msats: 500,
      bolt11: "lnbcrt5n1qq",
      relays: [url],
    });
    const gotRes = await next(pool, { ids: [res.event.id] });
    expect(verifyResultFor(built.value, gotRes, providerPk)).toMatchObject({
      ok: true,
      value: { content, amount: { msats: 500, bolt11: "lnbcrt5n1qq" }, request: { id: built.value.id } },
    });
    // The same genuine nostr-sdk result, checked against another of our requests, is refused.
    const other = buildJobRequest({ kind: 5933, inputs: [{ value: "Other", type: "text" }] }, customer);
    if (!other.ok) throw new Error(other.error.message);
    expect(verifyResultFor(other.value, gotRes, providerPk)).toMatchObject({
      ok: false,
      error: { code: "forbidden" },
    });
  });

  for (const scheme of ["nip44", "nip04"] as const) {
    it(`${scheme}: an encrypted request from nostr-sdk opens here; our encrypted result opens there`, async () => {
      const secretTags = [
        ["i", "https://github.com/acme/app.git", "url"],
        ["i", "secret prompt", "text"],
        ["param", "agent", "shell"],
      ];
      const { payload } = await peer.call<{ payload: string }>("encrypt", {
        scheme,
        secret: customerHex,
        pubkey: providerPk,
        text: JSON.stringify(secretTags),
      });
      const sent = await peer.call<{ event: NostrEvent }>("job_request", {
        secret: customerHex,
        kind: 5932,
        tags: [["p", providerPk], ["encrypted"]],
        content: payload,
        relays: [url],
      });
      const got = await next(pool, { ids: [sent.event.id] });
      const req = parseJobRequest(got, { secretKey: provider });
      expect(req).toMatchObject({
        ok: true,
        value: { encryption: scheme, sealed: false, params: [{ name: "agent", value: "shell" }] },
      });
      if (!req.ok) return;
      expect(req.value.inputs.map((i) => i.value)).toEqual([
        "https://github.com/acme/app.git",
        "secret prompt",
      ]);

      const content = JSON.stringify({ ok: true, summary: "secret result", exitCode: 0 });
      const res = buildJobResult(req.value, { content }, provider, nowSec());
      if (!res.ok) throw new Error(res.error.message);
      await pool.publish(res.value);
      const d = await fetchDescribed(res.value.id);
      expect(d.verified).toBe(true);
      const { text } = await peer.call<{ text: string }>("decrypt", {
        scheme,
        secret: customerHex,
        pubkey: providerPk,
        payload: res.value.content,
      });
      expect(text).toBe(content);
    });
  }
});

describe("payload crypto against nostr-sdk (no relay involved)", () => {
  it("NIP-44 and NIP-04 payloads cross both ways", async () => {
    const a = generateSecretKey();
    const b = generateSecretKey();
    for (const scheme of ["nip44", "nip04"] as const) {
      const text = `ünïcode ⚡ ${scheme} ${"x".repeat(300)}`;
      const ours = encryptFor(scheme, a, getPublicKey(b), text);
      const theirsRead = await peer.call<{ text: string }>("decrypt", {
        scheme,
        secret: bytesToHex(b),
        pubkey: getPublicKey(a),
        payload: ours,
      });
      expect(theirsRead.text).toBe(text);
      const { payload } = await peer.call<{ payload: string }>("encrypt", {
        scheme,
        secret: bytesToHex(b),
        pubkey: getPublicKey(a),
        text,
      });
      expect(decryptFrom(a, getPublicKey(b), payload)).toEqual({
        ok: true,
        value: { scheme, plaintext: text },
      });
    }
  });
});
