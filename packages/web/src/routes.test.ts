import { describe, expect, it } from "vitest";
import { parseRoute, routeHref, tokenFromHash } from "./routes.ts";

describe("routes", () => {
  it("parses and formats each page", () => {
    for (const r of [
      { page: "list" },
      { page: "new" },
      { page: "task", id: "t_0af3" },
      { page: "machines" },
      { page: "settings" },
    ] as const) {
      expect(parseRoute(routeHref(r))).toEqual(r);
    }
    expect(parseRoute("")).toEqual({ page: "list" });
    expect(parseRoute("#/tasks/a%2Fb")).toEqual({ page: "list" });
    expect(parseRoute("#/nope")).toEqual({ page: "list" });
  });

  it("reads a login token from the hash", () => {
    expect(tokenFromHash("#token=oa_abc")).toBe("oa_abc");
    expect(tokenFromHash("#/token=oa_abc")).toBe("oa_abc");
    expect(tokenFromHash("#/tasks/t_1")).toBeUndefined();
    expect(tokenFromHash("#token=")).toBeUndefined();
  });
});
