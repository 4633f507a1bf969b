import type { ContainerDO } from "./container-do.ts";
import type { GithubEnv } from "./github-env.ts";
import type { KeysCreditsEnv } from "./keys-credits-env.ts";
import type { TaskDO } from "./task-do.ts";
import type { TunnelEnv } from "./tunnel-env.ts";

/** The Worker's bindings (wrangler.jsonc) and the variables `openagents up` or a deploy sets. */
export interface Env extends KeysCreditsEnv, TunnelEnv, GithubEnv {
  DB: D1Database;
  TASK: DurableObjectNamespace<TaskDO>;
  CONTAINER: DurableObjectNamespace<ContainerDO>;
  /** The built web app (`packages/web/dist`); absent or empty until the web app is built. */
  ASSETS?: Fetcher;
  /** Local mode: the API token of the one local user, seeded on first use. Unset in production. */
  LOCAL_TOKEN?: string;
  /** Local mode: base URL of the local container host, e.g. `http://127.0.0.1:8790`. Empty in production. */
  LOCAL_CONTAINER_HOST?: string;
  /** Bearer token the local container host requires. */
  LOCAL_CONTAINER_HOST_TOKEN?: string;
  /** Idle time before a user's container is stopped, e.g. "10m", "30s". */
  SLEEP_AFTER?: string;
  /** Time between SIGTERM and SIGKILL when a container is stopped, e.g. "10s". */
  STOP_GRACE?: string;
}
