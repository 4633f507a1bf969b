import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const here = import.meta.dirname;

/**
 * The edge's tests run inside workerd (the Worker, its Durable Objects and D1, as deployed),
 * against a local container host started by the Node-side global setup.
 * Run: `cd /work/main && vitest run --config packages/edge/vitest.config.ts`.
 */
export default defineConfig({
  root: here,
  plugins: [
    cloudflareTest(({ inject }) => {
      const host = inject("containerHost");
      return {
        wrangler: { configPath: `${here}/wrangler.jsonc` },
        miniflare: {
          bindings: {
            LOCAL_TOKEN: "local-test-token-0123456789",
            LOCAL_CONTAINER_HOST: host.url,
            LOCAL_CONTAINER_HOST_TOKEN: host.token,
            STOP_GRACE: "1s",
          },
        },
      };
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
  },
});
