export * from "./job-history.ts";
export * from "./submit.ts";
