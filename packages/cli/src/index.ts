export * from "./command.ts";
export { runCli } from "./main.ts";
