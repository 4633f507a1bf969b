#!/usr/bin/env node
// The `openagents` command. The sources are TypeScript run by Node's type stripping (Node ≥ 22.18);
// on an older Node (the machine's own), re-run with the project's Node 22 from the `node` npm package.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const require = createRequire(import.meta.url);
  let node;
  try {
    node = require.resolve("node/bin/node");
  } catch {
    console.error(
      `openagents needs Node ≥ 22.18 (this is ${process.version}); run the README's set-up first.`,
    );
    process.exit(1);
  }
  const r = spawnSync(node, process.argv.slice(1), { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
const { runCli } = await import("../src/main.ts");
// Exit explicitly: the sandbox runtime keeps process-wide proxies alive after the last task, and a
// finished command must not linger. stdout/stderr writes are synchronous on Linux pipes and TTYs.
process.exit(await runCli(process.argv.slice(2)));
