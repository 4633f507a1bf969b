import { describe, expect, it } from "vitest";
import { repoAllowed, repoMatches } from "./repo-pattern.ts";
import {
  encodeFrame,
  FRAME_LIMITS,
  frameBytes,
  MAX_FRAME_BYTES,
  parseEdgeFrame,
  parseMachineFrame,
} from "./tunnel-frames.ts";

const event = (seq: number, text = `line ${seq}`) => ({
  seq,
  time: "2026-01-01T00:00:00.000Z",
  type: "log",
  stream: "stdout",
  text,
});
const hello = {
  type: "hello",
  version: 1,
  name: "laptop",
  agents: ["shell"],
  maxTasks: 2,
  allowRepos: ["https://github.com/me/*"],
  allowDirs: ["/home/me/src"],
  tasks: [{ taskId: "t_0123", lastSeq: 4, ended: false }],
};

const errorOf = (r: { ok: boolean; error?: { code: string; message: string; path?: string } }) => {
  if (r.ok) throw new Error("expected an error");
  return r.error!;
};

describe("machine frames", () => {
  it("accepts hello, heartbeat, events and error, and round-trips them through encodeFrame", () => {
    const frames = [
      hello,
      { type: "heartbeat", running: 1 },
      { type: "events", taskId: "t_1", events: [event(3), event(4)] },
      { type: "error", taskId: "t_1", code: "forbidden", message: "repo not allowed" },
    ];
    for (const f of frames) {
      const parsed = parseMachineFrame(JSON.stringify(f));
      expect(parsed).toEqual({ ok: true, value: f });
      const text = encodeFrame(parsed.ok ? parsed.value : (hello as never));
      expect(text.ok && JSON.parse(text.value)).toEqual(f);
    }
  });

  it("refuses malformed JSON, unknown types, unknown fields, bad events and gaps inside a frame", () => {
    expect(errorOf(parseMachineFrame("{not json"))).toMatchObject({ code: "invalid_request" });
    expect(errorOf(parseMachineFrame("[1]"))).toMatchObject({ code: "invalid_request" });
    expect(errorOf(parseMachineFrame('{"type":"assign"}'))).toMatchObject({ path: "type" });
    expect(errorOf(parseMachineFrame(JSON.stringify({ ...hello, admin: true })))).toMatchObject({
      path: "admin",
    });
    expect(errorOf(parseMachineFrame(JSON.stringify({ ...hello, version: 2 })))).toMatchObject({
      path: "version",
    });
    expect(errorOf(parseMachineFrame(JSON.stringify({ ...hello, maxTasks: 10_000 })))).toMatchObject({
      path: "maxTasks",
    });
    const badEvent = { type: "events", taskId: "t_1", events: [{ ...event(1), type: "nope" }] };
    expect(errorOf(parseMachineFrame(JSON.stringify(badEvent)))).toMatchObject({ path: "events[0].type" });
    const gap = { type: "events", taskId: "t_1", events: [event(1), event(3)] };
    expect(errorOf(parseMachineFrame(JSON.stringify(gap)))).toMatchObject({ path: "events[1].seq" });
    const badId = { type: "events", taskId: "../etc", events: [event(1)] };
    expect(errorOf(parseMachineFrame(JSON.stringify(badId)))).toMatchObject({ path: "taskId" });
  });

  it("enforces the size limits: whole frames and per type, counted in UTF-8 bytes", () => {
    const huge = JSON.stringify({
      type: "events",
      taskId: "t_1",
      events: [event(1, "x".repeat(MAX_FRAME_BYTES))],
    });
    expect(errorOf(parseMachineFrame(huge))).toMatchObject({ code: "payload_too_large" });
    const fatHeartbeat = JSON.stringify({ type: "heartbeat", pad: "x".repeat(FRAME_LIMITS.heartbeat) });
    expect(errorOf(parseMachineFrame(fatHeartbeat))).toMatchObject({ code: "payload_too_large" });
    // 3-byte characters: under the limit in UTF-16 units, over it in bytes.
    const wide = "€".repeat(Math.ceil(MAX_FRAME_BYTES / 3) + 10);
    expect(frameBytes(wide)).toBe(Buffer.byteLength(wide));
    expect(frameBytes("a😀é")).toBe(Buffer.byteLength("a😀é"));
    const wideFrame = {
      type: "events" as const,
      taskId: "t_1",
      events: [{ ...event(1), text: wide } as never],
    };
    expect(errorOf(encodeFrame(wideFrame))).toMatchObject({ code: "payload_too_large" });
  });
});

describe("edge frames", () => {
  it("accepts every edge frame and validates the assigned task", () => {
    const task = { repo: "https://github.com/me/app", agent: "shell", script: "echo hi" };
    const frames = [
      { type: "welcome", machine: "laptop", heartbeatMs: 5000, acks: [{ taskId: "t_1", seq: 3 }] },
      { type: "assign", taskId: "t_1", task },
      { type: "ack", taskId: "t_1", seq: 7 },
      { type: "cancel", taskId: "t_1" },
      { type: "follow-up", taskId: "t_1", prompt: "again" },
      { type: "release", taskId: "t_1", reason: "ended" },
      { type: "error", taskId: "t_1", code: "conflict", message: "out of order", seq: 2 },
      { type: "heartbeat" },
    ];
    for (const f of frames) expect(parseEdgeFrame(JSON.stringify(f))).toEqual({ ok: true, value: f });
    const badTask = { type: "assign", taskId: "t_1", task: { ...task, script: undefined } };
    expect(errorOf(parseEdgeFrame(JSON.stringify(badTask)))).toMatchObject({ path: "task.script" });
    expect(errorOf(parseEdgeFrame(JSON.stringify({ type: "hello" })))).toMatchObject({ path: "type" });
  });
});

describe("repo patterns", () => {
  it("matches globs per segment (*) and across segments (**), ignoring .git and trailing slashes", () => {
    expect(repoMatches("https://github.com/me/app.git", "https://github.com/me/*")).toBe(true);
    expect(repoMatches("https://github.com/me/app/", "https://github.com/me/app.git")).toBe(true);
    expect(repoMatches("https://github.com/me/group/app", "https://github.com/me/*")).toBe(false);
    expect(repoMatches("https://github.com/me/group/app", "https://github.com/me/**")).toBe(true);
    expect(repoMatches("https://github.com/mex/app", "https://github.com/me/*")).toBe(false);
    expect(repoMatches("https://githubXcom/me/app", "https://github.com/me/*")).toBe(false);
    expect(repoMatches("anything", "**")).toBe(true);
    expect(repoAllowed("https://a/b", [])).toBe(false);
    expect(repoAllowed("https://a/b", ["https://x/*", "https://a/?"])).toBe(true);
  });
});
