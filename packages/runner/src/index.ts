export * from "./agent-adapter.ts";
export * from "./event-log.ts";
export * from "./process.ts";
export * from "./sandbox.ts";
export * from "./task-manager.ts";
export * from "./task-runner.ts";
export * from "./workspace.ts";
