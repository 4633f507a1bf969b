export * from "./admission.ts";
export * from "./job-store.ts";
export * from "./job-task.ts";
export * from "./provider.ts";
export * from "./status.ts";
