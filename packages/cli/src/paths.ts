import os from "node:os";
import path from "node:path";

/** `$XDG_CONFIG_HOME/openagents` (keys, tokens): private to the user. */
export const configDir = (env: NodeJS.ProcessEnv): string =>
  path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), ".config"), "openagents");

/** `$XDG_STATE_HOME/openagents` (task workspaces, databases, logs). */
export const stateDir = (env: NodeJS.ProcessEnv): string =>
  path.join(env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), ".local", "state"), "openagents");
