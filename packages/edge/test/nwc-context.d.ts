// What the NWC setup (test/support/nwc-setup.ts) hands to the tests and the config.
import "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** The platform wallet double's NWC URI, and its control endpoint (`POST /settle/<hash>`). */
    nwc: { uri: string; control: string };
  }
}
