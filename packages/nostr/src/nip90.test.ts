import * as nip44 from "nostr-tools/nip44";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { bytesToHex, hexToBytes } from "nostr-tools/utils";
import { describe, expect, it } from "vitest";
import { decryptFrom, detectScheme, encryptFor } from "./encryption.ts";
import type { NostrEvent } from "./event.ts";
import { codingJobTags, parseJobResultContent, readCodingJob, resolveJobKinds } from "./job-types.ts";
import { buildJobRequest, type JobRequest, parseJobRequest } from "./nip90.ts";
import vectors from "./nip90.vectors.json" with { type: "json" };
import {
  buildJobCancellation,
  buildJobFeedback,
  buildJobResult,
  isCancellationOf,
  parseJobFeedback,
  parseJobResult,
  verifyResultFor,
} from "./nip90-responses.ts";

const customer = hexToBytes(vectors.keys.customer);
const provider = hexToBytes(vectors.keys.provider);
const other = hexToBytes(vectors.keys.other);
const providerPk = vectors.keys.providerPubkey;
const NOW = 1_800_000_000;

type Template = { kind: number; content: string; tags: string[][] };
const sign = (t: Template, sk = customer): NostrEvent => finalizeEvent({ ...t, created_at: NOW }, sk);

function mustRequest(ev: NostrEvent, secretKey?: Uint8Array): JobRequest {
  const r = parseJobRequest(ev, secretKey ? { secretKey } : {});
  if (!r.ok) throw new Error(`${r.error.path}: ${r.error.message}`);
  return r.value;
}

describe("job request vectors", () => {
  for (const v of vectors.requests.valid) {
    it(`parses: ${v.name}`, () => {
      const req = mustRequest(sign(v.template));
      expect(req).toMatchObject(v.expect);
      expect(req.customer).toBe(vectors.keys.customerPubkey);
    });
  }
  for (const v of vectors.requests.invalid) {
    it(`rejects: ${v.name}`, () => {
      const r = parseJobRequest(sign(v.template));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe("invalid_request");
      expect(r.error.path).toBe(v.path);
      expect(r.error.message).toContain(v.message);
    });
  }
});

describe("event shape vectors (every field type)", () => {
  const good = sign(vectors.requests.valid[0]!.template);
  for (const v of vectors.events.invalid) {
    it(`rejects: ${v.name}`, () => {
      const input = "replace" in v ? v.replace : { ...good, ...v.patch };
      for (const parse of [parseJobRequest, parseJobFeedback, parseJobResult]) {
        const r = parse(input);
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.error.path).toBe(v.path);
        expect(r.error.message).toContain(v.message);
        expect(r.error.code).toBe("code" in v ? v.code : "invalid_request");
      }
    });
  }
  it("never throws on junk", () => {
    for (const junk of [undefined, 0, "x", [], [1], { tags: [null] }, { id: {}, tags: "x" }, Symbol("s")]) {
      expect(() => parseJobRequest(junk)).not.toThrow();
      expect(() => parseJobFeedback(junk)).not.toThrow();
      expect(() => parseJobResult(junk)).not.toThrow();
      expect(() => verifyResultFor(good, junk)).not.toThrow();
    }
  });
});

