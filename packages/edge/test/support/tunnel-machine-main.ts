/**
 * `openagents connect --url URL --token T …` (the tunnel mode) for the edge's tunnel tests: the real
 * CLI command, run in-process as its own process by the tunnel launcher with these arguments.
 */
import { runCli } from "../../../cli/src/main.ts";

process.exit(await runCli(["connect", ...process.argv.slice(2)]));
