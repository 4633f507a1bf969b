import { finalizeEvent, generateSecretKey } from "nostr-tools/pure";
import { describe, expect, it } from "vitest";
import { nowSec } from "../event.ts";
import { ResultDelivery } from "./job-delivery.ts";
import { JobStore } from "./job-store.ts";

const secretKey = generateSecretKey();
const result = finalizeEvent({ kind: 6930, tags: [], content: "{}", created_at: nowSec() }, secretKey);

function delivering(store: JobStore, id: string) {
  store.insert({
    id,
    kind: 5930,
    skill: "compute",
    customer: "c".repeat(64),
    request: "{}",
    state: "queued",
  });
  store.update(id, { state: "delivering", ok: true, resultEvent: JSON.stringify(result) });
}

describe("ResultDelivery", () => {
  it("retries until a relay takes the result, then marks the job done", async () => {
    const store = JobStore.open(":memory:");
    delivering(store, "a".repeat(64));
    let tries = 0;
    const delivery = new ResultDelivery({
      store,
      secretKey,
      stopping: () => false,
      publish: async () => ++tries >= 2,
      log: () => {},
    });
    await delivery.deliver("a".repeat(64));
    expect(tries).toBe(2);
    expect(store.get("a".repeat(64))?.state).toBe("done");
  });

  it("stop ends a retry wait at once: the delivery settles and the job stays delivering for a restart", async () => {
    const store = JobStore.open(":memory:");
    delivering(store, "b".repeat(64));
    let stopping = false;
    let tries = 0;
    const delivery = new ResultDelivery({
      store,
      secretKey,
      stopping: () => stopping,
      publish: async () => {
        tries++;
        return false;
      },
      log: () => {},
    });
    const pending = delivery.deliver("b".repeat(64), 5); // next wait: 10 s
    while (tries === 0) await new Promise((r) => setTimeout(r, 5));
    stopping = true;
    delivery.stop();
    const settled = await Promise.race([
      pending.then(() => "settled"),
      new Promise((r) => setTimeout(() => r("still waiting"), 2_000)),
    ]);
    expect(settled).toBe("settled");
    expect(tries).toBe(1);
    expect(store.get("b".repeat(64))?.state).toBe("delivering");
  });
});
