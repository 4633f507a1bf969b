import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { GITHUB_TEST_CLIENT_ID, GITHUB_TEST_CLIENT_SECRET } from "./test/support/scripted-github.ts";

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
            // Keys, egress and credits (test/keys*.test.ts, test/credits*.test.ts): a scripted provider API.
            PLATFORM_SECRET: "t1:edge-test-platform-secret-0123456789abcdef",
            ANTHROPIC_UPSTREAM: inject("keysUpstream"),
            OPENAI_UPSTREAM: `${inject("keysUpstream")}/v1`,
            PLATFORM_ANTHROPIC_KEY: "sk-ant-good-platform-key-0123456789",
            // No EGRESS_URL: the containers' runners must reach it over real HTTP, and the Worker under test
            // has no address they can reach; their model egress is the host's (the global setup's scripted
            // API). The egress tests pass their own EGRESS_URL to openEgress and call /egress through SELF.
            // Tunnel (test/tunnel*.test.ts): short timers so waiting, grace and heartbeats are testable.
            TUNNEL_QUEUE_TIMEOUT: "3s",
            TUNNEL_GRACE: "5s",
            TUNNEL_HEARTBEAT: "2s",
            // Lightning purchases (test/credits-lightning.test.ts): the NIP-47 wallet double on a real relay.
            PLATFORM_NWC_URI: inject("nwc").uri,
            SATS_PER_USD: "1000",
            // GitHub sign-in (test/github-auth.test.ts): a scripted GitHub on loopback (OAuth and REST API).
            GITHUB_CLIENT_ID: GITHUB_TEST_CLIENT_ID,
            GITHUB_CLIENT_SECRET: GITHUB_TEST_CLIENT_SECRET,
            GITHUB_OAUTH_URL: inject("github"),
            GITHUB_API_URL: inject("github"),
            GITHUB_GIT_URL: inject("github"),
            PUBLIC_URL: "http://edge.test",
          },
        },
      };
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: [
      "test/support/global-setup.ts",
      "test/support/keys-upstream.ts",
      "test/support/tunnel-launcher.ts",
      "test/support/nwc-setup.ts",
      "test/support/scripted-github.ts",
    ],
    testTimeout: 30_000,
    // The teardown stops every container (runner process trees, SIGTERM then SIGKILL); vitest's 10 s
    // default can cut it short under load and leave runners behind.
    teardownTimeout: 60_000,
  },
});
