import { describe, expect, it } from "vitest";
import { MAX_KEY_CHARS, validateKeyForm } from "./key-form.ts";

describe("validateKeyForm", () => {
  it("trims a pasted key and leaves an empty label out", () => {
    const r = validateKeyForm({ provider: "anthropic", key: "  sk-ant-api03-abcdef\n", label: " " });
    expect(r.errors).toEqual({});
    expect(r.body).toEqual({ provider: "anthropic", key: "sk-ant-api03-abcdef" });
    expect(r.warning).toBeUndefined();
  });

  it("keeps a label", () => {
    expect(validateKeyForm({ provider: "openai", key: "sk-proj-12345678", label: " work " }).body).toEqual({
      provider: "openai",
      key: "sk-proj-12345678",
      label: "work",
    });
  });

  it("refuses what the edge would refuse, without quoting the key", () => {
    const secret = "sk-ant with space";
    const cases: Array<[string, RegExp]> = [
      ["", /Paste/],
      ["short", /8 to 512/],
      [secret, /spaces/],
      ["sk-ant-é-unicode", /characters/],
      ["x".repeat(MAX_KEY_CHARS + 1), /8 to 512/],
    ];
    for (const [key, message] of cases) {
      const r = validateKeyForm({ provider: "anthropic", key, label: "" });
      expect(r.body, key).toBeUndefined();
      expect(r.errors.key, key).toMatch(message);
      if (key.length > 0) expect(r.errors.key).not.toContain(key);
    }
    expect(
      validateKeyForm({ provider: "anthropic", key: "sk-ant-12345678", label: "l".repeat(81) }).errors,
    ).toEqual({ label: "At most 80 characters" });
    expect(
      validateKeyForm({ provider: "gemini" as "openai", key: "sk-ant-12345678", label: "" }).errors.provider,
    ).toBeDefined();
  });

  it("warns when the key does not look like the chosen provider's", () => {
    expect(validateKeyForm({ provider: "openai", key: "sk-ant-api03-abcdef", label: "" }).warning).toMatch(
      /OpenAI/,
    );
    expect(validateKeyForm({ provider: "anthropic", key: "sk-proj-abcdefgh", label: "" }).warning).toMatch(
      /Anthropic/,
    );
  });
});
