import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
const here = "/work/main/packages/edge";
export default defineConfig({
  root: here,
  plugins: [
    cloudflareTest(({ inject }) => {
      const host = inject("containerHost");
      return {
        wrangler: { configPath: `${here}/wrangler.jsonc` },
        miniflare: { bindings: { LOCAL_TOKEN: "local-test-token-0123456789", LOCAL_CONTAINER_HOST: host.url, LOCAL_CONTAINER_HOST_TOKEN: host.token, STOP_GRACE: "1s" } },
      };
    }),
  ],
  test: {
    include: ["test/{task-flow,container-lifecycle,container-forwarding,follow-up,recreate-workspace,sse,event-log,ownership}.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
  },
});
