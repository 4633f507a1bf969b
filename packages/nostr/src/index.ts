export * from "./encryption.ts";
export * from "./event.ts";
export * from "./job-types.ts";
export * from "./nip47.ts";
export * from "./nip89.ts";
export * from "./nip90.ts";
export * from "./nip90-responses.ts";
export * from "./relay-pool.ts";
