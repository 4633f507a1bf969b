/**
 * `openagents connect --url URL --token T …` in the tunnel mode, for the edge's tunnel tests: the
 * real command code (`runTunnel`), run as its own process by the tunnel launcher. (The CLI's
 * `connect` command will dispatch to the same function once both modes are merged.)
 */
import { parseArgs } from "node:util";
import type { ParsedOptions } from "../../../cli/src/command.ts";
import { runTunnel, TUNNEL_OPTIONS } from "../../../cli/src/commands/connect-tunnel.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: Object.fromEntries(
    TUNNEL_OPTIONS.map((o) => [o.name, { type: o.type, multiple: o.multiple ?? false }]),
  ),
  strict: true,
});
const controller = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => controller.abort());
const code = await runTunnel(values as ParsedOptions, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
  isTTY: false,
});
process.exit(code);
