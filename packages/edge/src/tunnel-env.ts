import type { TunnelDO } from "./tunnel-do.ts";

/** The Worker's bindings and variables for "my machine" compute (`openagents connect`). */
export interface TunnelEnv {
  /** One TunnelDO per user (named by user id): the user's connected machines and their tasks. */
  TUNNEL: DurableObjectNamespace<TunnelDO>;
  /** How long a `compute: "tunnel"` task waits for a machine before it fails, e.g. "10m" (default). */
  TUNNEL_QUEUE_TIMEOUT?: string;
  /** How long a machine may stay disconnected before its running tasks fail, e.g. "2m" (default). */
  TUNNEL_GRACE?: string;
  /** Heartbeat interval both ways, e.g. "15s" (default); three missed beats close the connection. */
  TUNNEL_HEARTBEAT?: string;
}
