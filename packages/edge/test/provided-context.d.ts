// What the Node-side global setup (test/support/global-setup.ts) hands to the tests and the config.
import "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** URL and bearer token of the local container host the Worker's ContainerDOs use. */
    containerHost: { url: string; token: string };
    /** A bare git repository (absolute path), the `repo` of the tests' tasks. */
    repo: string;
  }
}
