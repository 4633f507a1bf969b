import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { describe, expect, it } from "vitest";
import { nowSec } from "./event.ts";
import { bolt11AmountMsats, parseNwcUri, parseWalletInfo } from "./nip47.ts";
import {
  buildAnnouncement,
  buildPing,
  buildPong,
  type HandlerInfo,
  isLive,
  isPing,
  parseAnnouncement,
  parsePong,
} from "./nip89.ts";
import { parseJobRequest } from "./nip90.ts";

const info: HandlerInfo = {
  name: "openagents provider",
  about: "Coding agents on demand",
  skills: ["code", "analysis"],
  pricing: { "5932": 50_000, "5933": 20_000 },
  encryption: ["nip44", "nip04"],
  maxJobs: 2,
};

describe("NIP-89 announcements and liveness", () => {
  const sk = generateSecretKey();
  it("round trips with k tags, status and expiration", () => {
    const ev = buildAnnouncement(info, sk, { d: "oa", kinds: [5932, 5933], ttlSec: 120, createdAt: 1000 });
    if (!ev.ok) throw new Error(ev.error.message);
    expect(ev.value.kind).toBe(31990);
    expect(ev.value.tags).toEqual([
      ["d", "oa"],
      ["k", "5932"],
      ["k", "5933"],
      ["status", "online"],
      ["expiration", "1120"],
    ]);
    const a = parseAnnouncement(ev.value);
    expect(a).toMatchObject({
      ok: true,
      value: { d: "oa", kinds: [5932, 5933], info, status: "online", expiresAt: 1120 },
    });
    if (!a.ok) return;
    expect(isLive(a.value, 1119)).toBe(true);
    expect(isLive(a.value, 1120)).toBe(false);
  });
  it("an offline heartbeat or an old announcement without expiration is not live", () => {
    const off = buildAnnouncement(info, sk, { d: "oa", kinds: [5932], status: "offline" });
    const a = off.ok ? parseAnnouncement(off.value) : off;
    expect(a.ok && isLive(a.value)).toBe(false);
    expect(isLive({ status: "unknown", createdAt: nowSec() - 10 })).toBe(true);
    expect(isLive({ status: "unknown", createdAt: nowSec() - 10_000 })).toBe(false);
  });
  it("rejects malformed announcements precisely", () => {
    const bad = (tags: string[][], content: string) =>
      parseAnnouncement(finalizeEvent({ kind: 31990, tags, content, created_at: 1 }, sk));
    expect(bad([["k", "5932"]], JSON.stringify(info))).toMatchObject({ ok: false, error: { path: "tags" } });
    expect(
      bad(
        [
          ["d", "x"],
          ["k", "1"],
        ],
        JSON.stringify(info),
      ),
    ).toMatchObject({ ok: false, error: { path: "tags[1][1]" } });
    expect(bad([["d", "x"]], "{")).toMatchObject({ ok: false, error: { path: "content" } });
    expect(bad([["d", "x"]], JSON.stringify({ ...info, pricing: { "5932": -1 } }))).toMatchObject({
      ok: false,
      error: { path: "content.pricing.5932" },
    });
    expect(bad([["d", "x"]], JSON.stringify({ ...info, encryption: ["rot13"] }))).toMatchObject({
      ok: false,
      error: { path: "content.encryption" },
    });
  });
});

describe("pings", () => {
  const customer = generateSecretKey();
  const provider = generateSecretKey();
  it("ping → pong with load; feedback from someone else is not a pong", () => {
    const ping = buildPing(getPublicKey(provider), 5932, customer);
    if (!ping.ok) throw new Error(ping.error.message);
    const req = parseJobRequest(ping.value, { secretKey: provider });
    if (!req.ok) throw new Error(req.error.message);
    expect(isPing(req.value)).toBe(true);
    expect(req.value.expiration).toBeGreaterThan(nowSec());
    const pong = buildPong(req.value, provider, { activeJobs: 1, maxJobs: 4 });
    if (!pong.ok) throw new Error(pong.error.message);
    expect(parsePong(pong.value, ping.value)).toMatchObject({
      ok: true,
      value: { load: { activeJobs: 1, maxJobs: 4 } },
    });
    const impostor = buildPong(req.value, generateSecretKey(), { activeJobs: 0, maxJobs: 9 });
    if (!impostor.ok) throw new Error(impostor.error.message);
    expect(parsePong(impostor.value, ping.value)).toMatchObject({ ok: false, error: { path: "pubkey" } });
  });
});

describe("NIP-47 pieces", () => {
  const pk = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4";
  const secret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";
  it("parses a connection URI", () => {
    const r = parseNwcUri(
      `nostr+walletconnect://${pk}?relay=wss%3A%2F%2Frelay.example.com&relay=ws://127.0.0.1:7&secret=${secret}&lud16=a@b.c`,
    );
    expect(r).toMatchObject({
      ok: true,
      value: { walletPubkey: pk, relays: ["wss://relay.example.com", "ws://127.0.0.1:7"], lud16: "a@b.c" },
    });
  });
  it("rejects broken URIs with the field at fault", () => {
    expect(parseNwcUri("https://x")).toMatchObject({ ok: false, error: { path: "uri" } });
    expect(parseNwcUri(`nostr+walletconnect://abc?relay=wss://r&secret=${secret}`)).toMatchObject({
      ok: false,
      error: { path: "uri.pubkey" },
    });
    expect(parseNwcUri(`nostr+walletconnect://${pk}?secret=${secret}`)).toMatchObject({
      ok: false,
      error: { path: "uri.relay" },
    });
    expect(parseNwcUri(`nostr+walletconnect://${pk}?relay=https://r&secret=${secret}`)).toMatchObject({
      ok: false,
      error: { path: "uri.relay" },
    });
    expect(parseNwcUri(`nostr+walletconnect://${pk}?relay=wss://r&secret=xyz`)).toMatchObject({
      ok: false,
      error: { path: "uri.secret" },
    });
  });
  it("reads the wallet's encryption support (absent tag → NIP-04 only)", () => {
    const sk = generateSecretKey();
    const ev = (tags: string[][]) =>
      finalizeEvent({ kind: 13194, tags, content: "pay_invoice get_balance", created_at: 1 }, sk);
    expect(parseWalletInfo(ev([["encryption", "nip44_v2 nip04"]]))).toMatchObject({
      ok: true,
      value: { encryption: ["nip44", "nip04"] },
    });
    expect(parseWalletInfo(ev([]))).toMatchObject({
      ok: true,
      value: { encryption: ["nip04"], methods: ["pay_invoice", "get_balance"] },
    });
  });
  it("reads bolt11 amounts", () => {
    expect(
      bolt11AmountMsats("lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypq"),
    ).toBe(250_000_000);
    expect(bolt11AmountMsats("lnbcrt210p1qqqq")).toBe(21);
    expect(bolt11AmountMsats("lntb20m1qqqq")).toBe(2_000_000_000);
    expect(bolt11AmountMsats("lnbc1pvjluez")).toBeUndefined();
    expect(bolt11AmountMsats("lnbc15p1qq")).toBeUndefined();
    expect(bolt11AmountMsats("not an invoice")).toBeUndefined();
  });
});
