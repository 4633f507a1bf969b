export * from "./container-env.ts";
export * from "./container-host.ts";
export * from "./host-server.ts";
