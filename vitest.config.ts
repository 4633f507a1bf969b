import { defineConfig } from "vitest/config";

// One run for the whole repo: the Node packages here, the edge (inside workerd) in its own project.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "node",
          include: ["packages/{protocol,runner,cli,nostr}/**/*.test.ts", "scripts/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: "forks",
        },
      },
      "packages/*/vitest.config.ts",
    ],
  },
});
