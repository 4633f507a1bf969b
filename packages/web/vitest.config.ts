import { defineConfig } from "vitest/config";

// Unit tests of the app's pure logic run in Node (no DOM library is installed); test/e2e.test.ts drives
// the app in Chromium against the real local stack (`openagents up`, see test/local-stack.ts), which
// builds the app when its sources are newer than dist/.
export default defineConfig({
  root: import.meta.dirname,
  test: {
    name: "web",
    environment: "node",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
