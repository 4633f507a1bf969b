import { describe, expect, it } from "vitest";
import { GITHUB_LOGIN_PATH, toGithubSignIn } from "./github-login.ts";

describe("toGithubSignIn", () => {
  it("offers the button only when the server says configured: true", () => {
    expect(toGithubSignIn({ configured: true, loginUrl: "/api/auth/github/login" })).toEqual({
      configured: true,
      loginUrl: "/api/auth/github/login",
    });
    for (const raw of [{ configured: false, loginUrl: "/x" }, { configured: "true" }, {}, null, "yes", []]) {
      expect(toGithubSignIn(raw).configured, JSON.stringify(raw)).toBe(false);
    }
  });

  it("follows only a path on this origin", () => {
    expect(toGithubSignIn({ configured: true, loginUrl: "/login/gh?x=1" }).loginUrl).toBe("/login/gh?x=1");
    for (const loginUrl of [
      "https://evil.example/",
      "//evil.example/x",
      "/\\evil.example",
      "javascript:1",
      5,
    ]) {
      expect(toGithubSignIn({ configured: true, loginUrl }).loginUrl, String(loginUrl)).toBe(
        GITHUB_LOGIN_PATH,
      );
    }
    expect(toGithubSignIn({ configured: true }).loginUrl).toBe(GITHUB_LOGIN_PATH);
  });
});
