import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { describe, expect, it } from "vitest";
import { nowSec } from "../event.ts";
import { DEFAULT_JOB_KINDS } from "../job-types.ts";
import { type AdmissionPolicy, admit, repoAllowed } from "./admission.ts";

const provider = generateSecretKey();
const customer = generateSecretKey();
const policy: AdmissionPolicy = {
  secretKey: provider,
  skills: ["compute", "code"],
  kinds: { ...DEFAULT_JOB_KINDS },
  prices: { code: 1_000 },
  allowRepo: [],
  maxAgeSec: 600,
};
const request = (tags: string[][], kind = 5930, createdAt = nowSec()) =>
  finalizeEvent({ kind, tags, content: "", created_at: createdAt }, customer);

describe("admit", () => {
  it("accepts a well-formed job with its price", () => {
    const a = admit(
      request(
        [
          ["i", "https://git.example/app.git", "url"],
          ["i", "fix it", "text"],
        ],
        5932,
      ),
      policy,
    );
    expect(a).toMatchObject({
      action: "accept",
      skill: "code",
      priceMsats: 1_000,
      job: { instructions: "fix it" },
    });
  });

  it("ignores garbage of every field type without throwing", () => {
    const good = request([["i", "echo", "text"]]);
    const variants: unknown[] = [
      null,
      42,
      "event",
      [],
      {},
      { ...good, id: 1 },
      { ...good, pubkey: null },
      { ...good, sig: "zz" },
      { ...good, kind: "5930" },
      { ...good, kind: 5930.5 },
      { ...good, created_at: -1 },
      { ...good, created_at: "now" },
      { ...good, content: { a: 1 } },
      { ...good, tags: "i" },
      { ...good, tags: [["i", 5, "text"]] },
      { ...good, tags: [[]] },
      { ...good, tags: [null] },
      { ...good, content: "tampered" },
    ];
    for (const v of variants) expect(admit(v, policy).action).toBe("ignore");
  });

  it("refuses a signed but malformed request for us, with the reason", () => {
    const a = admit(request([["i", "x", "bogus"]]), policy);
    expect(a).toMatchObject({ action: "refuse", reason: expect.stringMatching(/input type/) });
  });

  it("ignores stale, future, expired, unoffered and other providers' requests", () => {
    const tags = [["i", "echo", "text"]];
    expect(admit(request(tags, 5930, nowSec() - 3_600), policy).action).toBe("ignore");
    expect(admit(request(tags, 5930, nowSec() + 3_600), policy).action).toBe("ignore");
    expect(admit(request([...tags, ["expiration", String(nowSec() - 1)]]), policy).action).toBe("ignore");
    expect(admit(request(tags, 5933), policy).action).toBe("ignore");
    const other = getPublicKey(generateSecretKey());
    expect(admit(request([...tags, ["p", other]]), policy)).toMatchObject({
      reason: "addressed to another provider",
    });
  });

  it("refuses a bid below the price and agents on compute jobs", () => {
    const code = [
      ["i", "https://git.example/app.git", "url"],
      ["i", "fix", "text"],
    ];
    expect(admit(request([...code, ["bid", "999"]], 5932), policy)).toMatchObject({ action: "refuse" });
    expect(
      admit(
        request([
          ["i", "echo", "text"],
          ["param", "agent", "codex"],
        ]),
        policy,
      ),
    ).toMatchObject({
      action: "refuse",
    });
  });
});

describe("repoAllowed", () => {
  it("allows remote URLs by default and local ones only when listed", () => {
    expect(repoAllowed("https://github.com/a/b", []).ok).toBe(true);
    expect(repoAllowed("file:///srv/repos/a.git", []).ok).toBe(false);
    expect(repoAllowed("/srv/repos/a.git", []).ok).toBe(false);
    expect(repoAllowed("file:///srv/repos/a.git", ["file:///srv/repos/**"]).ok).toBe(true);
    expect(repoAllowed("file:///srv/repos/../../etc", ["file:///srv/repos/**"]).ok).toBe(false);
    expect(repoAllowed("https://github.com/acme/app", ["https://github.com/acme/*"]).ok).toBe(true);
    expect(repoAllowed("https://github.com/evil/app", ["https://github.com/acme/*"]).ok).toBe(false);
    expect(repoAllowed("https://github.com/acme/app/x", ["https://github.com/acme/*"]).ok).toBe(false);
  });
});
