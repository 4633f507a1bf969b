import { env } from "cloudflare:workers";
import type { RunEvent } from "@openagents/protocol";
import { describe, expect, it } from "vitest";
import { CONTAINER_NAME_HEADER } from "../src/container-do.ts";
import { newUser, shellTask } from "./worker-helpers.ts";

const boxOf = (userId: string) => env.CONTAINER.get(env.CONTAINER.idFromName(userId));

/** Opens the runner's events WebSocket through the ContainerDO and collects it until it closes. */
async function readRunnerSocket(userId: string, runnerTaskId: string, after: number) {
  const res = await boxOf(userId).fetch(`http://runner/tasks/${runnerTaskId}/events?after=${after}`, {
    headers: { upgrade: "websocket", [CONTAINER_NAME_HEADER]: userId },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const events: RunEvent[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }));
  });
  let wake = () => {};
  ws.addEventListener("message", (e) => {
    events.push(JSON.parse(e.data as string) as RunEvent);
    wake();
  });
  ws.accept();
  /** Resolves once an event matches. */
  const until = async (match: (e: RunEvent) => boolean) => {
    while (!events.some(match)) await new Promise<void>((resolve) => (wake = resolve));
  };
  return { events, closed, until };
}

describe("ContainerDO forwards HTTP and WebSocket to the real runner", () => {
  it("relays the runner's events WebSocket (from the start and resumed), and counts it as activity", async () => {
    const { user } = await newUser();
    const box = boxOf(user.id);
    const submitted = await box.fetch("http://runner/tasks", {
      method: "POST",
      headers: { "content-type": "application/json", [CONTAINER_NAME_HEADER]: user.id },
      body: JSON.stringify(shellTask("echo ws-one; sleep 2; echo ws-two")),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(201);
    const { id } = (await submitted.json()) as { id: string };

    const live = await readRunnerSocket(user.id, id, 0);
    // While the socket is open (the script sleeps between its lines) the container is busy: it must
    // not go to sleep.
    await live.until((e) => e.type === "log" && e.text === "ws-one");
    expect((await box.status()).inflight).toBeGreaterThan(0);
    expect(await live.closed).toMatchObject({ code: 1000 });
    const all = live.events;
    // The runner's own stream: its seqs from 1 without gaps, ending with its result.
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.flatMap((e) => (e.type === "log" && e.stream === "stdout" ? [e.text] : []))).toEqual([
      "ws-one",
      "ws-two",
    ]);
    expect(all.at(-1)).toMatchObject({ type: "result", ok: true, exitCode: 0 });

    const tail = await readRunnerSocket(user.id, id, all.length - 2);
    await tail.closed;
    expect(tail.events).toEqual(all.slice(-2));
    expect((await box.status()).inflight).toBe(0);
  });

  it("an upgrade for a task the runner does not know is the runner's 404, not a socket", async () => {
    const { user } = await newUser();
    const box = boxOf(user.id);
    expect(await box.ensureRunner(user.id)).toMatchObject({ ok: true });
    const res = await box.fetch("http://runner/tasks/t_nope/events", {
      headers: { upgrade: "websocket", [CONTAINER_NAME_HEADER]: user.id },
    });
    expect(res.status).toBe(404);
    expect(res.webSocket).toBeFalsy();
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
    expect((await box.status()).inflight).toBe(0);
  });
});
