import type { User } from "./db/users.ts";
import type { Env } from "./env.ts";

/** Hono's typing of this app: the Worker's bindings and what the auth middleware sets. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    user: User;
    /** How the request authenticated. */
    via: "token" | "session";
  };
}