describe("build → parse round trips", () => {
  const job = codingJobTags({
    repo: "https://github.com/acme/app.git",
    instructions: "Add a README",
    ref: "dev",
    agent: "codex",
    timeoutSec: 900,
  });

  it("request in clear", () => {
    const built = buildJobRequest(
      { kind: 5932, ...job, bidMsats: 1000, relays: ["ws://127.0.0.1:1"], output: "application/json" },
      customer,
      NOW,
    );
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    const req = mustRequest(built.value);
    expect(req).toMatchObject({
      kind: 5932,
      inputs: job.inputs,
      params: job.params,
      bidMsats: 1000,
      encryption: null,
    });
    expect(readCodingJob(req, "code")).toEqual({
      ok: true,
      value: {
        repo: "https://github.com/acme/app.git",
        instructions: "Add a README",
        ref: "dev",
        agent: "codex",
        timeoutSec: 900,
      },
    });
  });

  for (const scheme of ["nip44", "nip04"] as const) {
    it(`encrypted request and result (${scheme})`, () => {
      const built = buildJobRequest(
        { kind: 5932, ...job, providers: [providerPk], encrypt: scheme },
        customer,
        NOW,
      );
      if (!built.ok) throw new Error(built.error.message);
      const ev = built.value;
      expect(ev.tags).toContainEqual(["encrypted"]);
      expect(ev.tags.some((t) => t[0] === "i" || t[0] === "param")).toBe(false);
      expect(detectScheme(ev.content)).toBe(scheme);
      // Without a key: sealed; the provider and the customer can both open it; a third key cannot.
      expect(mustRequest(ev)).toMatchObject({ sealed: true, inputs: [], encryption: scheme });
      const opened = mustRequest(ev, provider);
      expect(opened).toMatchObject({
        sealed: false,
        inputs: job.inputs,
        params: job.params,
        encryption: scheme,
      });
      expect(mustRequest(ev, customer).inputs).toEqual(job.inputs);
      const stranger = parseJobRequest(ev, { secretKey: other });
      expect(stranger.ok || stranger.error.code).toBe("forbidden");

      const content = JSON.stringify({ ok: true, summary: "done", patch: "diff", exitCode: 0 });
      const res = buildJobResult(opened, { content, amount: { msats: 5000 } }, provider, NOW);
      if (!res.ok) throw new Error(res.error.message);
      expect(res.value.content).not.toContain("diff");
      expect(res.value.tags.some((t) => t[0] === "i")).toBe(false);
      const verified = verifyResultFor(ev, res.value, providerPk, { secretKey: customer });
      if (!verified.ok) throw new Error(verified.error.message);
      expect(verified.value).toMatchObject({
        content,
        encryption: scheme,
        amount: { msats: 5000 },
        requestId: ev.id,
      });
      expect(parseJobResultContent(verified.value.content).ok).toBe(true);

      const fb = buildJobFeedback(opened, { status: "partial", content: "half" }, provider, NOW);
      if (!fb.ok) throw new Error(fb.error.message);
      expect(fb.value.content).not.toBe("half");
      expect(parseJobFeedback(fb.value, { secretKey: customer })).toMatchObject({
        ok: true,
        value: { content: "half", encryption: scheme },
      });
    });
  }

  it("refuses to build what it could not parse", () => {
    expect(buildJobRequest({ kind: 7000, inputs: [] }, customer).ok).toBe(false);
    expect(buildJobRequest({ kind: 5932, inputs: [{ value: "nope", type: "job" }] }, customer)).toMatchObject(
      {
        ok: false,
        error: { path: "tags[0][1]" },
      },
    );
    expect(buildJobRequest({ kind: 5932, inputs: [], encrypt: "nip44" }, customer)).toMatchObject({
      ok: false,
      error: { path: "providers" },
    });
    expect(buildJobRequest({ kind: 5932, inputs: [], bidMsats: -1 }, customer).ok).toBe(false);
  });
});

describe("feedback vectors", () => {
  for (const v of vectors.feedback.valid) {
    it(`parses: ${v.name}`, () => {
      const r = parseJobFeedback(sign(v.template, provider));
      expect(r).toMatchObject({ ok: true, value: { ...v.expect, provider: providerPk } });
    });
  }
  for (const v of vectors.feedback.invalid) {
    it(`rejects: ${v.name}`, () => {
      const r = parseJobFeedback(sign({ kind: 7000, content: "", tags: v.tags }, provider));
      expect(r).toMatchObject({ ok: false, error: { code: "invalid_request", path: v.path } });
      if (!r.ok) expect(r.error.message).toContain(v.message);
    });
  }
  it("emits the spec's payment-required spelling", () => {
    const req = mustRequest(sign(vectors.requests.valid[0]!.template));
    const fb = buildJobFeedback(
      req,
      { status: "payment-required", amount: { msats: 7, bolt11: "lnbcrt70p1qq" } },
      provider,
    );
    expect(fb.ok && fb.value.tags[0]).toEqual(["status", "payment-required"]);
  });
});

