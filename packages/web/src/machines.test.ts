import { describe, expect, it } from "vitest";
import {
  heartbeatLabel,
  isLive,
  loadFraction,
  loadLabel,
  machineChoices,
  machineStatus,
  reposLabel,
  STALE_AFTER_MS,
} from "./machines.ts";

const NOW = Date.parse("2025-06-01T12:00:00Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();

describe("machine freshness", () => {
  it("is live only with a socket and a heartbeat within the stale window", () => {
    expect(isLive({ connected: true, lastSeen: ago(1000) }, NOW)).toBe(true);
    expect(isLive({ connected: true, lastSeen: ago(STALE_AFTER_MS) }, NOW)).toBe(true);
    expect(isLive({ connected: true, lastSeen: ago(STALE_AFTER_MS + 1) }, NOW)).toBe(false);
    expect(isLive({ connected: false, lastSeen: ago(1000) }, NOW)).toBe(false);
    expect(isLive({ connected: true, lastSeen: null }, NOW)).toBe(false);
    expect(isLive({ connected: true, lastSeen: "garbage" }, NOW)).toBe(false);
  });

  it("names each state and its tone", () => {
    const base = { connectedAt: ago(60_000), disconnectedAt: null };
    expect(machineStatus({ ...base, connected: true, lastSeen: ago(2000) }, NOW)).toEqual({
      state: "connected",
      label: "Connected",
      tone: "good",
    });
    expect(machineStatus({ ...base, connected: true, lastSeen: ago(120_000) }, NOW).label).toBe(
      "Not responding",
    );
    expect(
      machineStatus({ ...base, connected: false, lastSeen: ago(5000), disconnectedAt: ago(4000) }, NOW).state,
    ).toBe("disconnected");
    expect(
      machineStatus({ connected: false, lastSeen: null, connectedAt: null, disconnectedAt: null }, NOW).label,
    ).toBe("Never connected");
  });

  it("says when the machine was last heard from", () => {
    const base = { connectedAt: ago(60_000) };
    expect(heartbeatLabel({ ...base, connected: true, lastSeen: ago(3000), disconnectedAt: null }, NOW)).toBe(
      "Last heartbeat just now",
    );
    expect(
      heartbeatLabel(
        { ...base, connected: false, lastSeen: ago(700_000), disconnectedAt: ago(600_000) },
        NOW,
      ),
    ).toBe("Disconnected 10 min ago");
    expect(
      heartbeatLabel({ connected: false, lastSeen: null, connectedAt: null, disconnectedAt: null }, NOW),
    ).toMatch(/openagents connect/);
  });
});

describe("machine load", () => {
  it("formats running over capacity", () => {
    expect(loadLabel({ running: 0, maxTasks: 4 })).toBe("idle (4 slots)");
    expect(loadLabel({ running: 0, maxTasks: 1 })).toBe("idle (1 slot)");
    expect(loadLabel({ running: 3, maxTasks: 4 })).toBe("3 of 4 tasks");
    expect(loadLabel({ running: 0, maxTasks: null })).toBe("—");
    expect(loadFraction({ running: 3, maxTasks: 4 })).toBe(0.75);
    expect(loadFraction({ running: 9, maxTasks: 4 })).toBe(1);
    expect(loadFraction({ running: 1, maxTasks: null })).toBe(0);
  });

  it("names the repository policy", () => {
    expect(reposLabel(["**"])).toBe("any repository");
    expect(reposLabel(["https://github.com/me/*", "/srv/*"])).toBe("https://github.com/me/*, /srv/*");
    expect(reposLabel([])).toBe("—");
  });

  it("offers only live, named machines, once each, sorted", () => {
    const live = { connected: true, lastSeen: ago(1000) };
    expect(
      machineChoices(
        [
          { ...live, name: "zeta" },
          { ...live, name: "alpha" },
          { ...live, name: "alpha" },
          { ...live, name: null },
          { connected: false, lastSeen: ago(1000), name: "gone" },
          { connected: true, lastSeen: ago(STALE_AFTER_MS * 2), name: "silent" },
        ],
        NOW,
      ),
    ).toEqual(["alpha", "zeta"]);
  });
});
