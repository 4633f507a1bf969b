// What the tunnel launcher (test/support/tunnel-launcher.ts) hands to the tests.
import "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** Base URL of the tunnel launcher, which runs real `openagents connect` processes. */
    tunnelLauncher: string;
    /** A directory the launched machines may allow with --allow-dir (for local repositories). */
    tunnelAllowDir: string;
  }
}