describe("result vectors and verifyResultFor", () => {
  for (const v of vectors.results.invalid) {
    it(`rejects: ${v.name}`, () => {
      const r = parseJobResult(sign({ kind: v.kind, content: "", tags: v.tags }, provider));
      expect(r).toMatchObject({ ok: false, error: { path: v.path } });
      if (!r.ok) expect(r.error.message).toContain(v.message);
    });
  }

  const request = sign(vectors.requests.valid[0]!.template);
  const req = mustRequest(request);
  const content = JSON.stringify({ ok: true, summary: "ok", exitCode: 0 });
  const honest = buildJobResult(req, { content }, provider, NOW);
  if (!honest.ok) throw new Error(honest.error.message);

  it("accepts the honest result", () => {
    expect(verifyResultFor(request, honest.value, providerPk)).toMatchObject({
      ok: true,
      value: { provider: providerPk, requestId: request.id, content, request: { id: request.id } },
    });
  });

  it("rejects a result signed by another key (copied tags and content)", () => {
    const forged = finalizeEvent(
      { kind: honest.value.kind, tags: honest.value.tags, content, created_at: NOW },
      other,
    );
    expect(verifyResultFor(request, forged, providerPk)).toMatchObject({
      ok: false,
      error: { code: "forbidden", path: "pubkey" },
    });
    // Even without an expected provider: the request was addressed (p tag) to `provider` only.
    expect(verifyResultFor(request, forged)).toMatchObject({
      ok: false,
      error: { code: "forbidden", path: "pubkey" },
    });
  });

  it("rejects a genuine result replayed from another job", () => {
    const second = sign({ ...vectors.requests.valid[0]!.template, content: "another job" });
    expect(verifyResultFor(second, honest.value, providerPk)).toMatchObject({
      ok: false,
      error: { code: "forbidden", path: "tags" },
    });
  });

  it("rejects a result for another customer, another kind, a bad signature", () => {
    const theirs = sign(vectors.requests.valid[0]!.template, other);
    const forTheirs = buildJobResult(mustRequest(theirs), { content }, provider, NOW);
    if (!forTheirs.ok) throw new Error(forTheirs.error.message);
    // Same e tag as ours but addressed to the other customer: re-signed by the provider.
    const wrongP = finalizeEvent(
      {
        kind: 6932,
        tags: [
          ["e", request.id],
          ["p", getPublicKey(other)],
        ],
        content,
        created_at: NOW,
      },
      provider,
    );
    expect(verifyResultFor(request, wrongP, providerPk)).toMatchObject({
      ok: false,
      error: { path: "tags" },
    });
    const wrongKind = finalizeEvent(
      {
        kind: 6933,
        tags: [
          ["e", request.id],
          ["p", req.customer],
        ],
        content,
        created_at: NOW,
      },
      provider,
    );
    expect(verifyResultFor(request, wrongKind, providerPk)).toMatchObject({
      ok: false,
      error: { path: "kind" },
    });
    const tampered = { ...honest.value, content: JSON.stringify({ ok: true, summary: "evil", exitCode: 0 }) };
    expect(verifyResultFor(request, tampered, providerPk)).toMatchObject({
      ok: false,
      error: { path: "sig" },
    });
    const embeddedMismatch = finalizeEvent(
      {
        kind: 6932,
        tags: [
          ["request", JSON.stringify(theirs)],
          ["e", request.id],
          ["p", req.customer],
        ],
        content,
        created_at: NOW,
      },
      provider,
    );
    expect(verifyResultFor(request, embeddedMismatch, providerPk)).toMatchObject({
      ok: false,
      error: { path: "tags[0][1]" },
    });
  });
});

describe("cancellation", () => {
  const request = sign(vectors.requests.valid[0]!.template);
  const req = mustRequest(request);
  it("customer's kind 5 deletion cancels; anyone else's does not", () => {
    const del = buildJobCancellation(req, customer, "changed my mind");
    if (!del.ok) throw new Error(del.error.message);
    expect(del.value).toMatchObject({
      kind: 5,
      tags: [
        ["e", request.id],
        ["k", "5932"],
      ],
    });
    expect(isCancellationOf(del.value, req)).toBe(true);
    expect(buildJobCancellation(req, other)).toMatchObject({ ok: false, error: { code: "forbidden" } });
    const foreign = finalizeEvent(
      { kind: 5, tags: [["e", request.id]], content: "", created_at: NOW },
      other,
    );
    expect(isCancellationOf(foreign, req)).toBe(false);
    expect(isCancellationOf({ ...del.value, tags: [["e", "00".repeat(32)]] }, req)).toBe(false);
  });
});

