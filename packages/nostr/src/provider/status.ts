import { nowSec } from "../event.ts";
import { DEFAULT_ANNOUNCE_TTL_SEC } from "../nip89.ts";
import type { JobState, JobStore } from "./job-store.ts";

/** What `openagents provider status --json` prints. */
export interface ProviderStatus {
  pubkey: string | null;
  relays: string[];
  /** `online` while the provider's last heartbeat is recent, `offline` after a clean stop, else `stale`. */
  status: "online" | "offline" | "stale" | "never-started";
  lastHeartbeat: number | null;
  jobs: Partial<Record<JobState, number>> & { total: number };
  earningsMsats: number;
  paidJobs: number;
  recent: Array<{
    id: string;
    kind: number;
    skill: string | null;
    state: JobState;
    priceMsats: number;
    paid: boolean;
    receivedAt: number;
    finishedAt: number | null;
    attempts: number;
    summary: string | null;
    error: string | null;
  }>;
}

/**
 * Summarises a provider's durable history: liveness, jobs by state, earnings, the latest jobs.
 *
 * @example
 * const s = providerStatus(JobStore.open(file));
 * console.log(`${s.status}: ${s.jobs.done ?? 0} done, ${s.earningsMsats} msats earned`);
 */
export function providerStatus(store: JobStore, recent = 10, now = nowSec()): ProviderStatus {
  const stats = store.stats();
  const heartbeat = store.getMeta("heartbeat");
  const last = heartbeat === undefined ? null : Number(heartbeat);
  const said = store.getMeta("status");
  const status: ProviderStatus["status"] =
    last === null
      ? "never-started"
      : said === "offline"
        ? "offline"
        : now - last <= DEFAULT_ANNOUNCE_TTL_SEC
          ? "online"
          : "stale";
  const relays = store.getMeta("relays");
  return {
    pubkey: store.getMeta("pubkey") ?? null,
    relays: relays ? (JSON.parse(relays) as string[]) : [],
    status,
    lastHeartbeat: last,
    jobs: { ...stats.byState, total: stats.total },
    earningsMsats: stats.earningsMsats,
    paidJobs: stats.paidJobs,
    recent: store.recent(recent).map((j) => ({
      id: j.id,
      kind: j.kind,
      skill: j.skill,
      state: j.state,
      priceMsats: j.priceMsats,
      paid: j.paidAt !== null,
      receivedAt: j.receivedAt,
      finishedAt: j.finishedAt,
      attempts: j.attempts,
      summary: j.summary,
      error: j.error,
    })),
  };
}
