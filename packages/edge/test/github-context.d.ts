// What the scripted GitHub (test/support/scripted-github.ts) hands to the tests and the config.
import "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** Base URL of the scripted GitHub: OAuth endpoints and REST API. */
    github: string;
  }
}
