export * from "./error-codes.ts";
export * from "./result.ts";
export * from "./run-event.ts";
export * from "./task.ts";
