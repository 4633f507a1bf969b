export * from "./event-buffer.ts";
export * from "./tunnel-link.ts";
export * from "./tunnel-machine.ts";