describe("encryption", () => {
  it("NIP-44 v2 spec vector", () => {
    for (const v of vectors.nip44) {
      const key = nip44.getConversationKey(hexToBytes(v.sec1), getPublicKey(hexToBytes(v.sec2)));
      expect(bytesToHex(key)).toBe(v.conversation_key);
      expect(nip44.encrypt(v.plaintext, key, hexToBytes(v.nonce))).toBe(v.payload);
      expect(detectScheme(v.payload)).toBe("nip44");
      expect(decryptFrom(hexToBytes(v.sec2), getPublicKey(hexToBytes(v.sec1)), v.payload)).toEqual({
        ok: true,
        value: { scheme: "nip44", plaintext: v.plaintext },
      });
    }
  });
  it("round trips both schemes and reports bad payloads as errors", () => {
    const a = generateSecretKey();
    const b = generateSecretKey();
    for (const scheme of ["nip44", "nip04"] as const) {
      const payload = encryptFor(scheme, a, getPublicKey(b), "héllo ⚡");
      expect(detectScheme(payload)).toBe(scheme);
      expect(decryptFrom(b, getPublicKey(a), payload)).toEqual({
        ok: true,
        value: { scheme, plaintext: "héllo ⚡" },
      });
      const wrong = decryptFrom(generateSecretKey(), getPublicKey(a), payload);
      if (scheme === "nip44") expect(wrong).toMatchObject({ ok: false, error: { path: "content" } });
    }
    expect(decryptFrom(a, getPublicKey(b), "plain text")).toMatchObject({
      ok: false,
      error: { path: "content" },
    });
  });
});

describe("job types", () => {
  for (const v of vectors.resultContent.valid) {
    it(`result content valid: ${v.summary}`, () => {
      expect(parseJobResultContent(JSON.stringify(v))).toEqual({ ok: true, value: v });
    });
  }
  for (const v of vectors.resultContent.invalid) {
    it(`result content invalid at ${v.path}`, () => {
      const r = parseJobResultContent(v.value);
      expect(r).toMatchObject({ ok: false, error: { path: v.path } });
      if (!r.ok) expect(r.error.message).toContain(v.message);
    });
  }
  it("kinds default per ARCHITECTURE §4 and are configurable", () => {
    expect(resolveJobKinds()).toEqual({
      ok: true,
      value: { compute: 5930, code: 5932, analysis: 5933, docs: 5934 },
    });
    expect(resolveJobKinds(["code=5100"])).toMatchObject({ ok: true, value: { code: 5100 } });
    expect(resolveJobKinds(["code=5933"])).toMatchObject({
      ok: false,
      error: { message: expect.stringContaining("both use") },
    });
    expect(resolveJobKinds(["code=7000"])).toMatchObject({ ok: false, error: { path: "kind[0]" } });
    expect(resolveJobKinds(["paint=5100"])).toMatchObject({ ok: false, error: { path: "kind[0]" } });
  });
  it("coding jobs need their inputs", () => {
    const base = { params: [], sealed: false };
    expect(readCodingJob({ ...base, inputs: [{ value: "x", type: "text" }] }, "code")).toMatchObject({
      ok: false,
    });
    expect(readCodingJob({ ...base, inputs: [{ value: "echo", type: "text" }] }, "compute")).toMatchObject({
      ok: true,
    });
    expect(
      readCodingJob(
        { inputs: [{ value: "x", type: "text" }], params: [{ name: "agent", value: "gpt" }], sealed: false },
        "compute",
      ),
    ).toMatchObject({ ok: false, error: { path: "params.agent" } });
    expect(readCodingJob({ ...base, inputs: [], sealed: true }, "compute")).toMatchObject({ ok: false });
  });
});
