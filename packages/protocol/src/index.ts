export * from "./error-codes.ts";
export * from "./repo-pattern.ts";
export * from "./result.ts";
export * from "./run-event.ts";
export * from "./task.ts";
export * from "./tunnel-frames.ts";
