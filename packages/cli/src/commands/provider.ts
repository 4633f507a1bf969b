import { existsSync } from "node:fs";
import path from "node:path";
import { type Command, flag, intOption } from "../command.ts";
import { stateDir } from "../paths.ts";

/** `openagents provider status`: the NIP-90 provider's liveness, job counts, earnings and latest jobs. */
export const providerStatusCommand: Command = {
  path: ["provider", "status"],
  summary: "Show the NIP-90 provider's jobs and earnings (from its durable history)",
  options: [
    { name: "json", type: "boolean", description: "Print as JSON" },
    { name: "recent", type: "string", value: "N", description: "How many recent jobs to list (default 10)" },
  ],
  async handler(o, io) {
    const file = path.join(stateDir(io.env), "provider.sqlite");
    const { JobStore, providerStatus } = await import("@openagents/nostr/provider");
    if (!existsSync(file)) {
      if (flag(o, "json"))
        io.stdout.write(
          `${JSON.stringify({ status: "never-started", jobs: { total: 0 }, earningsMsats: 0 })}\n`,
        );
      else io.stdout.write("no provider has run here yet (openagents connect --nip90 …)\n");
      return 0;
    }
    const store = JobStore.open(file);
    try {
      const s = providerStatus(store, intOption(o, "recent", 0, 1_000) ?? 10);
      if (flag(o, "json")) {
        io.stdout.write(`${JSON.stringify(s)}\n`);
        return 0;
      }
      const { total, ...byState } = s.jobs;
      const counts = Object.entries(byState)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ");
      const lines = [
        `provider  ${s.pubkey ?? "?"} (${s.status}${s.lastHeartbeat ? `, last heartbeat ${new Date(s.lastHeartbeat * 1000).toISOString()}` : ""})`,
        `relays    ${s.relays.join(", ") || "-"}`,
        `jobs      ${total}${counts ? ` (${counts})` : ""}`,
        `earnings  ${s.earningsMsats} msats from ${s.paidJobs} paid job${s.paidJobs === 1 ? "" : "s"}`,
      ];
      if (s.recent.length) lines.push("recent:");
      for (const j of s.recent) {
        const note = j.error ?? j.summary ?? "";
        lines.push(
          `  ${j.id.slice(0, 12)}  ${(j.skill ?? "?").padEnd(8)} ${j.state.padEnd(16)} ${j.priceMsats} msats${j.paid ? " (paid)" : ""}  ${note.slice(0, 60)}`,
        );
      }
      io.stdout.write(`${lines.join("\n")}\n`);
      return 0;
    } finally {
      store.close();
    }
  },
};
